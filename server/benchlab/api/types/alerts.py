"""Alerts as GraphQL types: rules, their firing/resolved history, webhook endpoints and their delivery log.

`Project.alertRules` and `Project.alerts` are for every member (viewers read); `Project.alertWebhooks`, a
webhook's URL and its deliveries are for admins only, because a webhook URL is a credential (Slack keeps the
token in its path). A webhook's signing secret is write-only: only `hasSecret` is ever returned.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any, cast
from uuid import UUID

import strawberry
from strawberry.permission import BasePermission
from strawberry.scalars import JSON
from strawberry.types import Info

from benchlab.alerts.rules import RuleKind, RuleSource, RuleState, condition_text, unit_of
from benchlab.api import lists
from benchlab.api.context import loaders_of
from benchlab.api.ids import encode_global_id
from benchlab.api.pagination import Connection
from benchlab.api.permissions import on_this_project, require_role, require_signed_in
from benchlab.api.types.analytics import Metric
from benchlab.api.types.node import Node, node_type
from benchlab.auth.roles import Role
from benchlab.stores import alerts as alert_store
from benchlab.stores.alerts import AlertEventRecord, AlertRuleRecord
from benchlab.stores.listing import NOT_ARCHIVED, Filter

if TYPE_CHECKING:
    from benchlab.api.types.runs import Experiment

ExperimentRef = Annotated["Experiment", strawberry.lazy("benchlab.api.types.runs")]

strawberry.enum(RuleKind, name="AlertRuleKind", description=(
    "What a rule watches. LATENCY_PERCENTILE: a percentile of a latency metric over the trailing window (ms). "
    "ERROR_RATE: failed ÷ all requests over the trailing window (a fraction). DAILY_COST: the cost of the current "
    "UTC day (USD). GATE_FAILURE: the most recently gated run failed its quality gates. JUDGE_PASS_RATE: passed ÷ "
    "all scores of an evaluator over the trailing window (a fraction); fires when BELOW the threshold."))
strawberry.enum(RuleSource, name="AlertSource", description=(
    "Whose requests count. PRODUCTION: ingested production traffic (`source = 'production'`; for scores, those of "
    "no run). EXPERIMENT: the requests and scores of runs (scheduled ones included). ALL: both."))
strawberry.enum(RuleState, name="AlertRuleState", description="OK, or FIRING since `stateSince`.")


@strawberry.enum(description="A transition of a rule.")
class AlertEventState(Enum):
    FIRING = "firing"
    RESOLVED = "resolved"


@strawberry.enum(description="The body webhooks receive.")
class WebhookFormat(Enum):
    BENCHLAB = cast(str, strawberry.enum_value("benchlab", description="Benchlab's JSON document (docs/alerts.md)."))
    SLACK = cast(str, strawberry.enum_value("slack", description="A Slack incoming-webhook message: `text` and "
                                                                 "`blocks`."))


@strawberry.enum(description="Where a delivery stands.")
class DeliveryStatus(Enum):
    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    FAILED = "failed"


class WebhookAdmin(BasePermission):
    """A webhook's URL and delivery log: admins of its project only."""

    message = "forbidden"

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        require_signed_in(info)
        await require_role(info, source.project_id, Role.ADMIN, "AlertWebhook")
        return True


@strawberry.type(description=(
    "A condition on production or run figures, evaluated every BENCHLAB_ALERTS_INTERVAL_S seconds; it fires "
    "once when the condition starts to hold and resolves once when it stops (docs/alerts.md)."))
class AlertRule(Node):
    db_id: strawberry.Private[UUID]
    project_id: strawberry.Private[UUID]
    experiment_id: strawberry.Private[UUID | None]
    name: str
    kind: RuleKind
    metric: Metric | None = strawberry.field(description="LATENCY_PERCENTILE: the latency metric.")
    percentile: float | None = strawberry.field(description="LATENCY_PERCENTILE: in (0, 100], e.g. 95.")
    threshold: float = strawberry.field(description=(
        "In the kind's unit (`unit`): ms, a fraction 0..1 (ERROR_RATE, JUDGE_PASS_RATE) or USD. 0 for "
        "GATE_FAILURE, which fires on any failed gate."))
    unit: str = strawberry.field(description="`ms`, `fraction`, `USD` or `failed` (GATE_FAILURE).")
    window_minutes: int | None = strawberry.field(description=(
        "Windowed kinds: the figure is computed over the trailing window [now − windowMinutes, now)."))
    min_count: int = strawberry.field(description=(
        "Windowed kinds: the fewest requests (scores) in the window for a figure; with fewer the rule does not "
        "fire, and resolves if it was firing."))
    evaluator: str | None = strawberry.field(description="JUDGE_PASS_RATE: the evaluator's name.")
    source: RuleSource
    model: str | None = strawberry.field(description="Only this model's requests (null: every model).")
    enabled: bool
    state: RuleState
    state_since: datetime = strawberry.field(description="When the rule entered its current state.")
    last_value: float | None = strawberry.field(description=(
        "The figure at the last evaluation, in `unit` (null: none, e.g. fewer than `minCount` requests)."))
    last_count: int | None = strawberry.field(description="Requests (scores, runs) the last figure came from.")
    last_evaluated_at: datetime | None
    condition: str = strawberry.field(description="The rule in words, as notifications say it.")
    created_by: str
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = strawberry.field(description="Set when the rule was deleted (history stays).")

    @classmethod
    def from_row(cls, row: Any) -> AlertRule:
        return cls.of(AlertRuleRecord.from_row(row))

    @classmethod
    def of(cls, rule: AlertRuleRecord) -> AlertRule:
        kind = RuleKind(rule.kind)
        return cls(id=strawberry.ID(encode_global_id("AlertRule", rule.id)), db_id=rule.id,
                   project_id=rule.project_id, experiment_id=rule.experiment_id, name=rule.name, kind=kind,
                   metric=Metric(rule.metric) if rule.metric else None, percentile=rule.percentile,
                   threshold=rule.threshold, unit=unit_of(kind), window_minutes=rule.window_minutes,
                   min_count=rule.min_count, evaluator=rule.evaluator, source=RuleSource(rule.source),
                   model=rule.model, enabled=rule.enabled, state=RuleState(rule.state),
                   state_since=rule.state_since, last_value=rule.last_value, last_count=rule.last_count,
                   last_evaluated_at=rule.last_evaluated_at, condition=condition_text(rule),
                   created_by=rule.created_by, created_at=rule.created_at, updated_at=rule.updated_at,
                   archived_at=rule.archived_at)

    @strawberry.field(description="EXPERIMENT-scoped rules: only this experiment's runs.")
    async def experiment(self, info: Info) -> ExperimentRef | None:
        if self.experiment_id is None:
            return None
        row = await loaders_of(info).row("experiments", self.experiment_id)
        return None if row is None else node_type("Experiment").from_row(row)

    @strawberry.field(description="This rule's transitions, newest first.")
    async def events(self, info: Info, first: int, after: str | None = None) -> Connection[AlertEvent]:
        return await lists.connection(info, alert_store.RULE_ALERT_EVENTS, self.db_id, first, after,
                                      AlertEvent.from_row)


@strawberry.type(description=(
    "A rule's transition: FIRING when its condition started to hold, RESOLVED when it stopped. Both events of "
    "one incident share `incidentId`. The rule's settings at that time are in `details.rule`."))
class AlertEvent(Node):
    db_id: strawberry.Private[UUID]
    project_id: strawberry.Private[UUID]
    rule_id: strawberry.Private[UUID]
    incident_id: strawberry.ID = strawberry.field(description="The id of the incident's FIRING event.")
    state: AlertEventState
    value: float | None = strawberry.field(description="The figure, in `unit` (null: none, see `summary`).")
    count: int | None = strawberry.field(description="Requests (scores, runs) the figure came from.")
    threshold: float
    unit: str
    summary: str = strawberry.field(description="One line, as notifications say it.")
    details: JSON = strawberry.field(description=(
        "`rule` (its settings then), `figure` (window start and end, counts, for GATE_FAILURE the run), and "
        "`reason` when resolved because the rule was disabled or deleted."))
    at: datetime = strawberry.field(description="The evaluation time that made the transition.")

    @classmethod
    def from_row(cls, row: Any) -> AlertEvent:
        return cls.of(AlertEventRecord.from_row(row))

    @classmethod
    def of(cls, event: AlertEventRecord) -> AlertEvent:
        rule = event.details.get("rule") or {}
        return cls(id=strawberry.ID(encode_global_id("AlertEvent", event.id)), db_id=event.id,
                   project_id=event.project_id, rule_id=event.rule_id,
                   incident_id=strawberry.ID(encode_global_id("AlertEvent", event.incident_id)),
                   state=AlertEventState(event.state), value=event.value, count=event.count,
                   threshold=event.threshold, unit=str(rule.get("unit", "")), summary=event.summary,
                   details=JSON(event.details), at=event.at)

    @strawberry.field(description="The rule (also when since deleted: see its `archivedAt`).")
    async def rule(self, info: Info) -> AlertRule:
        return AlertRule.from_row(await loaders_of(info).row("alert_rules", self.rule_id))


@strawberry.type(description=(
    "Where a project's alert notifications are POSTed: every FIRING and RESOLVED event of every rule, signed "
    "with HMAC-SHA256 when a secret is set (docs/alerts.md)."))
class AlertWebhook(Node):
    db_id: strawberry.Private[UUID]
    project_id: strawberry.Private[UUID]
    url_value: strawberry.Private[str]
    name: str
    format: WebhookFormat
    has_secret: bool = strawberry.field(description="A signing secret is stored (encrypted); it is never returned.")
    enabled: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> AlertWebhook:
        return cls(id=strawberry.ID(encode_global_id("AlertWebhook", row["id"])), db_id=row["id"],
                   project_id=row["project_id"], url_value=row["url"], name=row["name"],
                   format=WebhookFormat(row["format"]), has_secret=row["has_secret"], enabled=row["enabled"],
                   created_by=row["created_by"], created_at=row["created_at"], updated_at=row["updated_at"],
                   archived_at=row["archived_at"])

    @strawberry.field(permission_classes=[WebhookAdmin],
                      description="The endpoint (admins only: the URL may carry a token).")
    def url(self) -> str:
        return self.url_value

    @strawberry.field(permission_classes=[WebhookAdmin], description="Deliveries to this endpoint, newest first.")
    async def deliveries(self, info: Info, first: int, after: str | None = None,
                         status: DeliveryStatus | None = None) -> Connection[AlertDelivery]:
        filters: tuple[Filter, ...] = () if status is None else (("status = $?", status.value),)
        return await lists.connection(info, alert_store.WEBHOOK_DELIVERIES, self.db_id, first, after,
                                      AlertDelivery.from_row, filters)


@strawberry.type(description="One HTTP attempt of a delivery.")
class AlertDeliveryAttempt:
    attempt: int = strawberry.field(description="1 for the first; the `Benchlab-Attempt` header.")
    at: datetime = strawberry.field(description="When the attempt ended.")
    status_code: int | None = strawberry.field(description="The receiver's HTTP status (null: no answer).")
    error: str | None = strawberry.field(description="Why it did not count as delivered (null: it did).")
    duration_ms: float


@strawberry.type(description=(
    "One notification to one webhook: sent until a 2xx answer, retried with exponential backoff, `FAILED` after "
    "the last attempt. Every attempt carries the same `deliveryId` and body."))
class AlertDelivery:
    db_id: strawberry.Private[UUID]
    event_id: strawberry.Private[UUID]
    delivery_id: strawberry.ID = strawberry.field(description="The `Benchlab-Delivery` header: dedup on it.")
    status: DeliveryStatus
    attempts: int = strawberry.field(description="Attempts made so far.")
    next_attempt_at: datetime | None = strawberry.field(description="PENDING: when the next attempt is due.")
    created_at: datetime
    finished_at: datetime | None = strawberry.field(description="When it was delivered or given up.")
    body: str = strawberry.field(description="The JSON body sent.")

    @classmethod
    def from_row(cls, row: Any) -> AlertDelivery:
        status = DeliveryStatus(row["status"])
        return cls(db_id=row["id"], event_id=row["event_id"], delivery_id=strawberry.ID(str(row["id"])),
                   status=status, attempts=row["attempts"],
                   next_attempt_at=row["next_attempt_at"] if status is DeliveryStatus.PENDING else None,
                   created_at=row["created_at"], finished_at=row["finished_at"], body=row["body"])

    @strawberry.field(description="The event notified.")
    async def event(self, info: Info) -> AlertEvent:
        return AlertEvent.from_row(await loaders_of(info).row("alert_events", self.event_id))

    @strawberry.field(description="Every attempt, oldest first: status code, error, duration.")
    async def attempt_log(self, info: Info) -> list[AlertDeliveryAttempt]:
        loaders = loaders_of(info)

        async def load(ids: list[UUID]) -> list[list[Any]]:
            found = await alert_store.attempts_of(loaders.db, ids)
            return [found[i] for i in ids]

        rows = await loaders.keyed("alert_delivery_attempts", load).load(self.db_id)
        return [AlertDeliveryAttempt(attempt=row["attempt"], at=row["at"], status_code=row["status_code"],
                                     error=row["error"], duration_ms=row["duration_ms"]) for row in rows]


@strawberry.type(description="A message of the `alerts` subscription.")
class AlertUpdate:
    event: AlertEvent | None = strawberry.field(description="The transition (null on a gap).")
    gap: bool = strawberry.field(description="Messages were lost (slow client, Redis outage): query `alerts`.")
    missed: int = strawberry.field(description="How many were lost, when known.")


@strawberry.type
class ProjectAlerts:
    """The alert fields of `Project` (a mixin of it)."""

    db_id: strawberry.Private[UUID]

    @strawberry.field(permission_classes=[on_this_project(Role.VIEWER)],
                      description="Alert rules, newest first (docs/alerts.md).")
    async def alert_rules(self, info: Info, first: int, after: str | None = None,
                          include_archived: bool = False) -> Connection[AlertRule]:
        filters = () if include_archived else (NOT_ARCHIVED,)
        return await lists.connection(info, alert_store.PROJECT_ALERT_RULES, self.db_id, first, after,
                                      AlertRule.from_row, filters)

    @strawberry.field(permission_classes=[on_this_project(Role.VIEWER)],
                      description="Alert history: every FIRING and RESOLVED event of the project's rules, newest "
                                  "first.")
    async def alerts(self, info: Info, first: int, after: str | None = None,
                     state: AlertEventState | None = None) -> Connection[AlertEvent]:
        filters: tuple[Filter, ...] = () if state is None else (("state = $?", state.value),)
        return await lists.connection(info, alert_store.PROJECT_ALERT_EVENTS, self.db_id, first, after,
                                      AlertEvent.from_row, filters)

    @strawberry.field(permission_classes=[on_this_project(Role.ADMIN)],
                      description="Webhook endpoints for alert notifications, newest first.")
    async def alert_webhooks(self, info: Info, first: int, after: str | None = None,
                             include_archived: bool = False) -> Connection[AlertWebhook]:
        filters = () if include_archived else (NOT_ARCHIVED,)
        return await lists.connection(info, alert_store.PROJECT_ALERT_WEBHOOKS, self.db_id, first, after,
                                      AlertWebhook.from_row, filters)
