"""Production traffic of a project over a time range: per provider and model, the judged share, recent requests.

Production rows are `request_events` with `source = 'production'` (OTLP traces, the litellm callback, the
ingest endpoint), scoped to the project of the key that sent them. Every figure is taken as everywhere else:
each metric's rows and its one quantile method are `benchlab.metrics`' (latencies over successful requests
that have the value; cost over requests with a known price, the others counted apart), read through
run_metrics' aggregate columns, so a production p95 means what a run's p95 means. Percentiles are exact.

The judged share comes from the production scorer's rows in `scores` (run_id = the nil UUID): per evaluator,
requests scored and passed, the pass rate with its 95 % Wilson interval, the mean score, judge errors and cost,
over the scored requests sent in the range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from benchlab.analytics.columns import column
from benchlab.analytics.cursor import decode_cursor
from benchlab.analytics.errors import AnalyticsInputError
from benchlab.analytics.quality_stats import wilson_interval
from benchlab.analytics.requests import FIELDS, MAX_PAGE_SIZE, RequestPage, request_row
from benchlab.analytics.run_metrics import MetricColumns, metric_aggregates, metric_columns
from benchlab.analytics.scope import SOURCE, time_scope
from benchlab.analytics.validation import check_time_range, check_whole_number, quantile_levels, resolve_metrics
from benchlab.metrics import METRICS, SUCCEEDED
from benchlab.stores.clickhouse import ClickHouseStore

PRODUCTION = "production"
NIL = UUID(int=0)  # run_id of production rows and of their scores
LATENCIES = ("ttft_ms", "e2e_ms", "tpot_ms")
DEFAULT_PERCENTILES = (50.0, 95.0, 99.0)
CONFIDENCE = 0.95
_COST = METRICS["cost_usd"]
_FAILED = f"NOT ({SUCCEEDED.sql})"
_BEFORE = ("ts <= fromUnixTimestamp64Micro({before_ts:Int64}, 'UTC') AND (ts, event_id) < "
           "(fromUnixTimestamp64Micro({before_ts:Int64}, 'UTC'), {before_event:UUID})")


@dataclass(frozen=True)
class ModelTraffic:
    """Rows are (provider, model) pairs with production requests in the range, ordered by provider then model."""

    provider: list[str]
    model: list[str]
    requests: list[int]
    errors: list[int]
    error_rate: list[float]
    metrics: list[MetricColumns]     # TTFT, E2E, TPOT: benchlab.metrics' rows, exact percentiles
    prompt_tokens: list[int]         # every request
    completion_tokens: list[int]     # every request (a failed one's truncated answer too), as the run summary
    cost_usd: list[float | None]     # requests with a known price; None when no request's price is known
    cost_unknown_requests: list[int]


@dataclass(frozen=True)
class JudgedShare:
    """Rows are evaluators (`overall` first) of the production scores of requests sent in the range."""

    evaluator: list[str]
    evaluator_type: list[str]
    scored: list[int]
    passed: list[int]
    pass_rate: list[float]
    pass_rate_low: list[float]       # 95 % Wilson interval
    pass_rate_high: list[float]
    mean_score: list[float]
    judge_errors: list[int]
    judge_cost_usd: list[float]


@dataclass(frozen=True)
class ProductionTraffic:
    start: datetime
    end: datetime
    percentiles: list[float]
    models: ModelTraffic
    judged: JudgedShare
    scored_requests: int             # distinct requests with a production score
    successful_requests: int         # the requests the sample is drawn from


def _scope(project_id: UUID, start: datetime, end: datetime,
           models: Sequence[str] | None) -> tuple[str, dict[str, Any]]:
    check_time_range(start, end)
    where = time_scope(False) + SOURCE
    parameters: dict[str, Any] = {"project": project_id, "start": start, "end": end, "source": PRODUCTION}
    if models is not None:
        if isinstance(models, str) or not models:
            raise AnalyticsInputError("models", "give a non-empty list of model names, or null for every model")
        where += " AND model IN {models:Array(String)}"
        parameters["models"] = list(models)
    return where, parameters


async def production_traffic(store: ClickHouseStore, project_id: UUID, start: datetime, end: datetime,
                             models: Sequence[str] | None = None,
                             percentiles: Sequence[float] = DEFAULT_PERCENTILES) -> ProductionTraffic:
    """The project's production requests sent in [start, end) (of `models`, None: all) and their scores."""
    where, parameters = _scope(project_id, start, end, models)
    levels, quantile_parameters = quantile_levels(percentiles)
    chosen = resolve_metrics(LATENCIES)
    selected = ["provider", "model", "count()", f"countIf({_FAILED})"]
    for metric in chosen:
        selected += metric_aggregates(metric, levels)
    selected += ["sum(prompt_tokens)", "sum(completion_tokens)", _COST.aggregate("sum"), _COST.count(),
                 f"countIf({SUCCEEDED.sql})"]
    result = await store.query(
        f"SELECT {', '.join(selected)} FROM request_events WHERE {where} GROUP BY provider, model "
        "ORDER BY provider, model", {**parameters, **quantile_parameters}, caller="analytics.production_traffic")
    rows = result.rows
    width = len(metric_aggregates(chosen[0], levels))
    tail = 4 + width * len(chosen)
    requests, errors = [int(n) for n in column(rows, 2)], [int(n) for n in column(rows, 3)]
    priced = [int(n) for n in column(rows, tail + 3)]
    traffic = ModelTraffic(
        provider=column(rows, 0), model=column(rows, 1), requests=requests, errors=errors,
        error_rate=[e / n if n else 0.0 for e, n in zip(errors, requests, strict=True)],
        metrics=[metric_columns(metric, percentiles, rows, 4 + index * width) for index, metric in enumerate(chosen)],
        prompt_tokens=[int(n) for n in column(rows, tail)], completion_tokens=[int(n) for n in column(rows, tail + 1)],
        cost_usd=[float(cost) if known else None for cost, known in zip(column(rows, tail + 2), priced, strict=True)],
        cost_unknown_requests=[n - known for n, known in zip(requests, priced, strict=True)])
    judged, scored = await _judged(store, project_id, start, end, models)
    return ProductionTraffic(start=start, end=end, percentiles=[float(p) for p in percentiles], models=traffic,
                             judged=judged, scored_requests=scored,
                             successful_requests=sum(int(n) for n in column(rows, tail + 4)))


async def _judged(store: ClickHouseStore, project_id: UUID, start: datetime, end: datetime,
                  models: Sequence[str] | None) -> tuple[JudgedShare, int]:
    where = ("project_id = {project:UUID} AND run_id = {nil:UUID} AND ts >= {start:DateTime64(6, 'UTC')} "
             "AND ts < {end:DateTime64(6, 'UTC')}")
    parameters: dict[str, Any] = {"project": project_id, "nil": NIL, "start": start, "end": end}
    if models is not None:
        where += " AND model IN {models:Array(String)}"
        parameters["models"] = list(models)
    result = await store.query(
        "SELECT evaluator, any(evaluator_type), count(), countIf(passed), avg(value), countIf(label = 'judge_error'), "
        f"sum(judge_cost_usd), uniqExact(event_id) FROM scores WHERE {where} AND counterpart = '' "
        "GROUP BY evaluator ORDER BY evaluator = 'overall' DESC, evaluator", parameters,
        caller="analytics.production_judged")
    rows = result.rows
    scored, passed = [int(n) for n in column(rows, 2)], [int(n) for n in column(rows, 3)]
    intervals = [wilson_interval(p, n, CONFIDENCE) or (0.0, 0.0) for p, n in zip(passed, scored, strict=True)]
    share = JudgedShare(
        evaluator=column(rows, 0), evaluator_type=column(rows, 1), scored=scored, passed=passed,
        pass_rate=[p / n for p, n in zip(passed, scored, strict=True)],
        pass_rate_low=[low for low, _ in intervals], pass_rate_high=[high for _, high in intervals],
        mean_score=[float(v) for v in column(rows, 4)], judge_errors=[int(n) for n in column(rows, 5)],
        judge_cost_usd=[float(v) for v in column(rows, 6)])
    requests = max((int(n) for n in column(rows, 7)), default=0)  # every scored request has `overall`
    return share, requests


async def list_production_requests(store: ClickHouseStore, project_id: UUID, start: datetime, end: datetime,
                                   models: Sequence[str] | None, first: int, after: str | None) -> RequestPage:
    """Up to `first` (1..1000) production requests sent in [start, end), newest first, after the row `after`
    (a cursor of this list) points at."""
    check_whole_number(first, 1, MAX_PAGE_SIZE, "first")
    where, parameters = _scope(project_id, start, end, models)
    if after is not None:
        parameters["before_ts"], parameters["before_event"] = decode_cursor(after)
        where += f" AND {_BEFORE}"
    result = await store.query(
        f"SELECT {', '.join(FIELDS)} FROM request_events WHERE {where} ORDER BY ts DESC, event_id DESC "
        "LIMIT {limit:UInt32}", {**parameters, "limit": first + 1}, caller="analytics.production_requests")
    items = [request_row(values) for values in result.dicts()[:first]]
    return RequestPage(items=items, has_next_page=len(result.rows) > first,
                       end_cursor=items[-1].cursor if items else None)


async def count_production_requests(store: ClickHouseStore, project_id: UUID, start: datetime, end: datetime,
                                    models: Sequence[str] | None) -> int:
    where, parameters = _scope(project_id, start, end, models)
    result = await store.query(f"SELECT count() FROM request_events WHERE {where}", parameters,
                               caller="analytics.production_requests_count")
    return int(result.rows[0][0])

