"""Latency percentiles over time across every run of a project: the dashboard time series.

It scans a project's time range rather than a few runs and takes the same rows as every other view. Percentiles
are exact, as in a run's summary, unless the range holds many requests and its buckets are whole minutes: then
they come from the rollups' quantile states (`benchlab.analytics.rollup`: 10M requests in ~30 ms instead of
~350 ms), approximate within `benchlab.metrics.APPROXIMATE_QUANTILE_METHOD`'s bound, and `quantile_method`
says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from benchlab.analytics import rollup
from benchlab.analytics.columns import PercentileColumn, column, epoch_micros, percentile_columns, utc
from benchlab.analytics.errors import AnalyticsInputError
from benchlab.analytics.scope import IN_WINDOW, SOURCE, SOURCES, time_scope
from benchlab.analytics.validation import (
    check_bucket_count,
    check_time_range,
    interval_step_us,
    quantile_levels,
    resolve_metric,
)
from benchlab.stores.clickhouse import ClickHouseStore

_US_PER_S = 1_000_000


@dataclass(frozen=True)
class LatencySeries:
    """Rows are (bucket, model) pairs that had values, ordered by bucket then model; `count` is the number of
    values behind each row's percentiles."""

    metric: str
    interval_s: float
    percentiles: list[float]
    bucket_start: list[datetime]
    model: list[str]
    count: list[int]
    values: list[PercentileColumn]
    quantile_method: rollup.QuantileMethod = rollup.EXACT


async def latency_series(store: ClickHouseStore, project_id: UUID, start: datetime, end: datetime,
                         interval_s: float, models: Sequence[str] | None, metric: str,
                         percentiles: Sequence[float], include_window_only: bool = True,
                         prefer_exact: bool = False, source: str | None = None) -> LatencySeries:
    """Percentiles of `metric` per time bucket and model over [start, end); `models=None` means all.

    Buckets are aligned to the epoch (toStartOfInterval); at most 10,000 of them. Only qualifying values
    count (successful requests for latencies), and warm-up/cool-down requests are left out unless
    `include_window_only` is False. `source` keeps the requests of one source (`experiment`, `production`);
    None takes all. Large queries in whole minutes are answered from the rollups (module docstring) unless
    `prefer_exact`, or a `source` is given: the rollups are not kept per source, so those are always exact.
    """
    check_time_range(start, end)
    step_us = interval_step_us(interval_s)
    start_us, end_us = epoch_micros(start), epoch_micros(end)
    check_bucket_count(start_us, end_us - 1, step_us)
    chosen = resolve_metric(metric)
    levels, parameters = quantile_levels(percentiles)
    if models is not None and (isinstance(models, str) or not models):
        raise AnalyticsInputError("models", "give a non-empty list of model names, or null for every model")
    query_parameters: dict[str, Any] = {"project": project_id, "start": start, "end": end, "step": step_us,
                                        **parameters}
    model_filter = ""
    if models is not None:
        model_filter = " AND model IN {models:Array(String)}"
        query_parameters["models"] = list(models)
    if source is not None:
        if source not in SOURCES:
            raise AnalyticsInputError("source", f"unknown source {source!r}; use one of {', '.join(SOURCES)}")
        query_parameters["source"] = source
    method = rollup.EXACT
    grain = None if prefer_exact or source is not None or not rollup.has_states([chosen]) \
        else rollup.series_table(start_us, end_us, step_us)
    if grain is not None:
        table, time_column = grain
        scope = (f"project_id = {{project:UUID}} AND {time_column} >= {{start:DateTime64(6, 'UTC')}} AND "
                 f"{time_column} < {{end:DateTime64(6, 'UTC')}}" + (IN_WINDOW if include_window_only else "")
                 + model_filter)
        if await rollup.worth_it(store, table, scope, query_parameters):
            method = rollup.APPROXIMATE
            result = await store.query(
                f"SELECT toStartOfInterval(toDateTime64({time_column}, 6, 'UTC'), toIntervalMicrosecond("
                f"{{step:UInt64}})) AS bucket, model, {rollup.count(chosen)} AS n, {rollup.quantiles(chosen, levels)} "
                f"FROM {table} WHERE {scope} GROUP BY bucket, model HAVING n > 0 ORDER BY bucket, model",
                query_parameters, caller="analytics.latency_series.rollup")
    if method == rollup.EXACT:
        where = (f"{time_scope(include_window_only)} AND {chosen.condition}{model_filter}"
                 + (SOURCE if source is not None else ""))
        quantiles = chosen.quantiles(levels, conditional=False) if levels else "[]"
        result = await store.query(
            "SELECT toStartOfInterval(ts, toIntervalMicrosecond({step:UInt64})) AS bucket, model, "
            f"{chosen.count(conditional=False)} AS n, {quantiles} FROM request_events WHERE {where} "
            "GROUP BY bucket, model HAVING n > 0 ORDER BY bucket, model", query_parameters,
            caller="analytics.latency_series")
    rows = result.rows
    counts = [int(n) for n in column(rows, 2)]
    return LatencySeries(metric=chosen.name, interval_s=step_us / _US_PER_S,
                         percentiles=[float(p) for p in percentiles],
                         bucket_start=[utc(bucket) for bucket in column(rows, 0)], model=column(rows, 1),
                         count=counts, values=percentile_columns(percentiles, column(rows, 3), chosen, counts),
                         quantile_method=method)

