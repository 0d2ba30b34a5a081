"""Schedules (tables `schedules`, `schedule_firings`): an experiment run on a cron schedule, and what each due
time brought (a run, a skipped range, an error) with the run's gate outcome.

Exactly once per due time across replicas: `claim_due` locks a due schedule `FOR UPDATE SKIP LOCKED` (another
replica skips it), and `record_firing` inserts the (schedule, due time) row first with `ON CONFLICT DO NOTHING`,
so a retried or racing tick learns the due time is taken before it starts a run. Times come from the caller
(the scheduler's clock), never from the database's `now()`, so a test can move time.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from benchlab.stores.entities import StoredRecord
from benchlab.stores.listing import ListSpec, Reader
from benchlab.stores.postgres import PgConnection, fetch_one

SCHEDULE_FIRINGS = ListSpec("schedule_firings", "schedule_firings", "schedule_id", sort_column="due_at")

STARTED, SKIPPED, ERROR = "started", "skipped", "error"
PASSED, FAILED, NOT_GATED = "passed", "failed", "not_gated"


@dataclass(frozen=True)
class ScheduleRecord(StoredRecord):
    id: UUID
    project_id: UUID
    experiment_id: UUID
    cron: str
    timezone: str
    jitter_seconds: int
    max_missed_runs: int
    baseline: str
    paused: bool
    next_due_at: datetime
    next_fire_at: datetime
    last_run_id: UUID | None
    last_fired_at: datetime | None
    fired_count: int
    skipped_count: int
    start_errors: int
    failed_gates: int
    created_by: str
    updated_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class FiringRecord(StoredRecord):
    id: UUID
    schedule_id: UUID
    due_at: datetime
    fired_at: datetime
    outcome: str
    catch_up: bool
    run_id: UUID | None
    skipped_through: datetime | None
    skipped_count: int
    gate_status: str | None
    settled_at: datetime | None
    note: str | None


@dataclass(frozen=True)
class ScheduleSettings:
    """What a person sets on a schedule (validated by benchlab.schedules before it gets here)."""

    cron: str
    timezone: str
    jitter_seconds: int
    max_missed_runs: int
    baseline: str


async def insert_schedule(conn: PgConnection, schedule_id: UUID, project_id: UUID, experiment_id: UUID,
                          settings: ScheduleSettings, next_due_at: datetime, next_fire_at: datetime,
                          actor: str) -> ScheduleRecord:
    row = await fetch_one(
        conn, "INSERT INTO schedules (id, project_id, experiment_id, cron, timezone, jitter_seconds, "
        "max_missed_runs, baseline, next_due_at, next_fire_at, created_by, updated_by) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING *",
        schedule_id, project_id, experiment_id, settings.cron, settings.timezone, settings.jitter_seconds,
        settings.max_missed_runs, settings.baseline, next_due_at, next_fire_at, actor)
    return ScheduleRecord.from_row(row)


async def get_schedule(conn: PgConnection, schedule_id: UUID, *, for_update: bool = False) -> ScheduleRecord | None:
    row = await conn.fetchrow("SELECT * FROM schedules WHERE id = $1" + (" FOR UPDATE" if for_update else ""),
                              schedule_id)
    return ScheduleRecord.from_row(row) if row else None


async def update_settings(conn: PgConnection, schedule_id: UUID, settings: ScheduleSettings,
                          next_due_at: datetime, next_fire_at: datetime, actor: str) -> ScheduleRecord:
    row = await fetch_one(
        conn, "UPDATE schedules SET cron = $2, timezone = $3, jitter_seconds = $4, max_missed_runs = $5, "
        "baseline = $6, next_due_at = $7, next_fire_at = $8, updated_by = $9, updated_at = now() WHERE id = $1 "
        "RETURNING *", schedule_id, settings.cron, settings.timezone, settings.jitter_seconds,
        settings.max_missed_runs, settings.baseline, next_due_at, next_fire_at, actor)
    return ScheduleRecord.from_row(row)


async def set_paused(conn: PgConnection, schedule_id: UUID, paused: bool, actor: str,
                     next_due_at: datetime | None = None, next_fire_at: datetime | None = None) -> ScheduleRecord:
    """Pause, or resume with the next due time given (recomputed from now by the caller)."""
    row = await fetch_one(
        conn, "UPDATE schedules SET paused = $2, next_due_at = coalesce($3, next_due_at), "
        "next_fire_at = coalesce($4, next_fire_at), updated_by = $5, updated_at = now() WHERE id = $1 RETURNING *",
        schedule_id, paused, next_due_at, next_fire_at, actor)
    return ScheduleRecord.from_row(row)


async def delete_schedule(conn: PgConnection, schedule_id: UUID) -> bool:
    """Remove a schedule and its firing history (the runs it started stay)."""
    return (await conn.execute("DELETE FROM schedules WHERE id = $1", schedule_id)).endswith(" 1")


async def claim_due(conn: PgConnection, now: datetime, passed: Sequence[UUID] = ()) -> ScheduleRecord | None:
    """Lock one schedule whose firing time has passed (the most overdue first), skipping schedules another
    transaction holds and those in `passed`; the caller's transaction keeps the lock."""
    row = await conn.fetchrow(
        "SELECT * FROM schedules WHERE NOT paused AND next_fire_at <= $1 AND id <> ALL($2::uuid[]) "
        "ORDER BY next_fire_at LIMIT 1 FOR UPDATE SKIP LOCKED", now, list(passed))
    return ScheduleRecord.from_row(row) if row else None


async def record_firing(conn: PgConnection, schedule_id: UUID, due_at: datetime, fired_at: datetime, outcome: str,
                        *, catch_up: bool = False, skipped_through: datetime | None = None, skipped_count: int = 0,
                        note: str | None = None) -> UUID | None:
    """Take the due time: the firing's id, or None when it was taken already (nothing to do)."""
    return await conn.fetchval(
        "INSERT INTO schedule_firings (schedule_id, due_at, fired_at, outcome, catch_up, skipped_through, "
        "skipped_count, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "ON CONFLICT (schedule_id, due_at) DO NOTHING RETURNING id",
        schedule_id, due_at, fired_at, outcome, catch_up, skipped_through, skipped_count, note)


async def attach_run(conn: PgConnection, firing_id: UUID, run_id: UUID) -> None:
    await conn.execute("UPDATE schedule_firings SET run_id = $2 WHERE id = $1", firing_id, run_id)


async def advance(conn: PgConnection, schedule_id: UUID, next_due_at: datetime, next_fire_at: datetime, *,
                  fired: int, skipped: int, errors: int, last_run_id: UUID | None, fired_at: datetime | None) -> None:
    """Move the schedule to its next due time and add to its counters."""
    await conn.execute(
        "UPDATE schedules SET next_due_at = $2, next_fire_at = $3, fired_count = fired_count + $4, "
        "skipped_count = skipped_count + $5, start_errors = start_errors + $6, "
        "last_run_id = coalesce($7, last_run_id), last_fired_at = coalesce($8, last_fired_at) WHERE id = $1",
        schedule_id, next_due_at, next_fire_at, fired, skipped, errors, last_run_id, fired_at)


@dataclass(frozen=True)
class Unsettled:
    """A started firing whose run ended and whose gate outcome is not recorded yet."""

    firing_id: UUID
    schedule_id: UUID
    run_id: UUID
    run_status: str
    run_error: str | None
    baseline: str


async def claim_unsettled(conn: PgConnection, ended_states: Sequence[str],
                          passed: Sequence[UUID] = ()) -> Unsettled | None:
    """Lock one firing whose run has ended (in `ended_states`) and that has no gate outcome yet, skipping
    firings another transaction holds (another replica gating it) and those in `passed`."""
    row = await conn.fetchrow(
        "SELECT f.id, f.schedule_id, f.run_id, r.status, r.error, s.baseline FROM schedule_firings f "
        "JOIN runs r ON r.id = f.run_id JOIN schedules s ON s.id = f.schedule_id "
        "WHERE f.outcome = 'started' AND f.settled_at IS NULL AND r.status = ANY($1::text[]) "
        "AND f.id <> ALL($2::uuid[]) ORDER BY f.fired_at LIMIT 1 FOR UPDATE OF f SKIP LOCKED",
        list(ended_states), list(passed))
    if row is None:
        return None
    return Unsettled(row["id"], row["schedule_id"], row["run_id"], row["status"], row["error"], row["baseline"])


async def settle(conn: PgConnection, firing: Unsettled, gate_status: str, note: str | None,
                 settled_at: datetime) -> None:
    """Record a firing's gate outcome (once: a settled firing is never claimed again) and count a failure."""
    result = await conn.execute(
        "UPDATE schedule_firings SET gate_status = $2, note = coalesce($3, note), settled_at = $4 "
        "WHERE id = $1 AND settled_at IS NULL", firing.firing_id, gate_status, note, settled_at)
    if result.endswith(" 1") and gate_status == FAILED:
        await conn.execute("UPDATE schedules SET failed_gates = failed_gates + 1 WHERE id = $1", firing.schedule_id)


async def orphaned_firings(conn: PgConnection) -> int:
    """Started firings whose run was deleted: settled as not gated so they do not wait forever."""
    result = await conn.execute(
        "UPDATE schedule_firings SET gate_status = 'not_gated', settled_at = fired_at, "
        "note = 'the run was deleted' WHERE outcome = 'started' AND settled_at IS NULL AND run_id IS NULL")
    return int(result.rsplit(" ", 1)[-1])


async def schedules_of_experiments(db: Reader, experiment_ids: Sequence[UUID]) -> dict[UUID, list[ScheduleRecord]]:
    """Every schedule of these experiments, oldest first, by experiment (one statement)."""
    rows = await db.fetch("SELECT * FROM schedules WHERE experiment_id = ANY($1::uuid[]) ORDER BY created_at, id",
                          list(experiment_ids))
    found: dict[UUID, list[ScheduleRecord]] = defaultdict(list)
    for row in rows:
        found[row["experiment_id"]].append(ScheduleRecord.from_row(row))
    return found


async def firings_of_runs(db: Reader, run_ids: Sequence[UUID]) -> dict[UUID, FiringRecord]:
    rows = await db.fetch("SELECT * FROM schedule_firings WHERE run_id = ANY($1::uuid[])", list(run_ids))
    return {row["run_id"]: FiringRecord.from_row(row) for row in rows}


def firing_row(row: Any) -> FiringRecord:
    return FiringRecord.from_row(row)
