"""Alert mutations: rules (members manage them, like experiments) and webhook endpoints (admins: a webhook URL and
its signing secret are credentials, like a provider's API key). Each runs in one transaction with its audit
entry; secrets never reach the audit log, and a webhook URL appears there only as its scheme and host.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from benchlab.alerts import manage
from benchlab.alerts.evaluator import publish_event
from benchlab.alerts.rules import RuleKind, RuleSource, check_rule
from benchlab.alerts.webhooks import shown_url
from benchlab.api.auditing import client_address
from benchlab.api.context import identity_of, runtime_of
from benchlab.api.ids import expect_id
from benchlab.api.node_lookup import reload
from benchlab.api.permissions import project_role
from benchlab.api.types.alerts import AlertEvent, AlertRule, AlertWebhook, WebhookFormat
from benchlab.api.types.analytics import Metric
from benchlab.auth.audit import record
from benchlab.auth.roles import Role
from benchlab.stores.alerts import AlertEventRecord
from benchlab.stores.postgres import PgConnection

_EXPERIMENT = "Optional: only this experiment's runs (EXPERIMENT or ALL sources)."


@strawberry.input(description="A new alert rule; which fields a kind takes is in AlertRuleKind and docs/alerts.md.")
class CreateAlertRuleInput:
    project_id: strawberry.ID
    name: str = strawberry.field(description="1 to 200 characters, unique among the project's rules.")
    kind: RuleKind
    threshold: float | None = strawberry.field(default=None, description=(
        "LATENCY_PERCENTILE: ms (fires above). ERROR_RATE: a fraction 0..1 (fires above). DAILY_COST: USD (fires "
        "above). JUDGE_PASS_RATE: a fraction 0..1 (fires BELOW). GATE_FAILURE: leave out."))
    source: RuleSource | None = strawberry.field(default=None, description=(
        "Required except for GATE_FAILURE (which watches runs)."))
    metric: Metric | None = strawberry.field(default=None, description="LATENCY_PERCENTILE: a latency metric.")
    percentile: float | None = strawberry.field(default=None, description="LATENCY_PERCENTILE: in (0, 100].")
    window_minutes: int | None = strawberry.field(default=None, description=(
        "LATENCY_PERCENTILE, ERROR_RATE, JUDGE_PASS_RATE: 1 to 1440; the figure is computed over the trailing "
        "window [now − windowMinutes, now)."))
    min_count: int | None = strawberry.field(default=None, description=(
        "Windowed kinds: the fewest requests (scores) in the window for a figure (default 20)."))
    evaluator: str | None = strawberry.field(default=None, description="JUDGE_PASS_RATE: the evaluator's name.")
    experiment_id: strawberry.ID | None = strawberry.field(default=None, description=_EXPERIMENT)
    model: str | None = strawberry.field(default=None, description="Optional: only this model's requests.")
    enabled: bool = True


@strawberry.input(description="Omitted fields stay as they are; `null` clears the optional ones. The kind cannot "
                              "change: create another rule.")
class UpdateAlertRuleInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    threshold: float | None = strawberry.UNSET
    source: RuleSource | None = strawberry.UNSET
    metric: Metric | None = strawberry.UNSET
    percentile: float | None = strawberry.UNSET
    window_minutes: int | None = strawberry.UNSET
    min_count: int | None = strawberry.UNSET
    evaluator: str | None = strawberry.UNSET
    experiment_id: strawberry.ID | None = strawberry.UNSET
    model: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.field(default=strawberry.UNSET, description=(
        "false: stop evaluating; a FIRING rule is resolved at once (and notified)."))


@strawberry.input
class CreateAlertWebhookInput:
    project_id: strawberry.ID
    name: str = strawberry.field(description="1 to 200 characters, unique among the project's webhooks.")
    url: str = strawberry.field(description="http(s) URL the notifications are POSTed to.")
    format: WebhookFormat = WebhookFormat.BENCHLAB
    secret: str | None = strawberry.field(default=None, description=(
        "16 to 512 characters: signs every body (`Benchlab-Signature`). Stored encrypted; never returned."))
    enabled: bool = True


@strawberry.input(description="Omitted fields stay as they are; `secret: null` removes the stored secret.")
class UpdateAlertWebhookInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    url: str | None = strawberry.UNSET
    format: WebhookFormat | None = strawberry.UNSET
    secret: str | None = strawberry.field(default=strawberry.UNSET, description=(
        "A new secret (stored encrypted, never returned), or null to send unsigned bodies."))
    enabled: bool | None = strawberry.UNSET


@strawberry.type
class AlertRulePayload:
    alert_rule: AlertRule
    resolved: AlertEvent | None = strawberry.field(description=(
        "The RESOLVED event recorded because this change disabled or deleted a FIRING rule."))


@strawberry.type
class AlertWebhookPayload:
    alert_webhook: AlertWebhook


def _unchanged(value: Any) -> Any:
    return manage.UNCHANGED if value is strawberry.UNSET else value


def _required(value: Any) -> Any:
    """Settings a rule cannot be without (name, enabled): omitted or null both leave them as they are."""
    return manage.UNCHANGED if value is strawberry.UNSET or value is None else value


@strawberry.type
class AlertMutations:
    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.project_id", "Project")],
                         description="Create an alert rule; it is evaluated at the next tick.")
    async def create_alert_rule(self, info: Info, input: CreateAlertRuleInput) -> AlertRulePayload:
        project_id = expect_id(input.project_id, "Project", "projectId")
        experiment_id = None if input.experiment_id is None else expect_id(input.experiment_id, "Experiment",
                                                                            "experimentId")
        settings = check_rule(input.name, input.kind, threshold=input.threshold, source=input.source,
                              metric=input.metric.value if input.metric else None, percentile=input.percentile,
                              window_minutes=input.window_minutes, min_count=input.min_count,
                              evaluator=input.evaluator, experiment_id=experiment_id, model=input.model,
                              enabled=input.enabled)
        async with runtime_of(info).pg.acquire() as conn, conn.transaction():
            rule = await manage.create_rule(conn, project_id, settings, identity_of(info).actor)
            await _audit(info, conn, "alert_rule.create", rule.name, project_id, rule=str(rule.id),
                         kind=rule.kind, threshold=rule.threshold)
        return AlertRulePayload(alert_rule=await reload(info, AlertRule, rule.id), resolved=None)

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.id", "AlertRule")],
                         description="Change an alert rule; it is evaluated again at the next tick.")
    async def update_alert_rule(self, info: Info, input: UpdateAlertRuleInput) -> AlertRulePayload:
        rule_id = expect_id(input.id, "AlertRule")
        changes: dict[str, Any] = {
            "name": _required(input.name), "threshold": _unchanged(input.threshold),
            "source": _unchanged(input.source), "percentile": _unchanged(input.percentile),
            "window_minutes": _unchanged(input.window_minutes), "min_count": _unchanged(input.min_count),
            "evaluator": _unchanged(input.evaluator), "model": _unchanged(input.model),
            "enabled": _required(input.enabled),
            "metric": _unchanged(input.metric if not input.metric else input.metric.value),
            "experiment_id": _unchanged(input.experiment_id if not input.experiment_id else expect_id(
                input.experiment_id, "Experiment", "experimentId"))}
        runtime = runtime_of(info)
        async with runtime.pg.acquire() as conn, conn.transaction():
            project_id = await _project_of(conn, "alert_rules", rule_id)
            change = await manage.update_rule(conn, project_id, rule_id, runtime.settings.public_url, **changes)
            await _audit(info, conn, "alert_rule.update", change.rule.name, project_id, rule=str(rule_id),
                         changed=sorted(key for key, value in changes.items() if value is not manage.UNCHANGED))
        await _announce(info, change.resolved)
        return AlertRulePayload(alert_rule=await reload(info, AlertRule, rule_id),
                                resolved=None if change.resolved is None else AlertEvent.of(change.resolved))

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "id", "AlertRule")],
                         description="Delete an alert rule: it is no longer evaluated; its history stays in "
                                     "`Project.alerts`. A FIRING rule is resolved first (and notified).")
    async def delete_alert_rule(self, info: Info, id: strawberry.ID) -> AlertRulePayload:
        rule_id = expect_id(id, "AlertRule")
        runtime = runtime_of(info)
        async with runtime.pg.acquire() as conn, conn.transaction():
            project_id = await _project_of(conn, "alert_rules", rule_id)
            change = await manage.delete_rule(conn, project_id, rule_id, runtime.settings.public_url)
            await _audit(info, conn, "alert_rule.delete", change.rule.name, project_id, rule=str(rule_id))
        await _announce(info, change.resolved)
        return AlertRulePayload(alert_rule=await reload(info, AlertRule, rule_id),
                                resolved=None if change.resolved is None else AlertEvent.of(change.resolved))

    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "input.project_id", "Project")],
                         description="Add a webhook endpoint: every alert event of the project is POSTed to it.")
    async def create_alert_webhook(self, info: Info, input: CreateAlertWebhookInput) -> AlertWebhookPayload:
        project_id = expect_id(input.project_id, "Project", "projectId")
        runtime = runtime_of(info)
        async with runtime.pg.acquire() as conn, conn.transaction():
            webhook = await manage.create_webhook(conn, project_id, runtime.secrets, name=input.name, url=input.url,
                                                  format=input.format.value, secret=input.secret,
                                                  enabled=input.enabled, created_by=identity_of(info).actor)
            await _audit(info, conn, "alert_webhook.create", webhook.name, project_id, webhook=str(webhook.id),
                         endpoint=shown_url(webhook.url), format=webhook.format, signed=webhook.has_secret)
        return AlertWebhookPayload(alert_webhook=await reload(info, AlertWebhook, webhook.id))

    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "input.id", "AlertWebhook")],
                         description="Change a webhook endpoint; set, replace or remove its secret.")
    async def update_alert_webhook(self, info: Info, input: UpdateAlertWebhookInput) -> AlertWebhookPayload:
        webhook_id = expect_id(input.id, "AlertWebhook")
        runtime = runtime_of(info)
        async with runtime.pg.acquire() as conn, conn.transaction():
            project_id = await _project_of(conn, "alert_webhooks", webhook_id)
            webhook = await manage.update_webhook(
                conn, project_id, webhook_id, runtime.secrets, name=_required(input.name), url=_required(input.url),
                format=_required(input.format and input.format.value), secret=_unchanged(input.secret),
                enabled=_required(input.enabled))
            secret_change = (None if input.secret is strawberry.UNSET
                             else "cleared" if input.secret is None else "set")
            await _audit(info, conn, "alert_webhook.update", webhook.name, project_id, webhook=str(webhook_id),
                         endpoint=shown_url(webhook.url), secret=secret_change)
        return AlertWebhookPayload(alert_webhook=await reload(info, AlertWebhook, webhook_id))

    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "id", "AlertWebhook")],
                         description="Delete a webhook endpoint: nothing more is sent to it.")
    async def delete_alert_webhook(self, info: Info, id: strawberry.ID) -> AlertWebhookPayload:
        webhook_id = expect_id(id, "AlertWebhook")
        async with runtime_of(info).pg.acquire() as conn, conn.transaction():
            project_id = await _project_of(conn, "alert_webhooks", webhook_id)
            webhook = await manage.delete_webhook(conn, project_id, webhook_id)
            await _audit(info, conn, "alert_webhook.delete", webhook.name, project_id, webhook=str(webhook_id))
        return AlertWebhookPayload(alert_webhook=await reload(info, AlertWebhook, webhook_id))


async def _project_of(conn: PgConnection, table: str, row_id: UUID) -> UUID:
    """The project of a row the permission check found (so it exists)."""
    project_id: UUID = await conn.fetchval(f"SELECT project_id FROM {table} WHERE id = $1", row_id)
    return project_id


async def _audit(info: Info, conn: PgConnection, action: str, target: str, project_id: UUID, **details: Any) -> None:
    await record(conn, actor=identity_of(info).actor, action=action, target=target, project_id=project_id,
                 address=client_address(info), **details)


async def _announce(info: Info, event: AlertEventRecord | None) -> None:
    if event is not None:
        await publish_event(runtime_of(info).hub, event)
