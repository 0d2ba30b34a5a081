"""Alerts in PostgreSQL (migration 0013): rules, their firing/resolved events, webhook endpoints, the delivery
outbox and its attempt log. Every SQL statement of the alerts feature is here; the rules of the feature (what a
kind means, when it fires, what a notification says) are in `benchlab.alerts`.

Two replicas may evaluate and deliver at once, so every change that must happen once is a conditional statement:
a rule fires only `WHERE state = 'ok'` and resolves only `WHERE firing_event_id = <its incident>`, each together
with the event it records (one statement) and, in the caller's transaction, the outbox rows; a delivery is
claimed with `FOR UPDATE SKIP LOCKED` and its outcome recorded only under the claim token it was sent with.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from benchlab.stores.entities import StoredRecord, select_list
from benchlab.stores.listing import ListSpec
from benchlab.stores.postgres import PgConnection, fetch_one

PROJECT_ALERT_RULES = ListSpec("project_alert_rules", "alert_rules", "project_id")
PROJECT_ALERT_EVENTS = ListSpec("project_alert_events", "alert_events", "project_id", sort_column="at")
RULE_ALERT_EVENTS = ListSpec("rule_alert_events", "alert_events", "rule_id", sort_column="at")
PROJECT_ALERT_WEBHOOKS = ListSpec(
    "project_alert_webhooks",
    "(SELECT id, project_id, name, url, format, secret_encrypted IS NOT NULL AS has_secret, enabled, created_by, "
    "created_at, updated_at, archived_at FROM alert_webhooks)", "project_id")
WEBHOOK_DELIVERIES = ListSpec("webhook_deliveries", "alert_deliveries", "webhook_id")
EVENT_DELIVERIES = ListSpec("event_deliveries", "alert_deliveries", "event_id")
# A webhook as the API reads it by id: never the encrypted secret, only whether there is one.
WEBHOOK_ROWS = PROJECT_ALERT_WEBHOOKS.source


@dataclass(frozen=True)
class AlertRuleRecord(StoredRecord):
    id: UUID
    project_id: UUID
    name: str
    kind: str
    metric: str | None
    percentile: float | None
    threshold: float
    window_minutes: int | None
    min_count: int
    evaluator: str | None
    experiment_id: UUID | None
    source: str
    model: str | None
    enabled: bool
    state: str
    state_since: datetime
    firing_event_id: UUID | None
    last_value: float | None
    last_count: int | None
    last_evaluated_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


@dataclass(frozen=True)
class AlertEventRecord(StoredRecord):
    id: UUID
    project_id: UUID
    rule_id: UUID
    incident_id: UUID
    state: str
    value: float | None
    count: int | None
    threshold: float
    summary: str
    details: dict[str, Any]
    at: datetime


@dataclass(frozen=True)
class WebhookRecord(StoredRecord):
    id: UUID
    project_id: UUID
    name: str
    url: str
    format: str
    has_secret: bool
    enabled: bool
    created_by: str
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


@dataclass(frozen=True)
class ClaimedDelivery:
    """An outbox row claimed for one attempt, with what sending it needs (the secret still encrypted)."""

    id: UUID
    project_id: UUID
    event_id: UUID
    event_state: str
    webhook_id: UUID
    body: str
    attempt: int
    claim: UUID
    url: str
    format: str
    secret_encrypted: bytes | None


RULE_COLUMNS = select_list(AlertRuleRecord)
EVENT_COLUMNS = select_list(AlertEventRecord)
WEBHOOK_COLUMNS = select_list(WebhookRecord, has_secret="secret_encrypted IS NOT NULL")
# The columns a rule is created or edited with (the rest is state, kept by the evaluator).
RULE_SETTINGS = ("name", "kind", "metric", "percentile", "threshold", "window_minutes", "min_count", "evaluator",
                 "experiment_id", "source", "model", "enabled")


# Rules ---------------------------------------------------------------------------------------------------------

async def insert_rule(conn: PgConnection, project_id: UUID, settings: dict[str, Any],
                      created_by: str) -> AlertRuleRecord:
    """A new rule in state ok; a name taken by a live rule of the project raises asyncpg.UniqueViolationError."""
    columns = ", ".join(RULE_SETTINGS)
    values = ", ".join(f"${i}" for i in range(3, len(RULE_SETTINGS) + 3))
    row = await fetch_one(
        conn, f"INSERT INTO alert_rules (project_id, created_by, {columns}) VALUES ($1, $2, {values}) "
              f"RETURNING {RULE_COLUMNS}", project_id, created_by, *(settings[c] for c in RULE_SETTINGS))
    return AlertRuleRecord.from_row(row)


async def find_rule(conn: PgConnection, project_id: UUID, rule_id: UUID, *,
                    for_update: bool = False) -> AlertRuleRecord | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {RULE_COLUMNS} FROM alert_rules WHERE id = $1 AND project_id = $2{lock}",
                              rule_id, project_id)
    return None if row is None else AlertRuleRecord.from_row(row)


async def update_rule(conn: PgConnection, rule_id: UUID, settings: dict[str, Any]) -> AlertRuleRecord:
    """Store a rule's new settings; it is evaluated again at the next tick (its state is kept)."""
    assignments = ", ".join(f"{c} = ${i}" for i, c in enumerate(RULE_SETTINGS, start=2))
    row = await fetch_one(
        conn, f"UPDATE alert_rules SET {assignments}, updated_at = now(), last_evaluated_at = NULL WHERE id = $1 "
              f"RETURNING {RULE_COLUMNS}", rule_id, *(settings[c] for c in RULE_SETTINGS))
    return AlertRuleRecord.from_row(row)


async def archive_rule(conn: PgConnection, rule_id: UUID) -> AlertRuleRecord:
    row = await fetch_one(conn, "UPDATE alert_rules SET archived_at = coalesce(archived_at, now()), enabled = false, "
                                f"updated_at = now() WHERE id = $1 RETURNING {RULE_COLUMNS}", rule_id)
    return AlertRuleRecord.from_row(row)


async def claim_due_rules(conn: PgConnection, now: datetime, due_after_s: float, limit: int) -> list[AlertRuleRecord]:
    """Enabled rules not evaluated for `due_after_s` seconds, marked evaluated at `now` in the same statement.

    SKIP LOCKED: a rule another replica is claiming right now is left to it, so two replicas ticking together
    split the rules between them instead of both computing every figure.
    """
    rows = await conn.fetch(
        f"UPDATE alert_rules SET last_evaluated_at = $1::timestamptz WHERE id IN ("
        "SELECT id FROM alert_rules WHERE enabled AND archived_at IS NULL "
        "AND (last_evaluated_at IS NULL OR last_evaluated_at <= $1::timestamptz - make_interval(secs => $2::float8)) "
        "ORDER BY last_evaluated_at NULLS FIRST LIMIT $3 FOR UPDATE SKIP LOCKED) "
        f"RETURNING {RULE_COLUMNS}", now, due_after_s, limit)
    return [AlertRuleRecord.from_row(row) for row in rows]


async def record_figure(conn: PgConnection, rule_id: UUID, value: float | None, count: int | None) -> None:
    await conn.execute("UPDATE alert_rules SET last_value = $2, last_count = $3 WHERE id = $1", rule_id, value, count)


async def fire(conn: PgConnection, rule_id: UUID, at: datetime, value: float | None, count: int | None,
               threshold: float, summary: str, details: dict[str, Any]) -> AlertEventRecord | None:
    """ok -> firing with its event, in one statement; None when the rule is not in state ok (any more)."""
    event_id = uuid.uuid4()
    row = await conn.fetchrow(
        "WITH fired AS (UPDATE alert_rules SET state = 'firing', state_since = $3, firing_event_id = $2 "
        "WHERE id = $1 AND state = 'ok' AND enabled AND archived_at IS NULL RETURNING id, project_id) "
        "INSERT INTO alert_events (id, project_id, rule_id, incident_id, state, value, count, threshold, summary, "
        "details, at) SELECT $2, project_id, id, $2, 'firing', $4, $5, $6, $7, $8, $3 FROM fired "
        f"RETURNING {EVENT_COLUMNS}", rule_id, event_id, at, value, count, threshold, summary, details)
    return None if row is None else AlertEventRecord.from_row(row)


async def resolve(conn: PgConnection, rule_id: UUID, incident_id: UUID, at: datetime, value: float | None,
                  count: int | None, threshold: float, summary: str,
                  details: dict[str, Any]) -> AlertEventRecord | None:
    """firing -> ok with the incident's resolved event, in one statement; None when that incident is not open."""
    row = await conn.fetchrow(
        "WITH resolved AS (UPDATE alert_rules SET state = 'ok', state_since = $3, firing_event_id = NULL "
        "WHERE id = $1 AND state = 'firing' AND firing_event_id = $2 RETURNING id, project_id) "
        "INSERT INTO alert_events (project_id, rule_id, incident_id, state, value, count, threshold, summary, "
        "details, at) SELECT project_id, id, $2, 'resolved', $4, $5, $6, $7, $8, $3 FROM resolved "
        f"RETURNING {EVENT_COLUMNS}", rule_id, incident_id, at, value, count, threshold, summary, details)
    return None if row is None else AlertEventRecord.from_row(row)


async def latest_gated_run(conn: PgConnection, project_id: UUID,
                           experiment_id: UUID | None) -> asyncpg.Record | None:
    """The project's (or experiment's) most recently gated run: id, experiment, gate status and report, when."""
    scope = "" if experiment_id is None else " AND experiment_id = $2"
    args: list[Any] = [project_id] if experiment_id is None else [project_id, experiment_id]
    return await conn.fetchrow(
        "SELECT id, experiment_id, gate_status, gate_report -> 'counts' AS counts, gated_at FROM runs "
        f"WHERE project_id = $1 AND gated_at IS NOT NULL{scope} ORDER BY gated_at DESC, id DESC LIMIT 1", *args)


# Webhooks ------------------------------------------------------------------------------------------------------

async def insert_webhook(conn: PgConnection, project_id: UUID, name: str, url: str, format: str,
                         secret_encrypted: bytes | None, enabled: bool, created_by: str) -> WebhookRecord:
    row = await fetch_one(
        conn, "INSERT INTO alert_webhooks (project_id, name, url, format, secret_encrypted, enabled, created_by) "
              f"VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {WEBHOOK_COLUMNS}",
        project_id, name, url, format, secret_encrypted, enabled, created_by)
    return WebhookRecord.from_row(row)


async def find_webhook(conn: PgConnection, project_id: UUID, webhook_id: UUID) -> WebhookRecord | None:
    row = await conn.fetchrow(f"SELECT {WEBHOOK_COLUMNS} FROM alert_webhooks WHERE id = $1 AND project_id = $2",
                              webhook_id, project_id)
    return None if row is None else WebhookRecord.from_row(row)


async def update_webhook(conn: PgConnection, webhook_id: UUID, name: str, url: str, format: str, enabled: bool, *,
                         replace_secret: bool, secret_encrypted: bytes | None) -> WebhookRecord:
    """New settings; the stored secret is replaced (or cleared, with None) only when `replace_secret`."""
    row = await fetch_one(
        conn, "UPDATE alert_webhooks SET name = $2, url = $3, format = $4, enabled = $5, "
              "secret_encrypted = CASE WHEN $6 THEN $7 ELSE secret_encrypted END, updated_at = now() "
              f"WHERE id = $1 RETURNING {WEBHOOK_COLUMNS}",
        webhook_id, name, url, format, enabled, replace_secret, secret_encrypted)
    return WebhookRecord.from_row(row)


async def archive_webhook(conn: PgConnection, webhook_id: UUID) -> WebhookRecord:
    row = await fetch_one(conn, "UPDATE alert_webhooks SET archived_at = coalesce(archived_at, now()), "
                                f"enabled = false, updated_at = now() WHERE id = $1 RETURNING {WEBHOOK_COLUMNS}",
                          webhook_id)
    return WebhookRecord.from_row(row)


async def active_webhooks(conn: PgConnection, project_id: UUID) -> list[WebhookRecord]:
    rows = await conn.fetch(f"SELECT {WEBHOOK_COLUMNS} FROM alert_webhooks WHERE project_id = $1 AND enabled "
                            "AND archived_at IS NULL ORDER BY created_at, id", project_id)
    return [WebhookRecord.from_row(row) for row in rows]


# Deliveries ----------------------------------------------------------------------------------------------------

async def enqueue_delivery(conn: PgConnection, delivery_id: UUID, event: AlertEventRecord, webhook_id: UUID,
                           body: str) -> None:
    """One outbox row, due at once (part of the transaction that recorded `event`); its id is the delivery id
    receivers see. `created_at` is the insert's own time, not the transaction's: deliveries to one webhook go out
    in this order, and a RESOLVED is inserted after its FIRING committed even when its transaction began earlier."""
    await conn.execute(
        "INSERT INTO alert_deliveries (id, project_id, event_id, webhook_id, body, next_attempt_at, created_at) "
        "VALUES ($1, $2, $3, $4, $5, now(), clock_timestamp())", delivery_id, event.project_id, event.id, webhook_id,
        body)


async def project_info(conn: PgConnection, project_id: UUID) -> asyncpg.Record:
    return await fetch_one(conn, "SELECT id, slug, name FROM projects WHERE id = $1", project_id)


async def claim_deliveries(conn: PgConnection, now: datetime, lease_s: float, limit: int) -> list[ClaimedDelivery]:
    """Due outbox rows of active webhooks (pending and due, or sending with an expired lease), each marked
    `sending` under a fresh claim token with its attempt counted, in one statement.

    In order per webhook: a row waits while an older one to the same webhook is still pending or sending, so a
    receiver gets an incident's FIRING before its RESOLVED (a delivery being retried holds the ones after it
    until it is delivered or given up)."""
    rows = await conn.fetch(
        "UPDATE alert_deliveries d SET status = 'sending', attempts = d.attempts + 1, claim = gen_random_uuid(), "
        "lease_until = $1::timestamptz + make_interval(secs => $2::float8) FROM alert_webhooks w, alert_events e "
        "WHERE w.id = d.webhook_id AND e.id = d.event_id AND d.id IN ("
        "SELECT d2.id FROM alert_deliveries d2 JOIN alert_webhooks w2 ON w2.id = d2.webhook_id "
        "WHERE w2.enabled AND w2.archived_at IS NULL AND ((d2.status = 'pending' AND d2.next_attempt_at <= $1) "
        "OR (d2.status = 'sending' AND d2.lease_until <= $1)) "
        "AND NOT EXISTS (SELECT 1 FROM alert_deliveries e2 WHERE e2.webhook_id = d2.webhook_id "
        "AND e2.status IN ('pending', 'sending') AND (e2.created_at, e2.id) < (d2.created_at, d2.id)) "
        "ORDER BY d2.next_attempt_at LIMIT $3 FOR UPDATE OF d2 SKIP LOCKED) "
        "RETURNING d.id, d.project_id, d.event_id, e.state, d.webhook_id, d.body, d.attempts, d.claim, w.url, "
        "w.format, w.secret_encrypted", now, lease_s, limit)
    return [ClaimedDelivery(row["id"], row["project_id"], row["event_id"], row["state"], row["webhook_id"],
                            row["body"], row["attempts"], row["claim"], row["url"], row["format"],
                            row["secret_encrypted"]) for row in rows]


async def record_attempt(conn: PgConnection, delivery: ClaimedDelivery, at: datetime, status_code: int | None,
                         error: str | None, duration_ms: float, outcome: str,
                         next_attempt_at: datetime | None) -> bool:
    """Log the attempt and move the delivery on (`delivered`, `pending` again at `next_attempt_at`, or `failed`),
    both in the caller's transaction. False when the claim is no longer current (the lease expired and another
    sender took the row): the attempt is still logged, the row is left to its new holder."""
    await conn.execute(
        "INSERT INTO alert_delivery_attempts (delivery_id, attempt, at, status_code, error, duration_ms) "
        "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (delivery_id, attempt) DO NOTHING",
        delivery.id, delivery.attempt, at, status_code, error, duration_ms)
    moved = await conn.fetchval(
        "UPDATE alert_deliveries SET status = $3::text, lease_until = NULL, claim = NULL, "
        "next_attempt_at = coalesce($4::timestamptz, next_attempt_at), "
        "finished_at = CASE WHEN $3::text IN ('delivered', 'failed') THEN $5::timestamptz END "
        "WHERE id = $1 AND claim = $2 AND status = 'sending' RETURNING id",
        delivery.id, delivery.claim, outcome, next_attempt_at, at)
    return moved is not None


async def attempts_of(db: Any, delivery_ids: Sequence[UUID]) -> dict[UUID, list[asyncpg.Record]]:
    """Every attempt of each delivery, oldest first (`db`: anything with `fetch`, e.g. the request's reader)."""
    rows = await db.fetch("SELECT delivery_id, attempt, at, status_code, error, duration_ms "
                          "FROM alert_delivery_attempts WHERE delivery_id = ANY($1::uuid[]) ORDER BY attempt",
                          list(delivery_ids))
    found: dict[UUID, list[asyncpg.Record]] = {delivery_id: [] for delivery_id in delivery_ids}
    for row in rows:
        found[row["delivery_id"]].append(row)
    return found
