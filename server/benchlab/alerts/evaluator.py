"""Evaluate alert rules on a schedule and record their transitions exactly once, whatever the number of replicas.

Every `interval_s` each process with alerts on runs `tick()`:
1. claim the rules that are due (not evaluated for 90 % of the interval), marking them evaluated in the same
   statement under `FOR UPDATE SKIP LOCKED`, so replicas ticking together share the rules instead of all
   computing every figure;
2. compute each rule's figure (figures.py: one ClickHouse query per rule);
3. when the figure breaches and the rule is ok, fire; when it no longer does and the rule is firing, resolve.
   A transition is a conditional UPDATE (`state = 'ok'`, or `firing_event_id = <incident>`) that inserts the
   event with it, and the outbox rows for the project's webhooks are inserted in the same transaction: if two
   replicas evaluate the same rule at once anyway (a claim raced a rule's edit, clocks disagree), only one
   UPDATE matches, so one event and one set of notifications; and a crash before the commit leaves neither.
4. after the commit, the event is published on the realtime hub (channel `alerts:<project id>`), which the
   `alerts` GraphQL subscription follows on every replica. The hub is best effort (a Redis outage reaches
   subscribers as a gap marker); the webhooks are the durable path.

The clock is injectable (`clock`), so tests move time instead of waiting; the evaluation time is what the window
ends at and what the events record.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from benchlab.alerts import payloads
from benchlab.alerts.figures import Figure, compute
from benchlab.alerts.rules import RuleKind, RuleState, breaches, condition_text, unit_of, value_text
from benchlab.realtime.hub import Hub
from benchlab.stores import alerts as alert_store
from benchlab.stores.alerts import AlertEventRecord, AlertRuleRecord
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.postgres import PgConnection

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
CHANNEL_PREFIX = "alerts:"
DUE_FRACTION = 0.9   # a rule is due once 90 % of the interval passed since its last evaluation (loop jitter)
BATCH = 200          # rules claimed per statement; a tick claims until none is due


def utc_now() -> datetime:
    return datetime.now(UTC)


def alerts_channel(project_id: uuid.UUID) -> str:
    return f"{CHANNEL_PREFIX}{project_id}"


class Evaluator:
    def __init__(self, pg: asyncpg.Pool, clickhouse: ClickHouseStore, hub: Hub, *, public_url: str,
                 interval_s: float, clock: Clock = utc_now, on_enqueued: Callable[[], None] | None = None) -> None:
        """`on_enqueued` is called after a transition put deliveries in the outbox (wakes this process's sender)."""
        self.pg = pg
        self.clickhouse = clickhouse
        self.hub = hub
        self.public_url = public_url
        self.interval_s = interval_s
        self.clock = clock
        self.on_enqueued = on_enqueued

    async def tick(self) -> list[AlertEventRecord]:
        """Evaluate every due rule once; returns the transitions this process recorded."""
        now = self.clock()
        recorded: list[AlertEventRecord] = []
        while True:
            async with self.pg.acquire() as conn:
                rules = await alert_store.claim_due_rules(conn, now, self.interval_s * DUE_FRACTION, BATCH)
            for rule in rules:
                try:
                    event = await self.evaluate(rule, now)
                except Exception:  # one broken rule or an unreachable store must not stop the others
                    log.exception("alert rule %s (%s) could not be evaluated", rule.id, rule.kind)
                    continue
                if event is not None:
                    recorded.append(event)
            if len(rules) < BATCH:
                return recorded

    async def evaluate(self, rule: AlertRuleRecord, now: datetime) -> AlertEventRecord | None:
        """Compute the rule's figure at `now` and record the transition it calls for, if any."""
        async with self.pg.acquire() as conn:
            figure = await compute(rule, now, self.clickhouse, conn)
            await alert_store.record_figure(conn, rule.id, figure.value, figure.count)
            kind = RuleKind(rule.kind)
            breached = breaches(kind, figure.value, rule.threshold)
            event = None
            if breached and rule.state == RuleState.OK.value:
                event = await record_transition(conn, rule, RuleState.FIRING, figure, now, self.public_url)
            elif not breached and rule.state == RuleState.FIRING.value:
                event = await record_transition(conn, rule, None, figure, now, self.public_url)
        if event is not None:
            log.info("alert %s: rule %s (%s) %s, figure: %s", event.id, rule.id, rule.name, event.state,
                     value_text(kind, figure.value))
            await self.announce(event)
        return event

    async def announce(self, event: AlertEventRecord) -> None:
        """After the commit: tell subscribers (best effort) and wake the sender."""
        await publish_event(self.hub, event)
        if self.on_enqueued is not None:
            self.on_enqueued()

    async def run(self) -> None:
        """`tick()` every `interval_s` until cancelled, the first one interval after the start (a process that
        only starts and stops, like a CLI-embedded app, evaluates nothing); a failed tick is logged and the next
        one comes anyway."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.tick()
            except Exception:  # e.g. PostgreSQL briefly unreachable: try again next time
                log.exception("alert evaluation failed; retrying in %g s", self.interval_s)


async def record_transition(conn: PgConnection, rule: AlertRuleRecord, state: RuleState | None,
                            figure: Figure | None, at: datetime, public_url: str,
                            reason: str | None = None) -> AlertEventRecord | None:
    """Fire (`state` FIRING) or resolve (None) `rule` with its event and one outbox row per active webhook of the
    project, in one transaction; None when another writer made the transition first (nothing is written then).

    `figure` None with a `reason`: resolved because the rule was disabled or deleted.
    """
    value = None if figure is None else figure.value
    count = None if figure is None else figure.count
    firing = state is RuleState.FIRING
    details = _details(rule, figure, reason)
    summary = _summary(rule, firing, figure, reason)
    async with conn.transaction():
        if firing:
            event = await alert_store.fire(conn, rule.id, at, value, count, rule.threshold, summary, details)
        else:
            if rule.firing_event_id is None:
                return None
            event = await alert_store.resolve(conn, rule.id, rule.firing_event_id, at, value, count, rule.threshold,
                                              summary, details)
        if event is None:
            return None
        webhooks = await alert_store.active_webhooks(conn, rule.project_id)
        if webhooks:
            row = await alert_store.project_info(conn, rule.project_id)
            project = payloads.ProjectInfo(row["id"], row["slug"], row["name"])
            for webhook in webhooks:
                delivery_id = uuid.uuid4()
                body = payloads.render(webhook.format, event, project, delivery_id, public_url)
                await alert_store.enqueue_delivery(conn, delivery_id, event, webhook.id, body)
    return event


async def publish_event(hub: Hub, event: AlertEventRecord) -> None:
    """The event on `alerts:<project id>`; a failed publish is logged (subscribers then see a gap)."""
    try:
        await hub.publish(alerts_channel(event.project_id), {"type": "alert", "event": event_message(event)})
    except Exception:  # Redis down: the event is stored and the webhooks go out regardless
        log.warning("alert %s could not be published to subscribers", event.id, exc_info=True)


def event_message(event: AlertEventRecord) -> dict[str, Any]:
    """An event as JSON (the realtime message, read back by the subscription with `event_from_message`)."""
    return {"id": str(event.id), "project_id": str(event.project_id), "rule_id": str(event.rule_id),
            "incident_id": str(event.incident_id), "state": event.state, "value": event.value, "count": event.count,
            "threshold": event.threshold, "summary": event.summary, "details": event.details,
            "at": event.at.isoformat()}


def event_from_message(message: dict[str, Any]) -> AlertEventRecord:
    return AlertEventRecord(
        id=uuid.UUID(message["id"]), project_id=uuid.UUID(message["project_id"]),
        rule_id=uuid.UUID(message["rule_id"]), incident_id=uuid.UUID(message["incident_id"]),
        state=str(message["state"]), value=message.get("value"), count=message.get("count"),
        threshold=float(message["threshold"]), summary=str(message["summary"]), details=dict(message["details"]),
        at=datetime.fromisoformat(message["at"]))


def _details(rule: AlertRuleRecord, figure: Figure | None, reason: str | None) -> dict[str, Any]:
    kind = RuleKind(rule.kind)
    snapshot = {"name": rule.name, "kind": kind.name, "metric": rule.metric, "percentile": rule.percentile,
                "window_minutes": rule.window_minutes, "min_count": rule.min_count, "evaluator": rule.evaluator,
                "experiment_id": rule.experiment_id and str(rule.experiment_id), "source": rule.source.upper(),
                "model": rule.model, "unit": unit_of(kind), "condition": condition_text(rule)}
    details: dict[str, Any] = {
        "rule": snapshot, "figure": None if figure is None else figure.as_json(),
        "value_text": value_text(kind, None if figure is None else figure.value),
        "threshold_text": "any failed gate" if kind is RuleKind.GATE_FAILURE else value_text(kind, rule.threshold)}
    if reason:
        details["reason"] = reason
    return details


def _summary(rule: AlertRuleRecord, firing: bool, figure: Figure | None, reason: str | None) -> str:
    kind = RuleKind(rule.kind)
    head = f"{'FIRING' if firing else 'RESOLVED'}: {rule.name}"
    if reason:
        return f"{head}: {reason}"
    assert figure is not None
    if kind is RuleKind.GATE_FAILURE:
        run = figure.details.get("run_id")
        if firing:
            return f"{head}: run {run} failed its quality gates"
        return f"{head}: the latest gated run {run} passed" if run else f"{head}: no gated run"
    what = "scores" if kind is RuleKind.JUDGE_PASS_RATE else "requests"
    if figure.value is None:
        return (f"{head}: {figure.count} {what} in the window, fewer than the {rule.min_count} needed for a figure "
                f"({condition_text(rule)})")
    return f"{head}: {value_text(kind, figure.value)} from {figure.count} {what} ({condition_text(rule)})"
