"""Schedules as GraphQL types (benchlab.schedules; docs/schedules.md): the schedule, and what each due time
brought (a run with its gate outcome, a skipped range, an error). Batched per request like every relation."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry
from strawberry.types import Info

from benchlab.api import lists
from benchlab.api.context import loaders_of
from benchlab.api.ids import encode_global_id
from benchlab.api.pagination import Connection
from benchlab.api.types.node import Node, node_type
from benchlab.stores import schedules as store
from benchlab.stores.schedules import FiringRecord, ScheduleRecord

if TYPE_CHECKING:
    from benchlab.api.types.runs import Experiment, Run

RunRef = Annotated["Run", strawberry.lazy("benchlab.api.types.runs")]
ExperimentRef = Annotated["Experiment", strawberry.lazy("benchlab.api.types.runs")]


@strawberry.enum(description="What a schedule did for a due time.")
class FiringOutcome(Enum):
    STARTED = "started"
    SKIPPED = "skipped"
    ERROR = "error"


@strawberry.enum(description="A scheduled run's gate outcome: PENDING until the run ends and the scheduler gates "
                             "it (within one tick).")
class ScheduledGate(Enum):
    PENDING = "pending"
    PASSED = "passed"
    FAILED = "failed"
    NOT_GATED = "not_gated"


@strawberry.type(description="Counters of a schedule since it was created.")
class ScheduleCounters:
    fired: int = strawberry.field(description="Runs started (on time or caught up after a downtime).")
    skipped: int = strawberry.field(description="Missed due times not run (beyond `maxMissedRuns`).")
    start_errors: int = strawberry.field(description="Due times whose run could not be started (e.g. the "
                                                     "experiment was archived).")
    failed_gates: int = strawberry.field(description="Scheduled runs whose gates failed against the baseline.")


@strawberry.type(description=(
    "What a schedule did for one due time: started a run (then gated when it ends), skipped missed due times "
    "(one entry for a range: `skippedCount` of them from `dueAt` through `skippedThrough`), or could not start."))
class ScheduleFiring:
    run_id: strawberry.Private[UUID | None]
    due_at: datetime = strawberry.field(description="The due time the cron expression gave (before jitter).")
    fired_at: datetime = strawberry.field(description="When the scheduler acted on it.")
    outcome: FiringOutcome
    catch_up: bool = strawberry.field(description="A missed due time run late, after a downtime.")
    skipped_through: datetime | None = strawberry.field(description="SKIPPED: the last due time of the range.")
    skipped_count: int = strawberry.field(description="SKIPPED: how many due times were not run.")
    gate: ScheduledGate | None = strawberry.field(description="STARTED: the run's gate outcome; null otherwise.")
    settled_at: datetime | None = strawberry.field(description="When the gate outcome was recorded.")
    note: str | None = strawberry.field(description="Why: the baseline gated against, why a run was not gated or "
                                                    "could not start.")

    @classmethod
    def of(cls, record: FiringRecord) -> ScheduleFiring:
        gate = None
        if record.outcome == store.STARTED:
            gate = ScheduledGate(record.gate_status) if record.gate_status else ScheduledGate.PENDING
        return cls(run_id=record.run_id, due_at=record.due_at, fired_at=record.fired_at,
                   outcome=FiringOutcome(record.outcome), catch_up=record.catch_up,
                   skipped_through=record.skipped_through, skipped_count=record.skipped_count, gate=gate,
                   settled_at=record.settled_at, note=record.note)

    @strawberry.field(description="The run started (its full gate report is `run.gate`); null when none was, or "
                                  "it was deleted.")
    async def run(self, info: Info) -> RunRef | None:
        if self.run_id is None:
            return None
        row = await loaders_of(info).row("runs", self.run_id)
        return None if row is None else node_type("Run").from_row(row)


@strawberry.type(description=(
    "An experiment run on a cron schedule; each run is gated against `baseline` once it completes. Due times "
    "come from `cron` in `timezone` (DST as croniter handles it); each firing is delayed by a deterministic "
    "jitter in [0, jitterSeconds]. After a downtime, the latest due time runs plus at most `maxMissedRuns` of "
    "the missed ones before it; the rest are skipped (docs/schedules.md)."))
class Schedule(Node):
    db_id: strawberry.Private[UUID]
    project_id: strawberry.Private[UUID]
    experiment_id: strawberry.Private[UUID]
    last_run_id: strawberry.Private[UUID | None]
    cron: str = strawberry.field(description="5-field cron expression (minute hour day-of-month month "
                                             "day-of-week) or an alias such as `@daily`.")
    timezone: str = strawberry.field(description="IANA time zone the cron expression is read in.")
    jitter_seconds: int = strawberry.field(description="Each firing is delayed by 0..jitterSeconds seconds.")
    max_missed_runs: int = strawberry.field(description="Missed due times run late after a downtime, at most.")
    baseline: str = strawberry.field(description="The baseline name (or run id) each run is gated against.")
    paused: bool
    next_due_at: datetime = strawberry.field(description="The next due time from the cron expression.")
    next_run_at: datetime = strawberry.field(description="When the next run starts: `nextDueAt` plus its jitter "
                                                         "(within one scheduler tick). While paused, the due time "
                                                         "it had; resuming recomputes it from now.")
    last_fired_at: datetime | None = strawberry.field(description="When the scheduler last started a run.")
    counters: ScheduleCounters
    created_by: str = strawberry.field(description="Who created it, as the audit log names them.")
    updated_by: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Schedule:
        return cls.of(ScheduleRecord.from_row(row))

    @classmethod
    def of(cls, record: ScheduleRecord) -> Schedule:
        return cls(id=strawberry.ID(encode_global_id("Schedule", record.id)), db_id=record.id,
                   project_id=record.project_id, experiment_id=record.experiment_id, last_run_id=record.last_run_id,
                   cron=record.cron, timezone=record.timezone, jitter_seconds=record.jitter_seconds,
                   max_missed_runs=record.max_missed_runs, baseline=record.baseline, paused=record.paused,
                   next_due_at=record.next_due_at, next_run_at=record.next_fire_at,
                   last_fired_at=record.last_fired_at,
                   counters=ScheduleCounters(fired=record.fired_count, skipped=record.skipped_count,
                                             start_errors=record.start_errors, failed_gates=record.failed_gates),
                   created_by=record.created_by, updated_by=record.updated_by, created_at=record.created_at,
                   updated_at=record.updated_at)

    @strawberry.field
    async def experiment(self, info: Info) -> ExperimentRef:
        return node_type("Experiment").from_row(await loaders_of(info).row("experiments", self.experiment_id))

    @strawberry.field(description="The run the schedule started last.")
    async def last_run(self, info: Info) -> RunRef | None:
        if self.last_run_id is None:
            return None
        row = await loaders_of(info).row("runs", self.last_run_id)
        return None if row is None else node_type("Run").from_row(row)

    @strawberry.field(description="What the schedule did for each due time, newest first, with the runs' gate "
                                  "outcomes.")
    async def recent_runs(self, info: Info, first: int, after: str | None = None) -> Connection[ScheduleFiring]:
        return await lists.connection(info, store.SCHEDULE_FIRINGS, self.db_id, first, after,
                                      lambda row: ScheduleFiring.of(store.firing_row(row)))


async def schedules_of_experiment(info: Info, experiment_id: UUID) -> list[Schedule]:
    loaders = loaders_of(info)

    async def load(ids: list[UUID]) -> list[list[ScheduleRecord]]:
        found = await store.schedules_of_experiments(loaders.db, ids)
        return [found.get(i, []) for i in ids]

    return [Schedule.of(record) for record in await loaders.keyed("experiment_schedules", load).load(experiment_id)]
