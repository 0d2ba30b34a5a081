"""The figure each rule watches, computed where the data lives: one ClickHouse query per rule over
`request_events` or `scores` (a GATE_FAILURE rule reads the runs' gate outcomes in PostgreSQL, where the gating
records them).

Which requests count is `benchlab.metrics`' decision, not this module's: a latency percentile takes exactly the
rows its metric's condition takes and the one quantile method (`quantilesExactInclusive`), the daily cost the
rows with a known price, so an alert's p95 is the number `latencySeries` shows for the same requests. Rows are
those of the measurement window (`in_window`, always true for production traffic), as in every summary.

Scope: PRODUCTION is `source = 'production'` for requests and the scores of no run (`run_id` = the nil UUID,
production traffic scored by sampling); EXPERIMENT is everything else; a model or experiment narrows further.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from benchlab.alerts.rules import NIL_UUID, RuleKind, RuleSource
from benchlab.analytics.validation import quantile_levels
from benchlab.metrics import METRICS, SUCCEEDED
from benchlab.stores import alerts as alert_store
from benchlab.stores.alerts import AlertRuleRecord
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.postgres import PgConnection

_WINDOW = ("project_id = {project:UUID} AND ts >= {start:DateTime64(6, 'UTC')} "
           "AND ts < {end:DateTime64(6, 'UTC')}")
_COST = METRICS["cost_usd"]


@dataclass(frozen=True)
class Figure:
    """What a rule's evaluation found: the value (None: no figure, e.g. too few requests), how many requests
    or scores it came from, the window, and details a notification shows."""

    value: float | None
    count: int
    start: datetime | None = None
    end: datetime | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"count": self.count, "window_start": self.start and self.start.isoformat(),
                "window_end": self.end and self.end.isoformat(), **self.details}


async def compute(rule: AlertRuleRecord, now: datetime, clickhouse: ClickHouseStore,
                  conn: PgConnection) -> Figure:
    """The rule's figure at `now` (an aware UTC time)."""
    kind = RuleKind(rule.kind)
    if kind is RuleKind.GATE_FAILURE:
        return await _gate_failure(rule, conn)
    if kind is RuleKind.DAILY_COST:
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        assert rule.window_minutes is not None  # checked when the rule was stored
        start = now - timedelta(minutes=rule.window_minutes)
    if kind is RuleKind.JUDGE_PASS_RATE:
        return await _pass_rate(rule, start, now, clickhouse)
    return await _requests(rule, kind, start, now, clickhouse)


def _binds(rule: AlertRuleRecord, start: datetime, end: datetime) -> dict[str, Any]:
    binds: dict[str, Any] = {"project": rule.project_id, "start": start, "end": end}
    if rule.model is not None:
        binds["model"] = rule.model
    if rule.experiment_id is not None:
        binds["experiment"] = rule.experiment_id
    return binds


def _narrowing(rule: AlertRuleRecord, source_condition: str | None) -> str:
    conditions = [] if source_condition is None else [source_condition]
    if rule.model is not None:
        conditions.append("model = {model:String}")
    if rule.experiment_id is not None:
        conditions.append("experiment_id = {experiment:UUID}")
    return "".join(f" AND {condition}" for condition in conditions)


def _request_source(rule: AlertRuleRecord) -> str | None:
    source = RuleSource(rule.source)
    if source is RuleSource.PRODUCTION:
        return "source = 'production'"
    return None if source is RuleSource.ALL else "source != 'production'"


async def _requests(rule: AlertRuleRecord, kind: RuleKind, start: datetime, end: datetime,
                    clickhouse: ClickHouseStore) -> Figure:
    binds = _binds(rule, start, end)
    where = f"{_WINDOW} AND in_window{_narrowing(rule, _request_source(rule))}"
    if kind is RuleKind.LATENCY_PERCENTILE:
        assert rule.metric is not None and rule.percentile is not None
        metric = METRICS[rule.metric]
        levels, parameters = quantile_levels([rule.percentile])
        select = f"{metric.count()}, {metric.quantiles(levels)}[1]"
        binds.update(parameters)
    elif kind is RuleKind.ERROR_RATE:
        select = f"count(), countIf(NOT ({SUCCEEDED.sql}))"
    else:
        select = f"{_COST.count()}, {_COST.aggregate('sum')}, countIf(NOT {_COST.condition})"
    result = await clickhouse.query(f"SELECT {select} FROM request_events WHERE {where}", binds,
                                    caller=f"alert-{kind.value}")
    row = result.rows[0]
    count = int(row[0])
    if kind is RuleKind.LATENCY_PERCENTILE:
        assert rule.metric is not None
        enough = count >= max(rule.min_count, 1)
        return Figure(METRICS[rule.metric].clean(row[1]) if enough else None, count, start, end,
                      {"min_count": rule.min_count})
    if kind is RuleKind.ERROR_RATE:
        errors = int(row[1])
        enough = count >= max(rule.min_count, 1)
        return Figure(errors / count if enough else None, count, start, end,
                      {"errors": errors, "min_count": rule.min_count})
    return Figure(float(row[1]), count, start, end, {"cost_unknown_requests": int(row[2])})


async def _pass_rate(rule: AlertRuleRecord, start: datetime, end: datetime, clickhouse: ClickHouseStore) -> Figure:
    binds = {**_binds(rule, start, end), "evaluator": rule.evaluator, "nil": NIL_UUID}
    source = RuleSource(rule.source)
    source_condition = {RuleSource.PRODUCTION: "run_id = {nil:UUID}", RuleSource.EXPERIMENT: "run_id != {nil:UUID}",
                        RuleSource.ALL: None}[source]
    # Every score row of the evaluator counts, failed requests' and judge errors' too (as in a run's scores
    # summary: analytics/score_summary.py); pairwise verdicts have no pass rate.
    where = (f"{_WINDOW} AND evaluator = {{evaluator:String}} AND evaluator_type != 'pairwise'"
             f"{_narrowing(rule, source_condition)}")
    result = await clickhouse.query(f"SELECT count(), countIf(passed) FROM scores WHERE {where}", binds,
                                    caller="alert-judge_pass_rate")
    count, passed = (int(value) for value in result.rows[0])
    enough = count >= max(rule.min_count, 1)
    return Figure(passed / count if enough else None, count, start, end,
                  {"passed": passed, "min_count": rule.min_count, "evaluator": rule.evaluator})


async def _gate_failure(rule: AlertRuleRecord, conn: PgConnection) -> Figure:
    run = await alert_store.latest_gated_run(conn, rule.project_id, rule.experiment_id)
    if run is None:
        return Figure(None, 0)
    return Figure(1.0 if run["gate_status"] == "failed" else 0.0, 1, None, run["gated_at"], {
        "run_id": str(run["id"]), "experiment_id": str(run["experiment_id"]),
        "gate_counts": run["counts"] or {}, "gated_at": run["gated_at"].isoformat()})
