-- One row per LLM request (experiment or ingested), written once in final form by whoever finished it.
-- Everything a dashboard filters on is flattened onto the row: no joins at query time.
-- Timing columns are milliseconds (Float32), defined in DESIGN.md §5; 0 where a metric does not apply
-- (e.g. TPOT with fewer than two tokens, TTFT of a failed request): no Nullable columns.
-- Sort key: project, then an hourly time bucket, then run and model, serving both query shapes
-- (one or a few runs; a project's time range grouped by model). event_id is deterministic per planned
-- request; identical retried batches are dropped by insert deduplication (non_replicated_deduplication_window).

CREATE TABLE IF NOT EXISTS request_events (
    project_id        UUID,
    run_id            UUID,
    experiment_id     UUID,
    event_id          UUID,
    item_id           String,
    repetition        UInt32,
    attempt           UInt8 DEFAULT 1,
    provider          LowCardinality(String),
    model             LowCardinality(String),
    prompt_version    LowCardinality(String),
    params_hash       LowCardinality(String),
    source            LowCardinality(String) DEFAULT 'experiment',
    ts                DateTime64(6, 'UTC') CODEC(Delta, ZSTD(1)),
    in_window         Bool DEFAULT true,
    first_on_connection Bool DEFAULT false,
    queue_delay_ms    Float32 CODEC(ZSTD(1)),
    ttft_ms           Float32 CODEC(ZSTD(1)),
    ttfot_ms          Float32 CODEC(ZSTD(1)),
    e2e_ms            Float32 CODEC(ZSTD(1)),
    e2e_from_intended_ms Float32 CODEC(ZSTD(1)),
    stream_end_ms     Float32 CODEC(ZSTD(1)),
    tpot_ms           Float32 CODEC(ZSTD(1)),
    inter_event_ms    Array(Float32) CODEC(ZSTD(1)),
    tokens_per_event  Array(UInt16) CODEC(ZSTD(1)),
    prompt_tokens     UInt32,
    completion_tokens UInt32,
    reasoning_tokens  UInt32,
    cached_tokens     UInt32,
    tokens_estimated  Bool,
    cost_usd          Float64,
    status            LowCardinality(String),
    error_type        LowCardinality(String),
    http_status       UInt16,
    finish_reason     LowCardinality(String)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(ts)
ORDER BY (project_id, toStartOfHour(ts), run_id, model, event_id)
SETTINGS non_replicated_deduplication_window = 1000;
