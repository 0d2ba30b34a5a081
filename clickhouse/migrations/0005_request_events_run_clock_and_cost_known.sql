-- run_offset_s: when the request was meant to be sent, on the run's own clock: seconds of execution since the
-- run first started, the pauses between an interruption and its resume excluded. The measurement window
-- (warm-up, cool-down, throughput) is defined on this clock, so a resumed run is summarised exactly as if it
-- had never stopped. Rows written before this column existed read 0.
-- cost_known: false when neither the model's own prices nor litellm's price map priced the request; its
-- cost_usd is then 0 and must not be read as free.
ALTER TABLE request_events ADD COLUMN IF NOT EXISTS run_offset_s Float64 DEFAULT 0 CODEC(ZSTD(1)) AFTER in_window;
ALTER TABLE request_events ADD COLUMN IF NOT EXISTS cost_known Bool DEFAULT true AFTER cost_usd;
