"""Per-group statistics over one or a few runs: the table behind "compare models / prompts / params".

Every metric's rows and percentiles are `benchlab.metrics`' own, so a run's numbers here equal its summary's;
only when the runs hold many requests (`benchlab.analytics.rollup.MIN_ROLLUP_REQUESTS`) do they come from the
run-hour rollup, with approximate percentiles, and `quantile_method` says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from benchlab.analytics import rollup
from benchlab.analytics.columns import KeyColumn, PercentileColumn, column, key_columns, percentile_columns
from benchlab.analytics.grouping import group_expressions
from benchlab.analytics.scope import runs_scope
from benchlab.analytics.validation import check_ids, quantile_levels, resolve_metrics
from benchlab.metrics import Metric
from benchlab.stores.clickhouse import ClickHouseStore

_STATS = ("count", "avg", "min", "max", "sum", "quantiles")


@dataclass(frozen=True)
class MetricColumns:
    """One metric's statistics per group; `n` counts the values that qualified (e.g. successful requests)."""

    metric: str
    n: list[int]
    mean: list[float | None]
    min: list[float | None]
    max: list[float | None]
    sum: list[float]
    percentiles: list[PercentileColumn]


@dataclass(frozen=True)
class RunMetrics:
    """Rows are groups: `keys` hold the group's values, `count`/`errors` all requests and the failed ones."""

    group_by: list[str]
    percentiles: list[float]
    keys: list[KeyColumn]
    count: list[int]
    errors: list[int]
    metrics: list[MetricColumns]
    quantile_method: rollup.QuantileMethod = rollup.EXACT


async def run_metrics(store: ClickHouseStore, project_id: UUID, run_ids: Sequence[UUID], group_by: Sequence[str],
                      metrics: Sequence[str], percentiles: Sequence[float],
                      include_window_only: bool = True, prefer_exact: bool = False) -> RunMetrics:
    """Count, errors and mean/min/max/sum/percentiles of each metric per group of the runs' requests.

    `group_by` takes any of run, model, prompt_version, params, load_phase; runs are merged unless "run" is one
    of the keys. `include_window_only` drops warm-up and cool-down requests, like the run summary. Runs with
    many requests are answered from the rollup (module docstring) unless `prefer_exact`.
    """
    check_ids(run_ids, "run_ids")
    keys = group_expressions(group_by)
    chosen = resolve_metrics(metrics)
    levels, parameters = quantile_levels(percentiles)
    scope = runs_scope(include_window_only)
    query_parameters = {"project": project_id, "runs": list(run_ids), **parameters}
    grouping = f" GROUP BY {', '.join(keys)} ORDER BY {', '.join(keys)}" if keys else ""
    method = rollup.EXACT
    if not prefer_exact and rollup.has_states(chosen) and await rollup.worth_it(
            store, rollup.RUN_HOUR_TABLE, scope, query_parameters):
        method = rollup.APPROXIMATE
        selected = [*keys, "sum(requests)", "sum(errors)"]
        for metric in chosen:
            selected += rollup.aggregates(metric, levels)
        result = await store.query(f"SELECT {', '.join(selected)} FROM {rollup.RUN_HOUR_TABLE} WHERE {scope}{grouping}",
                                   query_parameters, caller="analytics.run_metrics.rollup")
    else:
        selected = [*keys, "count()", "countIf(status != 'ok')"]
        for metric in chosen:
            selected += metric_aggregates(metric, levels)
        result = await store.query(f"SELECT {', '.join(selected)} FROM request_events WHERE {scope}{grouping}",
                                   query_parameters, caller="analytics.run_metrics")
    rows = result.rows
    base = len(keys) + 2
    return RunMetrics(
        group_by=list(group_by), percentiles=[float(p) for p in percentiles], keys=key_columns(group_by, rows),
        count=column(rows, len(keys)), errors=column(rows, len(keys) + 1),
        metrics=[metric_columns(metric, percentiles, rows, base + index * len(_STATS))
                 for index, metric in enumerate(chosen)], quantile_method=method)


def metric_aggregates(metric: Metric, levels: str) -> list[str]:
    """count, mean, min, max, sum and quantiles of one metric over its rows: the columns `metric_columns` reads."""
    # Without percentiles, a constant empty array keeps every metric the same width.
    quantiles = metric.quantiles(levels) if levels else "[]"
    return [metric.count(), metric.aggregate("avg"), metric.aggregate("min"), metric.aggregate("max"),
            metric.aggregate("sum"), quantiles]


def metric_columns(metric: Metric, percentiles: Sequence[float], rows: Sequence[Sequence[Any]],
                    start: int) -> MetricColumns:
    """One metric's statistics from the columns `metric_aggregates` selected, starting at column `start`."""
    counts = [int(n) for n in column(rows, start)]

    def stat(offset: int) -> list[float | None]:
        # min/max over no values come back as 0, not NaN: blank them by count.
        return [metric.clean(value) if n else None for value, n in zip(column(rows, start + offset), counts,
                                                                        strict=True)]

    return MetricColumns(metric=metric.name, n=counts, mean=stat(1), min=stat(2), max=stat(3),
                         sum=[metric.clean(value) or 0.0 for value in column(rows, start + 4)],
                         percentiles=percentile_columns(percentiles, column(rows, start + 5), metric, counts))
