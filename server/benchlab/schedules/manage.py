"""Create, change, pause, resume and delete schedules: validation, the next due time, the audit entry.

The API's mutations come here (as do tests, with a clock of their own). Every change that touches the timing
(cron, time zone, jitter, resuming) computes the next due time from `now`: a resumed schedule starts with its
next due time after now, so the due times that passed while it was paused are never run (no burst on resume).
Pausing keeps the due time it had, which only matters to the API's `nextRunAt` display.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from benchlab.errors import InvalidInputError, NotFoundError
from benchlab.schedules.timing import check_cron, check_jitter, check_max_missed, check_timezone, fire_time, next_due
from benchlab.stores import audit_log, baselines
from benchlab.stores import schedules as store
from benchlab.stores.postgres import PgConnection
from benchlab.stores.schedules import ScheduleRecord, ScheduleSettings


@dataclass(frozen=True)
class ScheduleChange:
    """Fields to change; None leaves a field as it is."""

    cron: str | None = None
    timezone: str | None = None
    jitter_seconds: int | None = None
    max_missed_runs: int | None = None
    baseline: str | None = None


def validated(settings: ScheduleSettings, now: datetime) -> ScheduleSettings:
    """The settings checked and normalised; InvalidInputError naming the first field that is wrong."""
    cron = check_cron(settings.cron)
    check_timezone(settings.timezone)
    check_max_missed(settings.max_missed_runs)
    check_jitter(settings.jitter_seconds, cron, settings.timezone, now)
    return replace(settings, cron=cron, baseline=check_baseline(settings.baseline))


def check_baseline(value: str) -> str:
    """A baseline name of the experiment (checked when a run is gated, as `benchlab gate --baseline` does) or a
    run id."""
    text = value.strip()
    try:
        return str(UUID(text))
    except ValueError:
        pass
    try:
        return baselines.check_name(text)
    except InvalidInputError:
        raise InvalidInputError(f"baseline: {value!r} is neither a baseline name ({baselines.NAME_RULE}) nor a run "
                                "id", argument="baseline") from None


async def create_schedule(conn: PgConnection, project_id: UUID, experiment_id: UUID, settings: ScheduleSettings,
                          actor: str, now: datetime, address: str | None = None) -> ScheduleRecord:
    checked = validated(settings, now)
    schedule_id = uuid.uuid4()
    due = next_due(checked.cron, checked.timezone, now)
    async with conn.transaction():
        record = await store.insert_schedule(conn, schedule_id, project_id, experiment_id, checked, due,
                                             fire_time(schedule_id, due, checked.jitter_seconds), actor)
        await _audit(conn, actor, address, "schedule.create", record, settings=_described(checked))
    return record


async def update_schedule(conn: PgConnection, schedule_id: UUID, change: ScheduleChange, actor: str,
                          now: datetime, address: str | None = None) -> ScheduleRecord:
    async with conn.transaction():
        current = await _locked(conn, schedule_id)
        before = _settings_of(current)
        after = validated(ScheduleSettings(
            cron=before.cron if change.cron is None else change.cron,
            timezone=before.timezone if change.timezone is None else change.timezone,
            jitter_seconds=before.jitter_seconds if change.jitter_seconds is None else change.jitter_seconds,
            max_missed_runs=before.max_missed_runs if change.max_missed_runs is None else change.max_missed_runs,
            baseline=before.baseline if change.baseline is None else change.baseline), now)
        due, fire = current.next_due_at, current.next_fire_at
        if (after.cron, after.timezone, after.jitter_seconds) != (before.cron, before.timezone, before.jitter_seconds):
            due = next_due(after.cron, after.timezone, now)
            fire = fire_time(schedule_id, due, after.jitter_seconds)
        record = await store.update_settings(conn, schedule_id, after, due, fire, actor)
        await _audit(conn, actor, address, "schedule.update", record, before=_described(before),
                     after=_described(after))
    return record


async def pause_schedule(conn: PgConnection, schedule_id: UUID, actor: str,
                         address: str | None = None) -> ScheduleRecord:
    async with conn.transaction():
        await _locked(conn, schedule_id)
        record = await store.set_paused(conn, schedule_id, True, actor)
        await _audit(conn, actor, address, "schedule.pause", record)
    return record


async def resume_schedule(conn: PgConnection, schedule_id: UUID, actor: str, now: datetime,
                          address: str | None = None) -> ScheduleRecord:
    """Resume from now: the next due time after `now` (due times missed while paused are not run)."""
    async with conn.transaction():
        current = await _locked(conn, schedule_id)
        if not current.paused:
            return current
        due = next_due(current.cron, current.timezone, now)
        record = await store.set_paused(conn, schedule_id, False, actor, due,
                                        fire_time(schedule_id, due, current.jitter_seconds))
        await _audit(conn, actor, address, "schedule.resume", record, next_due_at=due.isoformat())
    return record


async def delete_schedule(conn: PgConnection, schedule_id: UUID, actor: str,
                          address: str | None = None) -> ScheduleRecord:
    async with conn.transaction():
        current = await _locked(conn, schedule_id)
        await store.delete_schedule(conn, schedule_id)
        await _audit(conn, actor, address, "schedule.delete", current, settings=_described(_settings_of(current)))
    return current


async def _locked(conn: PgConnection, schedule_id: UUID) -> ScheduleRecord:
    """The schedule, locked against a scheduler firing it meanwhile (which would advance it twice)."""
    found = await store.get_schedule(conn, schedule_id, for_update=True)
    if found is None:
        raise NotFoundError(f"no schedule with id {schedule_id}; it may have been deleted", argument="id")
    return found


def _settings_of(record: ScheduleRecord) -> ScheduleSettings:
    return ScheduleSettings(record.cron, record.timezone, record.jitter_seconds, record.max_missed_runs,
                            record.baseline)


def _described(settings: ScheduleSettings) -> dict[str, object]:
    return {"cron": settings.cron, "timezone": settings.timezone, "jitter_seconds": settings.jitter_seconds,
            "max_missed_runs": settings.max_missed_runs, "baseline": settings.baseline}


async def _audit(conn: PgConnection, actor: str, address: str | None, action: str, record: ScheduleRecord,
                 **details: object) -> None:
    """In the change's transaction; `address` is the API caller's (None from other callers)."""
    payload = {"experiment_id": str(record.experiment_id), **details}
    if address:
        payload["address"] = address
    await audit_log.insert_entry(conn, actor=actor, action=action, target=str(record.id),
                                 project_id=record.project_id, details=payload)
