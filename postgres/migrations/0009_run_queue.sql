-- The run queue (issue 14): runs wait in pgqueuer's job table (installed by the migration step after these
-- files, through pgqueuer's own installer), executed by `benchlab worker` processes.
-- `claim` is the fencing token: every time a worker takes the run (first start, or after the worker before it
-- stopped heartbeating) it is incremented, and every write of the executing worker is guarded by its number,
-- so a presumed-dead worker that wakes up cannot change a run another worker has resumed.
-- `queued_at` orders the waiting runs (their position in the queue); `queue_job_id` is the run's pgqueuer job.
ALTER TABLE runs ADD COLUMN claim integer NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN queued_at timestamptz;
ALTER TABLE runs ADD COLUMN queue_job_id bigint;
CREATE INDEX runs_queued_idx ON runs (queued_at) WHERE status = 'queued';
