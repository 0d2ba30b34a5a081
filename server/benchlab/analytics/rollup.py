"""Answers from the rollups when a query is large: `latencySeries` and `run.metrics` over millions of requests.

Two AggregatingMergeTree tables (clickhouse/migrations/0007_request_rollups.sql), fed by materialized views on
every insert into request_events, hold per-metric states of the rows each metric counts (`benchlab.metrics`):
`request_rollup_minute` per project, minute, model and in_window (counts and quantile states), and
`request_rollup_run_hour` per project, run, model, prompt version, parameter set, load phase, in_window and
hour (request and error counts; count, sum, min, max and a quantile state per metric).

The rule (measured with benchmarks/analytics.py, 10M events, on the 2-core development machine):

- Only a query the rollups can answer goes there: every metric has states (`inter_event_ms`, an array, has
  none), and for `latencySeries` the buckets and the range are whole minutes (whole hours read the run-hour
  table: 672 states for 7 days hourly per model instead of 40,000; else the minute table).
- Only a large one: at least `MIN_ROLLUP_REQUESTS` requests in scope, counted from the rollup itself (a sum
  over a few thousand rows, 3-4 ms). Below that the raw rows are read with exact quantiles, as everywhere
  else, so a run's metrics equal its summary to the bit. At 250,000 requests the raw run.metrics query costs
  about 30 ms (62 ms per 500,000 measured); from there on its cost grows with the requests while the rollup's
  stays near 20-30 ms.
- Only one where states are dense: at least `MIN_REQUESTS_PER_STATE` requests per rollup row read. Merging a
  quantile state costs ~2.6 µs and exact quantiles ~0.08 µs per request (CPU, 10M events), so below ~34
  requests per state the raw rows are faster: 7 days in 5-minute buckets over 400,000 events (7 per minute
  row) took 144 ms from the minute rollup against 45 ms raw. Sparse states are also where approximate tails
  stray furthest from the exact interpolated ones.

What changes from the rollup (the API says which it did, `quantileMethod`): counts, min and max are exact;
sums and means equal the raw ones up to floating-point rounding (the order of additions differs); quantiles
are DDSketch's (`benchlab.metrics.APPROXIMATE_QUANTILE_METHOD`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from benchlab.metrics import ROLLUP_RELATIVE_ACCURACY, Metric
from benchlab.stores.clickhouse import ClickHouseStore

QuantileMethod = Literal["exact", "approximate"]
EXACT: QuantileMethod = "exact"
APPROXIMATE: QuantileMethod = "approximate"

MINUTE_TABLE = "request_rollup_minute"
RUN_HOUR_TABLE = "request_rollup_run_hour"
MIN_ROLLUP_REQUESTS = 250_000
MIN_REQUESTS_PER_STATE = 64  # twice the measured break-even
_US_PER_MINUTE = 60_000_000
_US_PER_HOUR = 3_600_000_000


def has_states(metrics: Sequence[Metric]) -> bool:
    """Whether the rollups hold states for every one of these metrics (arrays have none)."""
    return all(not metric.array for metric in metrics)


def series_table(start_us: int, end_us: int, step_us: int) -> tuple[str, str] | None:
    """(table, time column) of the coarsest rollup whose time grain divides the buckets and the range, or None."""
    for grain, table, time_column in ((_US_PER_HOUR, RUN_HOUR_TABLE, "hour"), (_US_PER_MINUTE, MINUTE_TABLE,
                                                                                 "minute")):
        if step_us % grain == 0 and start_us % grain == 0 and end_us % grain == 0:
            return table, time_column
    return None


async def worth_it(store: ClickHouseStore, table: str, where: str, parameters: dict[str, Any]) -> bool:
    """Whether the rollup should answer: enough requests in scope (every request, before the metrics'
    conditions), and enough of them per rollup row (rows of unmerged parts count apart: a conservative count)."""
    result = await store.query(f"SELECT sum(requests), count() FROM {table} WHERE {where}", parameters,
                               caller="analytics.rollup_size")
    requests, states = (int(result.rows[0][0]), int(result.rows[0][1])) if result.rows else (0, 0)
    return requests >= MIN_ROLLUP_REQUESTS and requests >= MIN_REQUESTS_PER_STATE * states


def count(metric: Metric) -> str:
    return f"sum({metric.name}_n)"


# The states hold values in these units per metric unit (0007 says why: ClickHouse's DDSketch keeps its 1 % bound
# only for values of 1 and more): microseconds, nano-USD, tokens.
STATE_SCALE = {"ms": 1000, "USD": 1_000_000_000, "tokens": 1}


def quantiles(metric: Metric, levels: str) -> str:
    """The metric's quantiles at `levels` merged from its states, in the metric's unit (`[]` without levels)."""
    if not levels:
        return "[]"
    merged = f"quantilesDDMerge({ROLLUP_RELATIVE_ACCURACY}, {levels})({metric.name}_q)"
    scale = STATE_SCALE[metric.unit]
    return merged if scale == 1 else f"arrayMap(v -> v / {scale}, {merged})"


def aggregates(metric: Metric, levels: str) -> list[str]:
    """count, mean, min, max, sum and quantiles: run_metrics' columns for one metric."""
    name = metric.name
    return [count(metric), f"sum({name}_sum) / {count(metric)}", f"minMerge({name}_min)", f"maxMerge({name}_max)",
            f"sum({name}_sum)", quantiles(metric, levels)]
