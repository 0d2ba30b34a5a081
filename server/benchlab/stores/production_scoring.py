"""A project's production scoring rule set (PostgreSQL `production_scoring`, migration 0011) and the scorer's claims.

One rule set per project. Setting it again with other evaluators, rate or models makes a new version with a new
`pass_id` (its scores say which rules produced them); the watermark stays, so scoring goes on from where it was
(or from `since`, when given). The batch protocol (`claim_batch`, `finish_batch`) is what keeps two replicas, or
a restarted one, from scoring a request twice: the migration's comment says how.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from benchlab.errors import NotFoundError
from benchlab.stores.postgres import PgConnection, fetch_one

NIL = UUID(int=0)
_COLUMNS = ("project_id, document, sample_rate, models, enabled, version, pass_id, watermark_ts, watermark_event, "
            "batch_id, scored_requests, judge_calls, judge_errors, judge_cost_usd, last_scored_at, last_error, "
            "created_by, created_at, updated_by, updated_at")


@dataclass(frozen=True)
class RuleSet:
    project_id: UUID
    document: dict[str, Any]   # evaluators, judges, evaluation: what the scorer applies
    sample_rate: float
    models: tuple[str, ...]    # empty: every model
    enabled: bool
    version: int
    pass_id: UUID
    watermark_ts: datetime
    watermark_event: UUID
    batch_id: UUID | None
    scored_requests: int
    judge_calls: int
    judge_errors: int
    judge_cost_usd: float
    last_scored_at: datetime | None
    last_error: str | None
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record | dict[str, Any]) -> RuleSet:
        values = dict(row)
        values["models"] = tuple(values["models"])
        return cls(**values)


@dataclass(frozen=True)
class Batch:
    """Rows a scorer claimed: the rule set as it stood, the requests, where the watermark goes afterwards."""

    batch_id: UUID
    rules: RuleSet
    events: tuple[UUID, ...]
    until_ts: datetime
    until_event: UUID


@dataclass(frozen=True)
class BatchOutcome:
    scored: int
    judge_calls: int
    judge_errors: int
    judge_cost_usd: float


async def get_rules(conn: PgConnection, project_id: UUID) -> RuleSet | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM production_scoring WHERE project_id = $1", project_id)
    return RuleSet.from_row(row) if row else None


async def set_rules(conn: PgConnection, project_id: UUID, document: dict[str, Any], sample_rate: float,
                    models: Sequence[str], enabled: bool, since: datetime | None, now: datetime,
                    actor: str) -> tuple[RuleSet, bool]:
    """Create or replace the project's rule set; returns it and whether a new version began (new pass id).

    A new rule set starts at `since` or `now`. A change of what is applied (document, rate, models) is a new
    version; any batch in flight belongs to the old one and is dropped (its scores keep the old pass id).
    Pausing (`enabled`) keeps the version. `since` moves the watermark back or forward.
    """
    async with conn.transaction():
        current = await conn.fetchrow("SELECT document, sample_rate, models FROM production_scoring "
                                      "WHERE project_id = $1 FOR UPDATE", project_id)
        if current is None:
            row = await fetch_one(
                conn, f"INSERT INTO production_scoring (project_id, document, sample_rate, models, enabled, pass_id, "
                      f"watermark_ts, created_by, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) "
                      f"RETURNING {_COLUMNS}", project_id, document, sample_rate, list(models), enabled,
                uuid.uuid4(), since or now, actor)
            return RuleSet.from_row(row), True
        changed = (current["document"] != document or current["sample_rate"] != sample_rate
                   or list(current["models"]) != list(models))
        row = await fetch_one(
            conn, "UPDATE production_scoring SET document = $2, sample_rate = $3, models = $4, enabled = $5, "
                  "version = version + CASE WHEN $6 THEN 1 ELSE 0 END, "
                  "pass_id = CASE WHEN $6 THEN $7 ELSE pass_id END, "
                  "watermark_ts = COALESCE($8, watermark_ts), "
                  "watermark_event = CASE WHEN $8::timestamptz IS NULL THEN watermark_event ELSE $9 END, "
                  "batch_id = CASE WHEN $6 OR $8::timestamptz IS NOT NULL THEN NULL ELSE batch_id END, "
                  "batch_events = CASE WHEN $6 OR $8::timestamptz IS NOT NULL THEN NULL ELSE batch_events END, "
                  f"updated_by = $10, updated_at = now() WHERE project_id = $1 RETURNING {_COLUMNS}",
            project_id, document, sample_rate, list(models), enabled, changed, uuid.uuid4(), since, NIL, actor)
        return RuleSet.from_row(row), changed


async def remove_rules(conn: PgConnection, project_id: UUID) -> RuleSet:
    """Delete the project's rule set (its scores stay in ClickHouse); NotFoundError when there is none."""
    row = await conn.fetchrow(f"DELETE FROM production_scoring WHERE project_id = $1 RETURNING {_COLUMNS}",
                              project_id)
    if row is None:
        raise NotFoundError("the project has no production scoring rules")
    return RuleSet.from_row(row)


# Chooses the next rows of a rule set: (event ids, watermark after them).
SelectBatch = Callable[[RuleSet], Awaitable[tuple[list[UUID], datetime, UUID]]]


async def claim_batch(conn: PgConnection, select: SelectBatch, now: datetime, lease: timedelta,
                      skip: Sequence[UUID] = ()) -> Batch | None:
    """Claim work on one enabled rule set no other scorer holds: a batch a dead scorer left (its lease passed),
    else a new one chosen by `select` (rows after the watermark; with none, the watermark just moves on). The
    row is locked while choosing (SKIP LOCKED: another scorer moves on to the next project), and the batch is
    written before the transaction ends, so exactly one scorer owns it until its lease passes. `skip`: projects
    already done."""
    async with conn.transaction():
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS}, batch_events, batch_until_ts, batch_until_event, batch_lease_until "
            "FROM production_scoring WHERE enabled AND NOT (project_id = ANY($1::uuid[])) "
            "AND (batch_id IS NULL OR batch_lease_until <= $2) ORDER BY project_id LIMIT 1 FOR UPDATE SKIP LOCKED",
            list(skip), now)
        if row is None:
            return None
        values = dict(row)
        events, until_ts, until_event = (values.pop(key) for key in ("batch_events", "batch_until_ts",
                                                                     "batch_until_event"))
        values.pop("batch_lease_until")
        rules = RuleSet.from_row(values)
        if rules.batch_id is not None:  # left by a scorer that stopped: the same rows, the same token
            await conn.execute("UPDATE production_scoring SET batch_lease_until = $2 WHERE project_id = $1",
                               rules.project_id, now + lease)
            return Batch(rules.batch_id, rules, tuple(events), until_ts, until_event)
        chosen_events, until_ts, until_event = await select(rules)
        if not chosen_events:  # nothing sampled up to `until`: move past it, there is nothing to score
            if (until_ts, until_event) == (rules.watermark_ts, rules.watermark_event):
                return Batch(NIL, rules, (), until_ts, until_event)
            await conn.execute("UPDATE production_scoring SET watermark_ts = $2, watermark_event = $3 "
                               "WHERE project_id = $1", rules.project_id, until_ts, until_event)
            return Batch(NIL, rules, (), until_ts, until_event)
        batch_id = uuid.uuid4()
        await conn.execute(
            "UPDATE production_scoring SET batch_id = $2, batch_events = $3, batch_until_ts = $4, "
            "batch_until_event = $5, batch_lease_until = $6 WHERE project_id = $1",
            rules.project_id, batch_id, chosen_events, until_ts, until_event, now + lease)
        return Batch(batch_id, rules, tuple(chosen_events), until_ts, until_event)


async def finish_batch(conn: PgConnection, batch: Batch, outcome: BatchOutcome, now: datetime,
                       error: str | None = None) -> bool:
    """Advance the watermark past a written batch, if it is still this scorer's (not taken over, not replaced by a
    new version); returns whether it was."""
    status = await conn.execute(
        "UPDATE production_scoring SET watermark_ts = batch_until_ts, watermark_event = batch_until_event, "
        "batch_id = NULL, batch_events = NULL, batch_until_ts = NULL, batch_until_event = NULL, "
        "batch_lease_until = NULL, scored_requests = scored_requests + $3, judge_calls = judge_calls + $4, "
        "judge_errors = judge_errors + $5, judge_cost_usd = judge_cost_usd + $6, last_scored_at = $7, "
        "last_error = $8 WHERE project_id = $1 AND batch_id = $2",
        batch.rules.project_id, batch.batch_id, outcome.scored, outcome.judge_calls, outcome.judge_errors,
        outcome.judge_cost_usd, now, error)
    return status.endswith(" 1")


async def release_batch(conn: PgConnection, batch: Batch, error: str, now: datetime) -> None:
    """A batch that could not be scored (a judge provider gone, ClickHouse refusing): kept for the next attempt
    (its lease ends `now`), with the reason for people to see."""
    await conn.execute("UPDATE production_scoring SET batch_lease_until = $4, last_error = $3 "
                       "WHERE project_id = $1 AND batch_id = $2", batch.rules.project_id, batch.batch_id, error[:1000],
                       now)
