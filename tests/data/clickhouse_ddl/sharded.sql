-- ClickHouse migrations rendered for cluster `benchlab`, sharded (benchlab migrate --print-clickhouse).
-- Nothing was applied. One statement per ';'.

-- migration history (schema_migrations)
CREATE DATABASE IF NOT EXISTS benchlab ON CLUSTER `benchlab`;
CREATE TABLE IF NOT EXISTS schema_migrations_local ON CLUSTER `benchlab` (
    version     UInt32,
    name        String,
    checksum    String,
    applied_at  DateTime64(3, 'UTC') DEFAULT now64(3),
    duration_ms Float64
) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/schema_migrations_local', '{replica}') ORDER BY version;
CREATE TABLE IF NOT EXISTS schema_migrations ON CLUSTER `benchlab` AS schema_migrations_local
ENGINE = Distributed('benchlab', currentDatabase(), 'schema_migrations_local', cityHash64(version));

-- 0001_request_events.sql
CREATE TABLE IF NOT EXISTS request_events_local ON CLUSTER `benchlab` (
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/request_events_local', '{replica}')
PARTITION BY toYYYYMM(ts)
ORDER BY (project_id, toStartOfHour(ts), run_id, model, event_id)
SETTINGS replicated_deduplication_window = 1000;
CREATE TABLE IF NOT EXISTS request_events ON CLUSTER `benchlab` AS request_events_local
ENGINE = Distributed('benchlab', currentDatabase(), 'request_events_local', cityHash64(project_id, run_id));

-- 0002_scores.sql
CREATE TABLE IF NOT EXISTS scores_local ON CLUSTER `benchlab` (
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/scores_local', '{replica}')
PARTITION BY toYYYYMM(ts)
ORDER BY (project_id, toStartOfHour(ts), run_id, evaluator, score_name, event_id)
SETTINGS replicated_deduplication_window = 1000;
CREATE TABLE IF NOT EXISTS scores ON CLUSTER `benchlab` AS scores_local
ENGINE = Distributed('benchlab', currentDatabase(), 'scores_local', cityHash64(project_id, run_id));

-- 0003_request_events_load_phase.sql
ALTER TABLE request_events_local ON CLUSTER `benchlab` ADD COLUMN IF NOT EXISTS load_phase LowCardinality(String) DEFAULT 'main' AFTER source;
ALTER TABLE request_events ON CLUSTER `benchlab` ADD COLUMN IF NOT EXISTS load_phase LowCardinality(String) DEFAULT 'main' AFTER source;

-- 0004_request_events_output.sql
ALTER TABLE request_events_local ON CLUSTER `benchlab` ADD COLUMN IF NOT EXISTS output String DEFAULT '' CODEC(ZSTD(3)) AFTER finish_reason;
ALTER TABLE request_events ON CLUSTER `benchlab` ADD COLUMN IF NOT EXISTS output String DEFAULT '' CODEC(ZSTD(3)) AFTER finish_reason;
ALTER TABLE request_events_local ON CLUSTER `benchlab` ADD COLUMN IF NOT EXISTS tool_calls String DEFAULT '' CODEC(ZSTD(3)) AFTER output;
ALTER TABLE request_events ON CLUSTER `benchlab` ADD COLUMN IF NOT EXISTS tool_calls String DEFAULT '' CODEC(ZSTD(3)) AFTER output;
ALTER TABLE request_events_local ON CLUSTER `benchlab` ADD COLUMN IF NOT EXISTS error_message String DEFAULT '' CODEC(ZSTD(3)) AFTER tool_calls;
ALTER TABLE request_events ON CLUSTER `benchlab` ADD COLUMN IF NOT EXISTS error_message String DEFAULT '' CODEC(ZSTD(3)) AFTER tool_calls;

-- 0005_request_events_run_clock_and_cost_known.sql
ALTER TABLE request_events_local ON CLUSTER `benchlab` ADD COLUMN IF NOT EXISTS run_offset_s Float64 DEFAULT 0 CODEC(ZSTD(1)) AFTER in_window;
ALTER TABLE request_events ON CLUSTER `benchlab` ADD COLUMN IF NOT EXISTS run_offset_s Float64 DEFAULT 0 CODEC(ZSTD(1)) AFTER in_window;
ALTER TABLE request_events_local ON CLUSTER `benchlab` ADD COLUMN IF NOT EXISTS cost_known Bool DEFAULT true AFTER cost_usd;
ALTER TABLE request_events ON CLUSTER `benchlab` ADD COLUMN IF NOT EXISTS cost_known Bool DEFAULT true AFTER cost_usd;

-- 0006_scores_per_pass.sql
DROP TABLE IF EXISTS scores ON CLUSTER `benchlab` SYNC;
DROP TABLE IF EXISTS scores_local ON CLUSTER `benchlab` SYNC;
CREATE TABLE scores_local ON CLUSTER `benchlab` (
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
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/{database}/scores_local', '{replica}')
PARTITION BY toYYYYMM(ts)
ORDER BY (project_id, run_id, pass_id, evaluator, score_name, event_id)
SETTINGS replicated_deduplication_window = 1000;
CREATE TABLE scores ON CLUSTER `benchlab` AS scores_local
ENGINE = Distributed('benchlab', currentDatabase(), 'scores_local', cityHash64(project_id, run_id));
