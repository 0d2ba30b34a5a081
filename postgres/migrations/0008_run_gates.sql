-- The outcome of a run's quality gates (issue 12), part of the run so dashboards and the API show it:
-- `gate_status` passed | failed (NULL: never gated), the whole report (every gate x group with its numbers,
-- flaky items, the baseline compared with) and when it was evaluated. Gating again replaces them.
ALTER TABLE runs ADD COLUMN gate_status text CHECK (gate_status IN ('passed', 'failed'));
ALTER TABLE runs ADD COLUMN gate_report jsonb;
ALTER TABLE runs ADD COLUMN gated_at timestamptz;
