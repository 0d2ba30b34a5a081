-- One row per (request event, evaluator, score name). Judge calls record their own cost and latency.
-- Run, model and prompt identity are copied from the event so leaderboards need no join.

CREATE TABLE IF NOT EXISTS scores (
    project_id      UUID,
    run_id          UUID,
    experiment_id   UUID,
    event_id        UUID,
    ts              DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    model           LowCardinality(String),
    prompt_version  LowCardinality(String),
    params_hash     LowCardinality(String),
    evaluator       LowCardinality(String),
    score_name      LowCardinality(String),
    value           Float64,
    passed          Bool,
    label           LowCardinality(String),
    reason          String CODEC(ZSTD(3)),
    judge_cost_usd  Float64,
    judge_latency_ms Float32
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (project_id, toStartOfHour(ts), run_id, evaluator, score_name, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
