-- Sweeps run several load phases (synchronous, max throughput, then fixed rates) in one run; each phase's
-- numbers must stay apart, so the phase is part of every event. Single-phase runs write 'main'.
ALTER TABLE request_events ADD COLUMN IF NOT EXISTS load_phase LowCardinality(String) DEFAULT 'main' AFTER source;
