-- Schedules (issue 16): an experiment run on a cron schedule, each run gated against a baseline
-- (server/benchlab/schedules/, docs/schedules.md).
--
-- `next_due_at` is the next due time the cron expression gives (in its time zone), `next_fire_at` that time
-- plus the schedule's deterministic jitter: the scheduler of any replica claims a schedule once `next_fire_at`
-- has passed (`FOR UPDATE SKIP LOCKED`), starts its run and advances both in the same transaction.
CREATE TABLE schedules (
    id                uuid        PRIMARY KEY,                 -- minted by the caller: the jitter derives from it
    project_id        uuid        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    experiment_id     uuid        NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    cron              text        NOT NULL CHECK (length(cron) BETWEEN 1 AND 200),
    timezone          text        NOT NULL DEFAULT 'UTC',      -- an IANA zone name, e.g. Europe/Berlin
    jitter_seconds    integer     NOT NULL DEFAULT 0 CHECK (jitter_seconds BETWEEN 0 AND 3600),
    max_missed_runs   integer     NOT NULL DEFAULT 1 CHECK (max_missed_runs BETWEEN 0 AND 100),
    baseline          text        NOT NULL DEFAULT 'main',     -- a baseline name of the experiment or a run id
    paused            boolean     NOT NULL DEFAULT false,
    next_due_at       timestamptz NOT NULL,
    next_fire_at      timestamptz NOT NULL,
    last_run_id       uuid        REFERENCES runs (id) ON DELETE SET NULL,
    last_fired_at     timestamptz,
    fired_count       bigint      NOT NULL DEFAULT 0,          -- runs started
    skipped_count     bigint      NOT NULL DEFAULT 0,          -- missed due times beyond max_missed_runs
    start_errors      bigint      NOT NULL DEFAULT 0,          -- due times whose run could not be started
    failed_gates      bigint      NOT NULL DEFAULT 0,          -- scheduled runs whose gates failed
    created_by        text        NOT NULL,                    -- the audit log's actor
    updated_by        text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedules_due_idx ON schedules (next_fire_at) WHERE NOT paused;
CREATE INDEX schedules_experiment_idx ON schedules (experiment_id, created_at);

-- What a schedule did for each due time: started a run, skipped a range of missed due times (one row for the
-- range, `skipped_count` of them from `due_at` through `skipped_through`), or could not start the run.
-- The primary key makes a firing idempotent per (schedule, due time): two replicas, or a tick retried after a
-- lost commit, can never start two runs for one due time. A started run's gate outcome is settled here once
-- the run ends: passed | failed (gated against the schedule's baseline), not_gated (the run failed or was
-- cancelled, or it could not be gated: `note` says why).
CREATE TABLE schedule_firings (
    id              uuid        NOT NULL DEFAULT gen_random_uuid() UNIQUE,
    schedule_id     uuid        NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    due_at          timestamptz NOT NULL,
    fired_at        timestamptz NOT NULL,                      -- the scheduler clock when it acted
    outcome         text        NOT NULL CHECK (outcome IN ('started', 'skipped', 'error')),
    catch_up        boolean     NOT NULL DEFAULT false,        -- a missed due time run late (after a downtime)
    run_id          uuid        REFERENCES runs (id) ON DELETE SET NULL,
    skipped_through timestamptz,
    skipped_count   integer     NOT NULL DEFAULT 0,
    gate_status     text        CHECK (gate_status IN ('passed', 'failed', 'not_gated')),
    settled_at      timestamptz,                               -- when the gate outcome was recorded
    note            text,
    PRIMARY KEY (schedule_id, due_at)
);
CREATE INDEX schedule_firings_unsettled_idx ON schedule_firings (fired_at) WHERE outcome = 'started'
    AND settled_at IS NULL;
CREATE UNIQUE INDEX schedule_firings_run_key ON schedule_firings (run_id) WHERE run_id IS NOT NULL;
