"""Schedule mutations: create, update, pause, resume, delete an experiment's cron schedule (benchlab.schedules).

Members of the project may, like starting runs (a schedule starts runs); viewers read schedules through
`Experiment.schedules`. Every change is audited (in the change's own transaction) under the caller's name.
"""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from strawberry.types import Info

from benchlab.api.auditing import client_address
from benchlab.api.context import identity_of, runtime_of
from benchlab.api.ids import expect_id
from benchlab.api.node_lookup import load_required, reload
from benchlab.api.permissions import project_role
from benchlab.api.types.runs import Experiment
from benchlab.api.types.schedules import Schedule
from benchlab.auth.roles import Role
from benchlab.errors import ConflictError
from benchlab.schedules import manage
from benchlab.stores.schedules import ScheduleSettings

MEMBER_ON_SCHEDULE = project_role(Role.MEMBER, "input.id", "Schedule")


@strawberry.input
class CreateScheduleInput:
    experiment_id: strawberry.ID = strawberry.field(description="The experiment to run (its stored spec).")
    cron: str = strawberry.field(description="5 fields: minute hour day-of-month month day-of-week, e.g. "
                                             "`0 6 * * 1-5` (06:00 on weekdays), or `@hourly`, `@daily`, ...")
    timezone: str = strawberry.field(default="UTC", description="IANA time zone the cron expression is read in, "
                                                                "e.g. `Europe/Berlin`.")
    jitter_seconds: int = strawberry.field(default=0, description=(
        "Delay each firing by a deterministic 0..jitterSeconds seconds (0..3600, shorter than the shortest "
        "interval between due times), so many schedules on the same minute do not start at once."))
    max_missed_runs: int = strawberry.field(default=1, description=(
        "After a downtime, missed due times run late, at most this many (0..100, the most recent ones) besides "
        "the latest due time; the rest are skipped."))
    baseline: str = strawberry.field(default="main", description=(
        "The baseline name of the experiment (or a run id) each scheduled run is gated against."))


@strawberry.input(description="Fields to change; those left out keep their value. Changing `cron`, `timezone` or "
                              "`jitterSeconds` recomputes the next due time from now.")
class UpdateScheduleInput:
    id: strawberry.ID
    cron: str | None = None
    timezone: str | None = None
    jitter_seconds: int | None = None
    max_missed_runs: int | None = None
    baseline: str | None = None


@strawberry.input
class ScheduleIdInput:
    id: strawberry.ID


@strawberry.type
class SchedulePayload:
    schedule: Schedule


@strawberry.type
class DeleteSchedulePayload:
    deleted_id: strawberry.ID = strawberry.field(description="The id the schedule had.")
    experiment: Experiment


def _now() -> datetime:
    return datetime.now(UTC)


@strawberry.type
class ScheduleMutations:
    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.experiment_id", "Experiment")],
                         description="Run an experiment on a cron schedule; each scheduled run is gated against "
                                     "`baseline` when it completes (docs/schedules.md). The first run is at "
                                     "`schedule.nextRunAt`.")
    async def create_schedule(self, info: Info, input: CreateScheduleInput) -> SchedulePayload:
        experiment: Experiment = await load_required(info, input.experiment_id, Experiment, "experimentId")
        if experiment.archived_at is not None:
            raise ConflictError("experimentId: the experiment is archived; schedule another experiment",
                                argument="experimentId")
        settings = ScheduleSettings(input.cron, input.timezone, input.jitter_seconds, input.max_missed_runs,
                                    input.baseline)
        async with runtime_of(info).pg.acquire() as conn:
            record = await manage.create_schedule(conn, experiment.project_id, experiment.db_id, settings,
                                                  identity_of(info).actor, _now(), client_address(info))
        return SchedulePayload(schedule=Schedule.of(record))

    @strawberry.mutation(permission_classes=[MEMBER_ON_SCHEDULE], description="Change a schedule's settings.")
    async def update_schedule(self, info: Info, input: UpdateScheduleInput) -> SchedulePayload:
        change = manage.ScheduleChange(input.cron, input.timezone, input.jitter_seconds, input.max_missed_runs,
                                       input.baseline)
        async with runtime_of(info).pg.acquire() as conn:
            record = await manage.update_schedule(conn, expect_id(input.id, "Schedule"), change,
                                                  identity_of(info).actor, _now(), client_address(info))
        return SchedulePayload(schedule=Schedule.of(record))

    @strawberry.mutation(permission_classes=[MEMBER_ON_SCHEDULE],
                         description="Stop starting runs until `resumeSchedule`; runs already started go on.")
    async def pause_schedule(self, info: Info, input: ScheduleIdInput) -> SchedulePayload:
        async with runtime_of(info).pg.acquire() as conn:
            record = await manage.pause_schedule(conn, expect_id(input.id, "Schedule"), identity_of(info).actor,
                                                 client_address(info))
        return SchedulePayload(schedule=Schedule.of(record))

    @strawberry.mutation(permission_classes=[MEMBER_ON_SCHEDULE], description=(
        "Start running a paused schedule again from now: its next due time is the first one after now, so the "
        "due times that passed while it was paused are not run (no burst of missed runs)."))
    async def resume_schedule(self, info: Info, input: ScheduleIdInput) -> SchedulePayload:
        async with runtime_of(info).pg.acquire() as conn:
            record = await manage.resume_schedule(conn, expect_id(input.id, "Schedule"), identity_of(info).actor,
                                                  _now(), client_address(info))
        return SchedulePayload(schedule=Schedule.of(record))

    @strawberry.mutation(permission_classes=[MEMBER_ON_SCHEDULE], description=(
        "Delete a schedule and its firing history; the runs it started stay (with their gate outcomes)."))
    async def delete_schedule(self, info: Info, input: ScheduleIdInput) -> DeleteSchedulePayload:
        async with runtime_of(info).pg.acquire() as conn:
            record = await manage.delete_schedule(conn, expect_id(input.id, "Schedule"), identity_of(info).actor,
                                                  client_address(info))
        return DeleteSchedulePayload(deleted_id=strawberry.ID(input.id),
                                     experiment=await reload(info, Experiment, record.experiment_id))
