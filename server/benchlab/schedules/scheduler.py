"""The scheduler loop of a server process: fire due schedules, then gate the scheduled runs that ended.

Every `serve` process runs one (app.py); PostgreSQL makes each due time fire exactly once across all of them:
a tick claims one due schedule at a time with `FOR UPDATE SKIP LOCKED`, and in that schedule's transaction
takes the due time (the `schedule_firings` primary key), queues the run exactly as `startRun` does (the
experiment's stored spec as the run's snapshot, a job in the run queue) and advances the schedule. A replica
that races it skips the locked row, or finds the schedule advanced, or finds the due time taken.

Gating happens here too, not on the run's completion path: a run completes in whichever worker executed it,
and a `benchlab worker` may have no ClickHouse of its own to gate with, or die right after completing. The
tick instead looks for scheduled runs that ended and have no gate outcome yet (locked `SKIP LOCKED`, so one
replica gates each), which survives any process stopping at any moment: an outcome that was not recorded is
simply found again by the next tick. A completed run is gated against the schedule's baseline (engine/gating.py,
the outcome kept on the run as `gateRun` keeps it); a failed or cancelled run is recorded, not gated.

The clock is a parameter (default: the real UTC time), so a test moves time instead of waiting for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

from benchlab.engine.deps import EngineDeps
from benchlab.engine.gating import DEFAULT_BASELINE, gate_run
from benchlab.engine.runs import queue_experiment_run
from benchlab.errors import BenchlabError
from benchlab.schedules.timing import fire_time, plan_catch_up
from benchlab.spec import ExperimentSpec, load_spec
from benchlab.stores import audit_log
from benchlab.stores import schedules as store
from benchlab.stores.postgres import PgConnection
from benchlab.stores.runs import TERMINAL_STATES, RunState
from benchlab.stores.schedules import ScheduleRecord

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
MAX_PER_TICK = 100          # schedules fired (and runs gated) per tick at most; the next tick goes on
MIN_SLEEP_S = 0.05


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Fired:
    """One due time a tick dealt with."""

    schedule_id: UUID
    due_at: datetime
    outcome: str                 # started | skipped | error
    run_id: UUID | None = None
    catch_up: bool = False
    skipped_count: int = 0


@dataclass(frozen=True)
class Settled:
    schedule_id: UUID
    run_id: UUID
    gate_status: str             # passed | failed | not_gated
    note: str | None


@dataclass(frozen=True)
class TickResult:
    fired: list[Fired]
    settled: list[Settled]


@dataclass
class Scheduler:
    deps: EngineDeps
    clock: Clock = utc_now
    interval_s: float = 15.0
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def tick(self) -> TickResult:
        """Fire every schedule whose firing time passed (by the clock), then gate scheduled runs that ended."""
        return TickResult(await self.fire_due(), await self.settle_ended())

    async def fire_due(self) -> list[Fired]:
        now = self.clock()
        done: list[UUID] = []
        fired: list[Fired] = []
        for _ in range(MAX_PER_TICK):
            schedule = None
            try:
                async with self.deps.pg.acquire() as conn, conn.transaction():
                    schedule = await store.claim_due(conn, now, done)
                    if schedule is None:
                        break
                    done.append(schedule.id)
                    fired += await self._fire(conn, schedule, now)
            except Exception:  # one schedule's trouble must not stop the others; its transaction rolled back
                if schedule is None:  # the claim itself failed: PostgreSQL is away, the loop says so
                    raise
                log.exception("schedule %s: could not fire; it is tried again at the next tick", schedule.id)
        return fired

    async def _fire(self, conn: PgConnection, schedule: ScheduleRecord, now: datetime) -> list[Fired]:
        # In a thread: after a long downtime, enumerating the missed due times takes a while (croniter, ~30 µs
        # per due time, at most MAX_CATCH_UP_STEPS), which the event loop of a server must not wait for.
        plan = await asyncio.to_thread(plan_catch_up, schedule.id, schedule.cron, schedule.timezone,
                                       schedule.jitter_seconds, schedule.max_missed_runs, schedule.next_due_at, now)
        fired: list[Fired] = []
        if plan.skipped_count and plan.skipped_first is not None:
            note = None if plan.skipped_exact else f"at least {plan.skipped_count} due times were missed"
            if await store.record_firing(conn, schedule.id, plan.skipped_first, now, store.SKIPPED,
                                         skipped_through=plan.skipped_last, skipped_count=plan.skipped_count,
                                         note=note):
                fired.append(Fired(schedule.id, plan.skipped_first, store.SKIPPED,
                                   skipped_count=plan.skipped_count))
                log.warning("schedule %s: skipped %d missed due time(s) from %s (maxMissedRuns %d)", schedule.id,
                            plan.skipped_count, plan.skipped_first.isoformat(), schedule.max_missed_runs)
        problem, spec = await self._experiment(conn, schedule)
        for due, catch_up in plan.run:
            firing_id = await store.record_firing(conn, schedule.id, due, now, store.ERROR if problem else
                                                  store.STARTED, catch_up=catch_up, note=problem)
            if firing_id is None:  # another tick served this due time already
                continue
            if spec is None:
                fired.append(Fired(schedule.id, due, store.ERROR, catch_up=catch_up))
                log.warning("schedule %s: no run for %s: %s", schedule.id, due.isoformat(), problem)
                continue
            run_id = await queue_experiment_run(self.deps, conn, schedule.project_id, schedule.experiment_id, spec)
            await store.attach_run(conn, firing_id, run_id)
            await audit_log.insert_entry(conn, actor=f"schedule:{schedule.id}", action="run.start",
                                         target=str(run_id), project_id=schedule.project_id,
                                         details={"experiment_id": str(schedule.experiment_id),
                                                  "schedule_id": str(schedule.id), "due_at": due.isoformat(),
                                                  "catch_up": catch_up})
            fired.append(Fired(schedule.id, due, store.STARTED, run_id, catch_up))
            log.info("schedule %s: started run %s for %s%s", schedule.id, run_id, due.isoformat(),
                     " (missed, run late)" if catch_up else "")
        started = [f for f in fired if f.outcome == store.STARTED]
        await store.advance(conn, schedule.id, plan.next_due,
                            fire_time(schedule.id, plan.next_due, schedule.jitter_seconds),
                            fired=len(started), skipped=sum(f.skipped_count for f in fired),
                            errors=sum(f.outcome == store.ERROR for f in fired),
                            last_run_id=started[-1].run_id if started else None, fired_at=now if started else None)
        return fired

    async def _experiment(self, conn: PgConnection,
                          schedule: ScheduleRecord) -> tuple[str | None, ExperimentSpec | None]:
        """Why no run can start (None when one can), and the experiment's parsed spec."""
        row = await conn.fetchrow("SELECT archived_at, spec FROM experiments WHERE id = $1", schedule.experiment_id)
        if row is None:
            return "the experiment no longer exists", None
        if row["archived_at"] is not None:
            return "the experiment is archived; restore it or delete the schedule", None
        try:
            return None, load_spec(row["spec"])
        except BenchlabError as exc:
            return f"the experiment's spec is not valid any more: {exc}", None

    async def settle_ended(self) -> list[Settled]:
        """Gate each scheduled run that completed and record it; record failed and cancelled ones as not gated."""
        ended = [state.value for state in TERMINAL_STATES]
        done: list[UUID] = []
        settled: list[Settled] = []
        for _ in range(MAX_PER_TICK):
            async with self.deps.pg.acquire() as conn, conn.transaction():
                firing = await store.claim_unsettled(conn, ended, done)
                if firing is None:
                    break
                done.append(firing.firing_id)
                status, note = await self._gate(firing)
                await store.settle(conn, firing, status, note, self.clock())
            settled.append(Settled(firing.schedule_id, firing.run_id, status, note))
            log.info("schedule %s: run %s %s%s", firing.schedule_id, firing.run_id, status.replace("_", " "),
                     f" ({note})" if note else "")
        async with self.deps.pg.acquire() as conn:
            await store.orphaned_firings(conn)
        return settled

    async def _gate(self, firing: store.Unsettled) -> tuple[str, str | None]:
        if firing.run_status != RunState.COMPLETED.value:
            return store.NOT_GATED, f"the run {firing.run_status}" + (f": {firing.run_error}" if firing.run_error
                                                                     else "")
        baseline = None if firing.baseline == DEFAULT_BASELINE else firing.baseline
        try:
            outcome = await gate_run(self.deps, firing.run_id, baseline)
        except BenchlabError as exc:  # no gates in the spec, an unknown baseline: nothing to retry
            return store.NOT_GATED, f"not gated: {exc}"
        label = outcome.baseline_label or "no baseline"
        return (store.PASSED if outcome.report.passed else store.FAILED), f"against {label}"

    def start(self) -> None:
        """Tick every `interval_s` (sooner when a schedule is due sooner) until `stop()`."""
        if self.interval_s > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="scheduler")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        failing = False
        while True:
            try:
                result = await self.tick()
                wait = await self._until_next(progressed=bool(result.fired))
                failing = False
            except Exception as exc:  # PostgreSQL or ClickHouse away: the next tick tries again; said once
                if not failing:
                    log.warning("scheduler tick failed (%s); retrying every %.0f s", exc, self.interval_s)
                failing = True
                wait = self.interval_s
            await asyncio.sleep(wait)

    async def _until_next(self, *, progressed: bool) -> float:
        """Seconds until the earliest firing time of any active schedule, at most the interval. A schedule still
        overdue after a tick that fired nothing (it failed and was logged) waits for the next interval."""
        async with self.deps.pg.acquire() as conn:
            earliest = await conn.fetchval("SELECT min(next_fire_at) FROM schedules WHERE NOT paused")
        if earliest is None:
            return self.interval_s
        until = (earliest - self.clock()).total_seconds()
        if until <= 0 and not progressed:
            return self.interval_s
        return max(MIN_SLEEP_S, min(self.interval_s, until))
