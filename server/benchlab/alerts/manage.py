"""Creating, changing and deleting alert rules and webhook endpoints: the commands behind the API's mutations.

Each runs in the caller's transaction. A rule that is disabled or deleted while firing is resolved there and
then (with its event and notifications), so no incident stays open for a rule nobody evaluates any more; the
caller publishes the returned event once its transaction committed. Webhook secrets are encrypted here and
never read back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from benchlab.alerts.evaluator import record_transition
from benchlab.alerts.payloads import FORMATS
from benchlab.alerts.rules import RuleKind, RuleSettings, RuleSource, RuleState, check_rule
from benchlab.alerts.webhooks import check_secret, check_url
from benchlab.errors import ConflictError, InvalidInputError, NotFoundError
from benchlab.secrets import SecretBox
from benchlab.stores import alerts as alert_store
from benchlab.stores.alerts import AlertEventRecord, AlertRuleRecord, WebhookRecord
from benchlab.stores.postgres import PgConnection

UNCHANGED: Any = object()   # an update leaves this setting as it is


@dataclass(frozen=True)
class RuleChange:
    rule: AlertRuleRecord
    resolved: AlertEventRecord | None   # the incident closed because the rule was disabled or deleted


async def create_rule(conn: PgConnection, project_id: UUID, settings: RuleSettings, created_by: str) -> AlertRuleRecord:
    await _check_experiment(conn, project_id, settings.experiment_id)
    try:
        async with conn.transaction():
            return await alert_store.insert_rule(conn, project_id, settings.as_columns(), created_by)
    except asyncpg.UniqueViolationError:
        raise ConflictError(f"name: the project has an alert rule named {settings.name!r}; pick another name or "
                            "update that rule", argument="name") from None


async def update_rule(conn: PgConnection, project_id: UUID, rule_id: UUID, public_url: str,
                      **changes: Any) -> RuleChange:
    """Apply `changes` (setting name -> value; UNCHANGED leaves one as it is), checked as a whole rule."""
    rule = await _rule(conn, project_id, rule_id)
    current = {"name": rule.name, "threshold": None if rule.kind == RuleKind.GATE_FAILURE.value else rule.threshold,
               "source": None if rule.kind == RuleKind.GATE_FAILURE.value else RuleSource(rule.source),
               "metric": rule.metric, "percentile": rule.percentile, "window_minutes": rule.window_minutes,
               "min_count": rule.min_count if rule.window_minutes is not None else None,
               "evaluator": rule.evaluator, "experiment_id": rule.experiment_id, "model": rule.model,
               "enabled": rule.enabled}
    merged: dict[str, Any] = {key: current[key] if changes.get(key, UNCHANGED) is UNCHANGED else changes[key]
                              for key in current}
    settings = check_rule(merged.pop("name"), RuleKind(rule.kind), **merged)
    await _check_experiment(conn, project_id, settings.experiment_id)
    resolved = None
    if not settings.enabled:
        resolved = await _resolve_if_firing(conn, rule, public_url, "the rule was disabled")
    try:
        async with conn.transaction():
            updated = await alert_store.update_rule(conn, rule.id, settings.as_columns())
    except asyncpg.UniqueViolationError:
        raise ConflictError(f"name: the project has another alert rule named {settings.name!r}",
                            argument="name") from None
    return RuleChange(updated, resolved)


async def delete_rule(conn: PgConnection, project_id: UUID, rule_id: UUID, public_url: str) -> RuleChange:
    """Archive the rule (its history stays readable); a firing rule is resolved first."""
    rule = await _rule(conn, project_id, rule_id)
    resolved = await _resolve_if_firing(conn, rule, public_url, "the rule was deleted")
    return RuleChange(await alert_store.archive_rule(conn, rule.id), resolved)


async def _resolve_if_firing(conn: PgConnection, rule: AlertRuleRecord, public_url: str,
                             reason: str) -> AlertEventRecord | None:
    if rule.state != RuleState.FIRING.value:
        return None
    return await record_transition(conn, rule, None, None, datetime.now(UTC), public_url, reason)


async def _rule(conn: PgConnection, project_id: UUID, rule_id: UUID) -> AlertRuleRecord:
    rule = await alert_store.find_rule(conn, project_id, rule_id, for_update=True)
    if rule is None or rule.archived_at is not None:
        raise NotFoundError("id: no such alert rule in the project; it may have been deleted", argument="id")
    return rule


async def _check_experiment(conn: PgConnection, project_id: UUID, experiment_id: UUID | None) -> None:
    if experiment_id is None:
        return
    found = await conn.fetchval("SELECT true FROM experiments WHERE id = $1 AND project_id = $2", experiment_id,
                                project_id)
    if not found:
        raise NotFoundError("experimentId: no such experiment in this rule's project", argument="experimentId")


def check_webhook(name: str, url: str, format: str) -> tuple[str, str, str]:
    problems = []
    name = name.strip()
    if not 1 <= len(name) <= 200:
        problems.append("name: 1 to 200 characters, not blank")
    try:
        url = check_url(url)
    except InvalidInputError as exc:
        problems.append(str(exc))
    if format not in FORMATS:
        problems.append(f"format: one of {', '.join(FORMATS)}")
    if problems:
        raise InvalidInputError(problems)
    return name, url, format


async def create_webhook(conn: PgConnection, project_id: UUID, box: SecretBox, *, name: str, url: str, format: str,
                         secret: str | None, enabled: bool, created_by: str) -> WebhookRecord:
    name, url, format = check_webhook(name, url, format)
    encrypted = None if secret is None else box.encrypt(check_secret(secret))
    try:
        async with conn.transaction():
            return await alert_store.insert_webhook(conn, project_id, name, url, format, encrypted, enabled,
                                                    created_by)
    except asyncpg.UniqueViolationError:
        raise ConflictError(f"name: the project has a webhook named {name!r}; pick another name",
                            argument="name") from None


async def update_webhook(conn: PgConnection, project_id: UUID, webhook_id: UUID, box: SecretBox, *,
                         name: Any = UNCHANGED, url: Any = UNCHANGED, format: Any = UNCHANGED,
                         secret: Any = UNCHANGED, enabled: Any = UNCHANGED) -> WebhookRecord:
    """New settings; `secret` None removes the stored one, UNCHANGED keeps it."""
    webhook = await _webhook(conn, project_id, webhook_id)
    name, url, format = check_webhook(webhook.name if name is UNCHANGED else name,
                                      webhook.url if url is UNCHANGED else url,
                                      webhook.format if format is UNCHANGED else format)
    replace = secret is not UNCHANGED
    encrypted = None if not replace or secret is None else box.encrypt(check_secret(secret))
    try:
        async with conn.transaction():
            return await alert_store.update_webhook(conn, webhook.id, name, url, format,
                                                    webhook.enabled if enabled is UNCHANGED else bool(enabled),
                                                    replace_secret=replace, secret_encrypted=encrypted)
    except asyncpg.UniqueViolationError:
        raise ConflictError(f"name: the project has another webhook named {name!r}", argument="name") from None


async def delete_webhook(conn: PgConnection, project_id: UUID, webhook_id: UUID) -> WebhookRecord:
    """Archive the endpoint: nothing more is sent to it (pending deliveries stay in its log, unsent)."""
    return await alert_store.archive_webhook(conn, (await _webhook(conn, project_id, webhook_id)).id)


async def _webhook(conn: PgConnection, project_id: UUID, webhook_id: UUID) -> WebhookRecord:
    webhook = await alert_store.find_webhook(conn, project_id, webhook_id)
    if webhook is None or webhook.archived_at is not None:
        raise NotFoundError("id: no such webhook in the project; it may have been deleted", argument="id")
    return webhook
