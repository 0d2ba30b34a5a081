"""The run summary, computed in ClickHouse over the run's rows and stored on the run.

Per load phase (only sweeps have several) × model × prompt version × parameter set: request and error counts
by class; p50/p90/p95/p99/p99.9, mean, std, min and max of TTFT, TTFOT, TPOT, E2E and queue delay; the
percentiles of inter-event gaps; tokens and cost; request, output-token and good-request throughput over the
measurement window (warm-up and cool-down excluded). Which rows each metric takes and how its percentiles are
computed are `benchlab.metrics`' (successful requests only for latencies), so `run.metrics` over the same rows
gives the same numbers. Cost sums the requests whose price is known and counts the others.

The measurement window is defined on the run's own clock (`run_offset_s`: seconds of execution since the run
first started, the pause between an interruption and its resume excluded): it starts after the warm-up and
ends a cool-down before the run's last request finished, and a request belongs to it by its intended send.
So a resumed run is summarised exactly as the same rows would have been had it never stopped, and its
throughput is over the time it actually ran. Besides the groups, the summary lists every error class of the
run (all its rows, window or not) with its count and first message, so a failing run says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from benchlab.metrics import METRICS, Metric
from benchlab.stores.clickhouse import ClickHouseStore

QUANTILES = (0.5, 0.9, 0.95, 0.99, 0.999)
QUANTILE_NAMES = ("p50", "p90", "p95", "p99", "p999")
_LEVELS = ", ".join(str(q) for q in QUANTILES)
_LATENCIES = tuple(METRICS[name] for name in ("ttft_ms", "ttfot_ms", "tpot_ms", "e2e_ms", "queue_delay_ms"))
_GAPS, _TOKENS = METRICS["inter_event_ms"], METRICS["completion_tokens"]
_COLLAPSED_GAP_MS = 0.5  # a shorter gap means events arrived bunched, not a real token rate
_STATS = {"mean": "avg", "std": "stddevPop", "min": "min", "max": "max"}  # summary key -> ClickHouse function
_GROUP = ("load_phase", "model", "prompt_version", "params_hash")


@dataclass(frozen=True)
class SLOs:
    ttft_ms: float | None = None
    tpot_ms: float | None = None
    e2e_ms: float | None = None


def _metric_columns(metric: Metric) -> str:
    stats = ", ".join(f"{metric.aggregate(function)} AS {metric.name}__{key}" for key, function in _STATS.items())
    return f"{metric.quantiles(_LEVELS)} AS {metric.name}__q, {stats}, {metric.count()} AS {metric.name}__n"


def _gap_columns() -> str:
    collapsed = f"sumIf(arrayCount(gap -> gap < {_COLLAPSED_GAP_MS}, {_GAPS.name}), {_GAPS.condition})"
    return f"{_GAPS.quantiles(_LEVELS)} AS gaps__q, {_GAPS.count()} AS gaps__n, {collapsed} AS gaps__collapsed"


def _good_condition(slos: SLOs) -> str:
    parts = ["status = 'ok'"]
    for name in ("ttft_ms", "tpot_ms", "e2e_ms"):
        if getattr(slos, name) is not None:
            parts.append(f"{name} <= {{slo_{name}:Float64}}")
    return " AND ".join(parts)


_RUN = "project_id = {project:UUID} AND run_id = {run:UUID}"
_WINDOW = f"{_RUN} AND in_window AND run_offset_s >= {{start:Float64}} AND run_offset_s <= {{end:Float64}}"
_FIRST_MESSAGE_CHARS = 300


async def compute_summary(store: ClickHouseStore, project_id: UUID, run_id: UUID, window_start_s: float,
                          window_end_s: float, slos: SLOs) -> dict[str, Any]:
    """Aggregate the run's rows meant to be sent inside [window_start_s, window_end_s] of the run's clock."""
    params: dict[str, Any] = {"project": project_id, "run": run_id, "start": window_start_s, "end": window_end_s}
    for name in ("ttft_ms", "tpot_ms", "e2e_ms"):
        if getattr(slos, name) is not None:
            params[f"slo_{name}"] = float(getattr(slos, name))
    metrics_sql = ", ".join(_metric_columns(metric) for metric in _LATENCIES)
    result = await store.query(
        f"SELECT {', '.join(_GROUP)}, count() AS requests, countIf(status = 'ok') AS succeeded, "
        "sumMapIf([error_type], [toUInt64(1)], status != 'ok') AS errors, "
        f"{metrics_sql}, {_gap_columns()}, "
        "sum(prompt_tokens) AS sum_prompt_tokens, sum(completion_tokens) AS sum_completion_tokens, "
        f"{_TOKENS.aggregate('sum')} AS sum_ok_completion_tokens, "
        "countIf(tokens_estimated) AS estimated_token_requests, sumIf(cost_usd, cost_known) AS sum_cost_usd, "
        "countIf(NOT cost_known) AS cost_unknown_requests, "
        f"countIf({_good_condition(slos)}) AS good, sum(attempt - 1) AS retries "
        f"FROM request_events WHERE {_WINDOW} GROUP BY {', '.join(_GROUP)} ORDER BY {', '.join(_GROUP)}",
        params, caller="run-summary")
    window_s = max(window_end_s - window_start_s, 1e-9)
    groups = [_group(row, window_s) for row in result.dicts()]
    return {"window": {"start_s": window_start_s, "end_s": window_end_s, "seconds": window_s},
            "slos": {k: v for k, v in vars(slos).items() if v is not None}, "groups": groups,
            "errors": await error_classes(store, project_id, run_id)}


async def error_classes(store: ClickHouseStore, project_id: UUID, run_id: UUID) -> list[dict[str, Any]]:
    """Every error class of the run, most frequent first: its count and its first request's message."""
    result = await store.query(
        f"SELECT error_type, count() AS requests, argMin(error_message, ts) AS first_message FROM request_events "
        f"WHERE {_RUN} AND status != 'ok' GROUP BY error_type ORDER BY requests DESC, error_type",
        {"project": project_id, "run": run_id}, caller="run-summary")
    return [{"error_type": row["error_type"], "requests": int(row["requests"]),
             "first_message": row["first_message"][:_FIRST_MESSAGE_CHARS]} for row in result.dicts()]


def describe_errors(summary: dict[str, Any] | None) -> str:
    """`: server_error x25 (first: HTTP 500 ...); ...` for a one-line run error, or "" without errors."""
    classes = (summary or {}).get("errors") or []
    parts = [f"{c['error_type'] or 'error'} x{c['requests']}" + (f" (first: {c['first_message']})"
                                                                 if c["first_message"] else "") for c in classes]
    return (": " + "; ".join(parts)) if parts else ""


def _group(row: dict[str, Any], window_s: float) -> dict[str, Any]:
    keys, counts = row["errors"]
    group: dict[str, Any] = {name: row[name] for name in _GROUP}
    group.update(requests=row["requests"], succeeded=row["succeeded"],
                 errors={k: int(v) for k, v in zip(keys, counts, strict=True)}, retries=int(row["retries"]))
    for metric in _LATENCIES:
        count = int(row[f"{metric.name}__n"])
        stats: dict[str, Any] = {"count": count, **_percentiles(metric, row[f"{metric.name}__q"], count)}
        stats.update({key: metric.clean(row[f"{metric.name}__{key}"]) if count else None for key in _STATS})
        group[metric.name] = stats
    gaps = int(row["gaps__n"])
    group[_GAPS.name] = {**_percentiles(_GAPS, row["gaps__q"], gaps), "count": gaps,
                         "collapsed_below_0_5ms": int(row["gaps__collapsed"])}
    group.update(prompt_tokens=int(row["sum_prompt_tokens"]), completion_tokens=int(row["sum_completion_tokens"]),
                 estimated_token_requests=int(row["estimated_token_requests"]),
                 cost_usd=float(row["sum_cost_usd"]) if row["cost_unknown_requests"] < row["requests"] else None,
                 cost_unknown_requests=int(row["cost_unknown_requests"]),
                 request_throughput=row["succeeded"] / window_s,
                 output_token_throughput=int(row["sum_ok_completion_tokens"]) / window_s,
                 goodput=row["good"] / window_s, good_requests=int(row["good"]))
    return group


def _percentiles(metric: Metric, levels: list[float], count: int) -> dict[str, float | None]:
    """p50 ... p999 by name; null without values (ClickHouse gives NaN, and JSON has no NaN)."""
    return dict(zip(QUANTILE_NAMES, (metric.clean(value) if count else None for value in levels), strict=True))
