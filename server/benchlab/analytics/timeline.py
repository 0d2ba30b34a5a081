"""A run over time, bucket by bucket: load, failures, throughput and the latency percentiles that matter most.

Every request of the run counts, warm-up and cool-down included, so their effect stays visible. Buckets are
aligned to the epoch (toStartOfInterval) and empty buckets between the first and last request are filled
with zeros, so a chart shows gaps as gaps. Rates divide by the full bucket width, so a partly covered first
or last bucket reads low. Rows and percentiles are `benchlab.metrics`' own, as in the run summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from benchlab.analytics.columns import column, utc
from benchlab.analytics.scope import runs_scope
from benchlab.analytics.validation import check_bucket_count, interval_step_us
from benchlab.metrics import METRICS, Metric
from benchlab.stores.clickhouse import ClickHouseStore

_CALLER = "analytics.run_timeline"
_BUCKET = "toStartOfInterval(ts, toIntervalMicrosecond({step:UInt64}))"
_LEVELS = "0.5, 0.99"


@dataclass(frozen=True)
class RunTimeline:
    """Rows are buckets starting at `bucket_start`; `requests_per_s` counts successful requests, like the
    summary's request throughput, and `output_tokens_per_s` their completion tokens."""

    interval_s: float
    bucket_start: list[datetime]
    requests: list[int]
    errors: list[int]
    requests_per_s: list[float]
    output_tokens_per_s: list[float]
    ttft_p50_ms: list[float | None]
    ttft_p99_ms: list[float | None]
    e2e_p50_ms: list[float | None]
    e2e_p99_ms: list[float | None]


async def run_timeline(store: ClickHouseStore, project_id: UUID, run_id: UUID, interval_s: float) -> RunTimeline:
    """Per-bucket counts, rates and TTFT/E2E p50 and p99 of one run (at most 10,000 buckets)."""
    step_us = interval_step_us(interval_s)
    parameters: dict[str, Any] = {"project": project_id, "runs": [run_id], "step": step_us}
    span = await store.query(
        "SELECT count(), toUnixTimestamp64Micro(min(ts)), toUnixTimestamp64Micro(max(ts)) FROM request_events "
        f"WHERE {runs_scope(False)}", parameters, caller=_CALLER)
    requests, first_us, last_us = span.rows[0]
    if requests:
        check_bucket_count(first_us, last_us, step_us)
    ttft, e2e, tokens = METRICS["ttft_ms"], METRICS["e2e_ms"], METRICS["completion_tokens"]
    result = await store.query(
        f"SELECT {_BUCKET} AS bucket, count(), countIf(status != 'ok'), countIf(status = 'ok'), "
        f"{tokens.aggregate('sum')}, "
        f"{ttft.count()}, {ttft.quantiles(_LEVELS)}, {e2e.count()}, {e2e.quantiles(_LEVELS)} "
        f"FROM request_events WHERE {runs_scope(False)} GROUP BY bucket "
        "ORDER BY bucket WITH FILL STEP toIntervalMicrosecond({step:UInt64})", parameters, caller=_CALLER)
    rows = result.rows
    width_s = step_us / 1_000_000
    return RunTimeline(
        interval_s=width_s, bucket_start=[utc(start) for start in column(rows, 0)], requests=column(rows, 1),
        errors=column(rows, 2), requests_per_s=[ok / width_s for ok in column(rows, 3)],
        output_tokens_per_s=[total / width_s for total in column(rows, 4)],
        ttft_p50_ms=_level(ttft, rows, 5, 0), ttft_p99_ms=_level(ttft, rows, 5, 1),
        e2e_p50_ms=_level(e2e, rows, 7, 0), e2e_p99_ms=_level(e2e, rows, 7, 1))


def _level(metric: Metric, rows: Sequence[Sequence[Any]], count_index: int, level: int) -> list[float | None]:
    """One quantile level per bucket; filled and error-only buckets have no values and give None."""
    return [metric.clean(row[count_index + 1][level]) if row[count_index] else None for row in rows]
