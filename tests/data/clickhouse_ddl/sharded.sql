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

-- 0007_request_rollups.sql
CREATE TABLE IF NOT EXISTS request_rollup_minute_local ON CLUSTER `benchlab` (
    project_id     UUID,
    minute         DateTime('UTC'),
    model          LowCardinality(String),
    in_window      Bool,
    requests       SimpleAggregateFunction(sum, UInt64),
    ttft_ms_n SimpleAggregateFunction(sum, UInt64),
    ttft_ms_q AggregateFunction(quantileDD(0.01), Float64),
    ttfot_ms_n SimpleAggregateFunction(sum, UInt64),
    ttfot_ms_q AggregateFunction(quantileDD(0.01), Float64),
    tpot_ms_n SimpleAggregateFunction(sum, UInt64),
    tpot_ms_q AggregateFunction(quantileDD(0.01), Float64),
    e2e_ms_n SimpleAggregateFunction(sum, UInt64),
    e2e_ms_q AggregateFunction(quantileDD(0.01), Float64),
    queue_delay_ms_n SimpleAggregateFunction(sum, UInt64),
    queue_delay_ms_q AggregateFunction(quantileDD(0.01), Float64),
    e2e_from_intended_ms_n SimpleAggregateFunction(sum, UInt64),
    e2e_from_intended_ms_q AggregateFunction(quantileDD(0.01), Float64),
    completion_tokens_n SimpleAggregateFunction(sum, UInt64),
    completion_tokens_q AggregateFunction(quantileDD(0.01), UInt32),
    cost_usd_n SimpleAggregateFunction(sum, UInt64),
    cost_usd_q AggregateFunction(quantileDD(0.01), Float64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/request_rollup_minute_local', '{replica}')
PARTITION BY toYYYYMM(minute)
ORDER BY (project_id, minute, model, in_window)
SETTINGS replicated_deduplication_window = 1000;
CREATE TABLE IF NOT EXISTS request_rollup_minute ON CLUSTER `benchlab` AS request_rollup_minute_local
ENGINE = Distributed('benchlab', currentDatabase(), 'request_rollup_minute_local', cityHash64(project_id, model));
CREATE TABLE IF NOT EXISTS request_rollup_run_hour_local ON CLUSTER `benchlab` (
    project_id     UUID,
    run_id         UUID,
    model          LowCardinality(String),
    prompt_version LowCardinality(String),
    params_hash    LowCardinality(String),
    load_phase     LowCardinality(String),
    in_window      Bool,
    hour           DateTime('UTC'),
    requests       SimpleAggregateFunction(sum, UInt64),
    errors         SimpleAggregateFunction(sum, UInt64),
    ttft_ms_n SimpleAggregateFunction(sum, UInt64),
    ttft_ms_sum SimpleAggregateFunction(sum, Float64),
    ttft_ms_min AggregateFunction(min, Float32),
    ttft_ms_max AggregateFunction(max, Float32),
    ttft_ms_q AggregateFunction(quantileDD(0.01), Float64),
    ttfot_ms_n SimpleAggregateFunction(sum, UInt64),
    ttfot_ms_sum SimpleAggregateFunction(sum, Float64),
    ttfot_ms_min AggregateFunction(min, Float32),
    ttfot_ms_max AggregateFunction(max, Float32),
    ttfot_ms_q AggregateFunction(quantileDD(0.01), Float64),
    tpot_ms_n SimpleAggregateFunction(sum, UInt64),
    tpot_ms_sum SimpleAggregateFunction(sum, Float64),
    tpot_ms_min AggregateFunction(min, Float32),
    tpot_ms_max AggregateFunction(max, Float32),
    tpot_ms_q AggregateFunction(quantileDD(0.01), Float64),
    e2e_ms_n SimpleAggregateFunction(sum, UInt64),
    e2e_ms_sum SimpleAggregateFunction(sum, Float64),
    e2e_ms_min AggregateFunction(min, Float32),
    e2e_ms_max AggregateFunction(max, Float32),
    e2e_ms_q AggregateFunction(quantileDD(0.01), Float64),
    queue_delay_ms_n SimpleAggregateFunction(sum, UInt64),
    queue_delay_ms_sum SimpleAggregateFunction(sum, Float64),
    queue_delay_ms_min AggregateFunction(min, Float32),
    queue_delay_ms_max AggregateFunction(max, Float32),
    queue_delay_ms_q AggregateFunction(quantileDD(0.01), Float64),
    e2e_from_intended_ms_n SimpleAggregateFunction(sum, UInt64),
    e2e_from_intended_ms_sum SimpleAggregateFunction(sum, Float64),
    e2e_from_intended_ms_min AggregateFunction(min, Float32),
    e2e_from_intended_ms_max AggregateFunction(max, Float32),
    e2e_from_intended_ms_q AggregateFunction(quantileDD(0.01), Float64),
    completion_tokens_n SimpleAggregateFunction(sum, UInt64),
    completion_tokens_sum SimpleAggregateFunction(sum, UInt64),
    completion_tokens_min AggregateFunction(min, UInt32),
    completion_tokens_max AggregateFunction(max, UInt32),
    completion_tokens_q AggregateFunction(quantileDD(0.01), UInt32),
    cost_usd_n SimpleAggregateFunction(sum, UInt64),
    cost_usd_sum SimpleAggregateFunction(sum, Float64),
    cost_usd_min AggregateFunction(min, Float64),
    cost_usd_max AggregateFunction(max, Float64),
    cost_usd_q AggregateFunction(quantileDD(0.01), Float64)
)
ENGINE = ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/request_rollup_run_hour_local', '{replica}')
PARTITION BY toYYYYMM(hour)
ORDER BY (project_id, run_id, model, prompt_version, params_hash, load_phase, in_window, hour)
SETTINGS replicated_deduplication_window = 1000;
CREATE TABLE IF NOT EXISTS request_rollup_run_hour ON CLUSTER `benchlab` AS request_rollup_run_hour_local
ENGINE = Distributed('benchlab', currentDatabase(), 'request_rollup_run_hour_local', cityHash64(project_id, run_id));
CREATE MATERIALIZED VIEW IF NOT EXISTS request_rollup_minute_mv ON CLUSTER `benchlab` TO request_rollup_minute_local AS
SELECT
    project_id, toStartOfMinute(ts) AS minute, model, in_window,
    count() AS requests,
    countIf(status = 'ok' AND ttft_ms > 0) AS ttft_ms_n,
    quantileDDIfState(0.01)(ttft_ms * 1000, status = 'ok' AND ttft_ms > 0) AS ttft_ms_q,
    countIf(status = 'ok' AND ttfot_ms > 0) AS ttfot_ms_n,
    quantileDDIfState(0.01)(ttfot_ms * 1000, status = 'ok' AND ttfot_ms > 0) AS ttfot_ms_q,
    countIf(status = 'ok' AND completion_tokens >= 2) AS tpot_ms_n,
    quantileDDIfState(0.01)(tpot_ms * 1000, status = 'ok' AND completion_tokens >= 2) AS tpot_ms_q,
    countIf(status = 'ok' AND e2e_ms > 0) AS e2e_ms_n,
    quantileDDIfState(0.01)(e2e_ms * 1000, status = 'ok' AND e2e_ms > 0) AS e2e_ms_q,
    countIf(status = 'ok') AS queue_delay_ms_n,
    quantileDDIfState(0.01)(queue_delay_ms * 1000, status = 'ok') AS queue_delay_ms_q,
    countIf(status = 'ok' AND e2e_from_intended_ms > 0) AS e2e_from_intended_ms_n,
    quantileDDIfState(0.01)(e2e_from_intended_ms * 1000, status = 'ok' AND e2e_from_intended_ms > 0) AS e2e_from_intended_ms_q,
    countIf(status = 'ok') AS completion_tokens_n,
    quantileDDIfState(0.01)(completion_tokens, status = 'ok') AS completion_tokens_q,
    countIf(cost_known) AS cost_usd_n,
    quantileDDIfState(0.01)(cost_usd * 1000000000, cost_known) AS cost_usd_q
FROM request_events_local
GROUP BY project_id, minute, model, in_window;
CREATE MATERIALIZED VIEW IF NOT EXISTS request_rollup_run_hour_mv ON CLUSTER `benchlab` TO request_rollup_run_hour_local AS
SELECT
    project_id, run_id, model, prompt_version, params_hash, load_phase, in_window, toStartOfHour(ts) AS hour,
    count() AS requests, countIf(status != 'ok') AS errors,
    countIf(status = 'ok' AND ttft_ms > 0) AS ttft_ms_n,
    sumIf(ttft_ms, status = 'ok' AND ttft_ms > 0) AS ttft_ms_sum,
    minIfState(ttft_ms, status = 'ok' AND ttft_ms > 0) AS ttft_ms_min,
    maxIfState(ttft_ms, status = 'ok' AND ttft_ms > 0) AS ttft_ms_max,
    quantileDDIfState(0.01)(ttft_ms * 1000, status = 'ok' AND ttft_ms > 0) AS ttft_ms_q,
    countIf(status = 'ok' AND ttfot_ms > 0) AS ttfot_ms_n,
    sumIf(ttfot_ms, status = 'ok' AND ttfot_ms > 0) AS ttfot_ms_sum,
    minIfState(ttfot_ms, status = 'ok' AND ttfot_ms > 0) AS ttfot_ms_min,
    maxIfState(ttfot_ms, status = 'ok' AND ttfot_ms > 0) AS ttfot_ms_max,
    quantileDDIfState(0.01)(ttfot_ms * 1000, status = 'ok' AND ttfot_ms > 0) AS ttfot_ms_q,
    countIf(status = 'ok' AND completion_tokens >= 2) AS tpot_ms_n,
    sumIf(tpot_ms, status = 'ok' AND completion_tokens >= 2) AS tpot_ms_sum,
    minIfState(tpot_ms, status = 'ok' AND completion_tokens >= 2) AS tpot_ms_min,
    maxIfState(tpot_ms, status = 'ok' AND completion_tokens >= 2) AS tpot_ms_max,
    quantileDDIfState(0.01)(tpot_ms * 1000, status = 'ok' AND completion_tokens >= 2) AS tpot_ms_q,
    countIf(status = 'ok' AND e2e_ms > 0) AS e2e_ms_n,
    sumIf(e2e_ms, status = 'ok' AND e2e_ms > 0) AS e2e_ms_sum,
    minIfState(e2e_ms, status = 'ok' AND e2e_ms > 0) AS e2e_ms_min,
    maxIfState(e2e_ms, status = 'ok' AND e2e_ms > 0) AS e2e_ms_max,
    quantileDDIfState(0.01)(e2e_ms * 1000, status = 'ok' AND e2e_ms > 0) AS e2e_ms_q,
    countIf(status = 'ok') AS queue_delay_ms_n,
    sumIf(queue_delay_ms, status = 'ok') AS queue_delay_ms_sum,
    minIfState(queue_delay_ms, status = 'ok') AS queue_delay_ms_min,
    maxIfState(queue_delay_ms, status = 'ok') AS queue_delay_ms_max,
    quantileDDIfState(0.01)(queue_delay_ms * 1000, status = 'ok') AS queue_delay_ms_q,
    countIf(status = 'ok' AND e2e_from_intended_ms > 0) AS e2e_from_intended_ms_n,
    sumIf(e2e_from_intended_ms, status = 'ok' AND e2e_from_intended_ms > 0) AS e2e_from_intended_ms_sum,
    minIfState(e2e_from_intended_ms, status = 'ok' AND e2e_from_intended_ms > 0) AS e2e_from_intended_ms_min,
    maxIfState(e2e_from_intended_ms, status = 'ok' AND e2e_from_intended_ms > 0) AS e2e_from_intended_ms_max,
    quantileDDIfState(0.01)(e2e_from_intended_ms * 1000, status = 'ok' AND e2e_from_intended_ms > 0) AS e2e_from_intended_ms_q,
    countIf(status = 'ok') AS completion_tokens_n,
    sumIf(completion_tokens, status = 'ok') AS completion_tokens_sum,
    minIfState(completion_tokens, status = 'ok') AS completion_tokens_min,
    maxIfState(completion_tokens, status = 'ok') AS completion_tokens_max,
    quantileDDIfState(0.01)(completion_tokens, status = 'ok') AS completion_tokens_q,
    countIf(cost_known) AS cost_usd_n,
    sumIf(cost_usd, cost_known) AS cost_usd_sum,
    minIfState(cost_usd, cost_known) AS cost_usd_min,
    maxIfState(cost_usd, cost_known) AS cost_usd_max,
    quantileDDIfState(0.01)(cost_usd * 1000000000, cost_known) AS cost_usd_q
FROM request_events_local
GROUP BY project_id, run_id, model, prompt_version, params_hash, load_phase, in_window, hour;
TRUNCATE TABLE request_rollup_minute_local ON CLUSTER `benchlab`;
INSERT INTO request_rollup_minute SETTINGS insert_deduplicate = 0, insert_distributed_sync = 1
SELECT
    project_id, toStartOfMinute(ts) AS minute, model, in_window,
    count() AS requests,
    countIf(status = 'ok' AND ttft_ms > 0) AS ttft_ms_n,
    quantileDDIfState(0.01)(ttft_ms * 1000, status = 'ok' AND ttft_ms > 0) AS ttft_ms_q,
    countIf(status = 'ok' AND ttfot_ms > 0) AS ttfot_ms_n,
    quantileDDIfState(0.01)(ttfot_ms * 1000, status = 'ok' AND ttfot_ms > 0) AS ttfot_ms_q,
    countIf(status = 'ok' AND completion_tokens >= 2) AS tpot_ms_n,
    quantileDDIfState(0.01)(tpot_ms * 1000, status = 'ok' AND completion_tokens >= 2) AS tpot_ms_q,
    countIf(status = 'ok' AND e2e_ms > 0) AS e2e_ms_n,
    quantileDDIfState(0.01)(e2e_ms * 1000, status = 'ok' AND e2e_ms > 0) AS e2e_ms_q,
    countIf(status = 'ok') AS queue_delay_ms_n,
    quantileDDIfState(0.01)(queue_delay_ms * 1000, status = 'ok') AS queue_delay_ms_q,
    countIf(status = 'ok' AND e2e_from_intended_ms > 0) AS e2e_from_intended_ms_n,
    quantileDDIfState(0.01)(e2e_from_intended_ms * 1000, status = 'ok' AND e2e_from_intended_ms > 0) AS e2e_from_intended_ms_q,
    countIf(status = 'ok') AS completion_tokens_n,
    quantileDDIfState(0.01)(completion_tokens, status = 'ok') AS completion_tokens_q,
    countIf(cost_known) AS cost_usd_n,
    quantileDDIfState(0.01)(cost_usd * 1000000000, cost_known) AS cost_usd_q
FROM request_events
GROUP BY project_id, minute, model, in_window;
TRUNCATE TABLE request_rollup_run_hour_local ON CLUSTER `benchlab`;
INSERT INTO request_rollup_run_hour SETTINGS insert_deduplicate = 0, insert_distributed_sync = 1
SELECT
    project_id, run_id, model, prompt_version, params_hash, load_phase, in_window, toStartOfHour(ts) AS hour,
    count() AS requests, countIf(status != 'ok') AS errors,
    countIf(status = 'ok' AND ttft_ms > 0) AS ttft_ms_n,
    sumIf(ttft_ms, status = 'ok' AND ttft_ms > 0) AS ttft_ms_sum,
    minIfState(ttft_ms, status = 'ok' AND ttft_ms > 0) AS ttft_ms_min,
    maxIfState(ttft_ms, status = 'ok' AND ttft_ms > 0) AS ttft_ms_max,
    quantileDDIfState(0.01)(ttft_ms * 1000, status = 'ok' AND ttft_ms > 0) AS ttft_ms_q,
    countIf(status = 'ok' AND ttfot_ms > 0) AS ttfot_ms_n,
    sumIf(ttfot_ms, status = 'ok' AND ttfot_ms > 0) AS ttfot_ms_sum,
    minIfState(ttfot_ms, status = 'ok' AND ttfot_ms > 0) AS ttfot_ms_min,
    maxIfState(ttfot_ms, status = 'ok' AND ttfot_ms > 0) AS ttfot_ms_max,
    quantileDDIfState(0.01)(ttfot_ms * 1000, status = 'ok' AND ttfot_ms > 0) AS ttfot_ms_q,
    countIf(status = 'ok' AND completion_tokens >= 2) AS tpot_ms_n,
    sumIf(tpot_ms, status = 'ok' AND completion_tokens >= 2) AS tpot_ms_sum,
    minIfState(tpot_ms, status = 'ok' AND completion_tokens >= 2) AS tpot_ms_min,
    maxIfState(tpot_ms, status = 'ok' AND completion_tokens >= 2) AS tpot_ms_max,
    quantileDDIfState(0.01)(tpot_ms * 1000, status = 'ok' AND completion_tokens >= 2) AS tpot_ms_q,
    countIf(status = 'ok' AND e2e_ms > 0) AS e2e_ms_n,
    sumIf(e2e_ms, status = 'ok' AND e2e_ms > 0) AS e2e_ms_sum,
    minIfState(e2e_ms, status = 'ok' AND e2e_ms > 0) AS e2e_ms_min,
    maxIfState(e2e_ms, status = 'ok' AND e2e_ms > 0) AS e2e_ms_max,
    quantileDDIfState(0.01)(e2e_ms * 1000, status = 'ok' AND e2e_ms > 0) AS e2e_ms_q,
    countIf(status = 'ok') AS queue_delay_ms_n,
    sumIf(queue_delay_ms, status = 'ok') AS queue_delay_ms_sum,
    minIfState(queue_delay_ms, status = 'ok') AS queue_delay_ms_min,
    maxIfState(queue_delay_ms, status = 'ok') AS queue_delay_ms_max,
    quantileDDIfState(0.01)(queue_delay_ms * 1000, status = 'ok') AS queue_delay_ms_q,
    countIf(status = 'ok' AND e2e_from_intended_ms > 0) AS e2e_from_intended_ms_n,
    sumIf(e2e_from_intended_ms, status = 'ok' AND e2e_from_intended_ms > 0) AS e2e_from_intended_ms_sum,
    minIfState(e2e_from_intended_ms, status = 'ok' AND e2e_from_intended_ms > 0) AS e2e_from_intended_ms_min,
    maxIfState(e2e_from_intended_ms, status = 'ok' AND e2e_from_intended_ms > 0) AS e2e_from_intended_ms_max,
    quantileDDIfState(0.01)(e2e_from_intended_ms * 1000, status = 'ok' AND e2e_from_intended_ms > 0) AS e2e_from_intended_ms_q,
    countIf(status = 'ok') AS completion_tokens_n,
    sumIf(completion_tokens, status = 'ok') AS completion_tokens_sum,
    minIfState(completion_tokens, status = 'ok') AS completion_tokens_min,
    maxIfState(completion_tokens, status = 'ok') AS completion_tokens_max,
    quantileDDIfState(0.01)(completion_tokens, status = 'ok') AS completion_tokens_q,
    countIf(cost_known) AS cost_usd_n,
    sumIf(cost_usd, cost_known) AS cost_usd_sum,
    minIfState(cost_usd, cost_known) AS cost_usd_min,
    maxIfState(cost_usd, cost_known) AS cost_usd_max,
    quantileDDIfState(0.01)(cost_usd * 1000000000, cost_known) AS cost_usd_q
FROM request_events
GROUP BY project_id, run_id, model, prompt_version, params_hash, load_phase, in_window, hour;

-- 0008_request_events_input.sql
ALTER TABLE request_events_local ON CLUSTER `benchlab` ADD COLUMN IF NOT EXISTS input String DEFAULT '' CODEC(ZSTD(3)) AFTER error_message;
ALTER TABLE request_events ON CLUSTER `benchlab` ADD COLUMN IF NOT EXISTS input String DEFAULT '' CODEC(ZSTD(3)) AFTER error_message;
