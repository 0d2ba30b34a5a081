-- Scores, reshaped before their first write (0002's table was never written): one row per scoring pass x
-- request x evaluator x score name. A pass is one scoring of a run's stored responses (the run's own, or a
-- re-scoring with other evaluators); passes never overwrite each other, so old and new scores compare.
-- The request's identity (model, prompt version, parameter set, item, repetition, load phase) is copied onto
-- the row so summaries and leaderboards need no join. Judge calls record their own latency, tokens and cost
-- (0 for deterministic evaluators and for verdicts served from the cache, `cached`).
-- `label`: a category when there is one (win/tie/loss/inconsistent, judge_error, request_error, unknown);
-- `reference`: the item's human label for this evaluator (JSON, '' when none), for judge calibration;
-- `counterpart`: for pairwise scores, the model (or prompt version) this request was compared with.
DROP TABLE IF EXISTS scores;
CREATE TABLE scores (
    project_id      UUID,
    run_id          UUID,
    experiment_id   UUID,
    pass_id         UUID,
    event_id        UUID,
    ts              DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    item_id         String,
    repetition      UInt32,
    load_phase      LowCardinality(String),
    model           LowCardinality(String),
    prompt_version  LowCardinality(String),
    params_hash     LowCardinality(String),
    evaluator       LowCardinality(String),
    evaluator_type  LowCardinality(String),
    score_name      LowCardinality(String),
    weight          Float64,
    value           Float64,
    passed          Bool,
    label           LowCardinality(String),
    reason          String CODEC(ZSTD(3)),
    reference       String CODEC(ZSTD(3)),
    counterpart     LowCardinality(String),
    judge_model     LowCardinality(String),
    judge_cached    Bool,
    judge_prompt_tokens UInt32,
    judge_completion_tokens UInt32,
    judge_cost_usd  Float64,
    judge_latency_ms Float32
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (project_id, run_id, pass_id, evaluator, score_name, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
