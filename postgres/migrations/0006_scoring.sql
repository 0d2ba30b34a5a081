-- Scoring passes: each scoring of a run's stored responses (automatic after the run's measurement, or a
-- re-scoring by `benchlab eval` / scoreRun). Its score rows are in ClickHouse `scores` under its id.
CREATE TABLE scoring_passes (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    project_id      uuid        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    run_id          uuid        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    status          text        NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'completed', 'failed')),
    evaluators      jsonb       NOT NULL,        -- the evaluators, judges and evaluation settings scored with
    trigger         text        NOT NULL,        -- run | cli | api
    total_requests  integer     NOT NULL DEFAULT 0,
    scored_requests integer     NOT NULL DEFAULT 0,
    judge_calls     integer     NOT NULL DEFAULT 0,
    judge_cached    integer     NOT NULL DEFAULT 0,
    judge_errors    integer     NOT NULL DEFAULT 0,
    judge_cost_usd  double precision NOT NULL DEFAULT 0,
    summary         jsonb,                       -- per evaluator and group, pairwise, calibration
    error           text,
    created_by      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz
);
CREATE INDEX scoring_passes_run_idx ON scoring_passes (run_id, created_at DESC);

-- Judge verdicts by a hash of (judge model, judge params, the exact messages sent): a second pass over the
-- same responses asks no judge twice. The raw answer is kept, so a changed threshold re-reads it.
CREATE TABLE judge_verdicts (
    project_id        uuid        NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    cache_key         text        NOT NULL,
    judge_model       text        NOT NULL,
    answer            text        NOT NULL,
    prompt_tokens     integer     NOT NULL,
    completion_tokens integer     NOT NULL,
    cost_usd          double precision,
    latency_ms        double precision NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, cache_key)
);
