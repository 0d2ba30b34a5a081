-- Rollups of request_events for the analytics that scan many requests (issue 15: latencySeries and run.metrics
-- over 10M events under 100 ms, which raw scans with exact quantiles measured at 350 ms). Two
-- AggregatingMergeTree tables, each fed by a materialized view on every insert into request_events (the event
-- writer, Arrow inserts, the ingest endpoint: all of them insert there), hold per-metric aggregate states for the
-- rows each metric counts (benchlab.metrics' conditions, as -If combinators; inter_event_ms, an array, has none):
--   request_rollup_minute:   per project, minute, model, in_window: counts and quantile states, for latencySeries
--                            whose buckets are whole minutes (at most 60 rows per hour and model, whatever runs);
--   request_rollup_run_hour: per project, run, model, prompt version, parameter set, load phase, in_window, hour:
--                            request/error counts, and count, sum, min, max and a quantile state per metric, for
--                            run.metrics and for latencySeries in whole hours.
-- Quantile states are DDSketch (quantileDD) with relative accuracy 0.01: a returned quantile is within 1 % of the
-- value at its rank. ClickHouse's sketch keeps that bound for values of 1 and more only (measured on chDB 26.9:
-- up to 3.0 % below 1, 1.00 % above), so the states hold latencies in microseconds and costs in nano-USD
-- (`* 1000`, `* 1000000000`; the queries divide back): the bound then holds down to 1 µs and 1e-9 USD. Measured on 10M generated events (benchmarks/analytics.py data, hourly buckets per model,
-- TTFT, states merged from the minute table): quantileDD(0.01) max relative error against exact 1.01/1.01/1.36 %
-- (p50/p90/p99; beyond 1 % only by the gap between the two values the exact quantile interpolates between) at
-- 104-113 ms CPU; quantileTDigest 0.16/0.17/0.41 % but 228 ms (and no guaranteed bound: ~1 % per ClickHouse's
-- docs, Float32 results); quantileBFloat16 0.42/0.49/0.63 % at 283 ms; quantileDD(0.005) 0.50/0.51/0.88 % at
-- 188 ms; quantileDD(0.02) up to 2.3 % at 88 ms. Exact quantiles over the raw rows took 736 ms CPU there.
-- The rollups keep non_replicated_deduplication_window: a batch the writer retries with its deduplication token
-- is dropped by request_events, but its views still run (deduplicate_blocks_in_dependent_materialized_views),
-- and only the rollups' own deduplication keeps them from counting it twice.
--
-- Backfill: rows stored before this migration are aggregated by the INSERT ... SELECTs below, after the views
-- exist. Each rollup is emptied first, so running the file again after a failure starts it over rather than
-- counting twice. A row inserted between a TRUNCATE and the start of the INSERT after it (milliseconds: the
-- SELECT reads the parts present when it starts) is counted twice, by the view and the backfill; run
-- `benchlab migrate` with writers stopped to rule that out. insert_deduplicate = 0: a re-run's blocks may equal
-- the first attempt's, and must not be dropped as duplicates.

CREATE TABLE IF NOT EXISTS request_rollup_minute (
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
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(minute)
ORDER BY (project_id, minute, model, in_window)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS request_rollup_run_hour (
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
ENGINE = AggregatingMergeTree
PARTITION BY toYYYYMM(hour)
ORDER BY (project_id, run_id, model, prompt_version, params_hash, load_phase, in_window, hour)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE MATERIALIZED VIEW IF NOT EXISTS request_rollup_minute_mv TO request_rollup_minute AS
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

CREATE MATERIALIZED VIEW IF NOT EXISTS request_rollup_run_hour_mv TO request_rollup_run_hour AS
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

TRUNCATE TABLE request_rollup_minute;

INSERT INTO request_rollup_minute SETTINGS insert_deduplicate = 0
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

TRUNCATE TABLE request_rollup_run_hour;

INSERT INTO request_rollup_run_hour SETTINGS insert_deduplicate = 0
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

