"""Workers: claim queued runs from the run queue (stores/run_queue.py) and execute them; sweep orphans.

A worker holds at most `slots` runs at once (default 1: concurrent runs on one client distort each other's
latency), and a project at most `max_runs_per_project` runs in flight across all workers (checked under a
per-project advisory lock, so two workers cannot both take the last place). While it executes a run it beats
two hearts: the queue job's (pgqueuer re-picks a job whose heartbeat went stale, which is how a run of a worker
killed with -9 reaches another worker) and the run's own (engine/runner.py). The next worker claims the run
with a higher claim number (the fencing token) and resumes it, skipping every request already recorded.

Stopping a worker (SIGTERM) stops claiming and hands its runs back: each is stopped at once (rows received so
far are written), then queued again with its job, for the next worker to resume.

The sweeper runs in every API process and worker, continuously: runs marked running whose executor stopped
beating go back to `queued` when their job is still in the queue, or become `interrupted` (resumable by hand)
when nothing would ever pick them up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from uuid import UUID

from pgqueuer.domain.models import Job
from pgqueuer.domain.types import JobId, QueueManagerId

from benchlab.engine.deps import EngineDeps
from benchlab.engine.runner import RunExecutor
from benchlab.errors import BenchlabError
from benchlab.stores import run_queue
from benchlab.stores.runs import RunState, mark_orphans_interrupted, process_owner, requeue_interrupted

log = logging.getLogger(__name__)

POLL_S = 0.5             # between dequeue attempts when no notification arrives
PROJECT_LIMIT_RETRY_S = 1.0


@dataclass
class Worker:
    deps: EngineDeps
    slots: int = 1
    max_runs_per_project: int = 0
    heartbeat_timeout_s: float = 15.0
    name: str = field(default_factory=lambda: f"{process_owner()}:{uuid.uuid4().hex[:8]}")
    id: QueueManagerId = field(default_factory=lambda: QueueManagerId(uuid.uuid4()))
    _active: dict[JobId, tuple[RunExecutor, asyncio.Task[None]]] = field(default_factory=dict)
    _stopping: bool = False
    _queue_down: bool = False
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    claims: int = 0  # runs started here (tests)

    async def run(self) -> None:
        """Claim and execute runs until `stop()`; then hand back what is still executing."""
        log.info("worker %s: %d slot(s), claims time out after %.0f s without heartbeat", self.name, self.slots,
                 self.heartbeat_timeout_s)
        beating = asyncio.create_task(self._beat_jobs())
        try:
            async with self._notifications():
                while not self._stopping:
                    if len(self._active) < self.slots and await self._claim_safely():
                        continue
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(POLL_S):
                            await self._wake.wait()
        finally:
            beating.cancel()
            await self._hand_back()
            await asyncio.gather(beating, return_exceptions=True)

    def stop(self) -> None:
        """Stop claiming; `run()` then hands back the runs executing here and returns."""
        self._stopping = True
        self._wake.set()

    def cancel(self, run_id: UUID) -> None:
        """Stop sending new requests of a run executing here at once (others see `cancel_requested` soon)."""
        for executor, _ in self._active.values():
            if executor.run_id == run_id:
                executor.cancel()

    async def _claim_safely(self) -> bool:
        """Take one job if there is one; True when one was taken (started or given back). PostgreSQL failing
        between the pick and the claim gives the job back, or it would hold one of this worker's slots."""
        try:
            job = await run_queue.dequeue_run(self.deps.pg, self.id, self.slots, self.heartbeat_timeout_s)
        except Exception as exc:  # PostgreSQL away: try again at the next poll; said once per outage
            if not self._queue_down:
                log.warning("worker %s: could not read the run queue (%s); retrying quietly", self.name, exc)
            self._queue_down = True
            return False
        self._queue_down = False
        if job is None:
            return False
        try:
            return await self._claim(job)
        except Exception as exc:
            log.warning("worker %s: could not claim the run of job %s (%s); giving the job back", self.name, job.id,
                        exc)
            with contextlib.suppress(Exception):
                await run_queue.give_back(self.deps.pg, job, POLL_S)
            return False

    async def _claim(self, job: Job) -> bool:
        run_id = run_queue.job_run_id(job)
        async with self.deps.pg.acquire() as conn, conn.transaction():
            project_id = await run_queue.project_of(conn, run_id)
            if project_id is not None and self.max_runs_per_project:
                await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))", str(project_id))
                if await run_queue.in_flight_in_project(conn, project_id, run_id) >= self.max_runs_per_project:
                    await run_queue.give_back(conn, job, PROJECT_LIMIT_RETRY_S)
                    return True
            claim = await run_queue.claim_run(conn, run_id, process_owner()) if project_id else None
        if claim is None:  # cancelled, finished or deleted while it waited
            await run_queue.finish_job(self.deps.pg, job)
            return True
        self.claims += 1
        if claim.resumed:
            log.warning("worker %s: resuming run %s, whose worker stopped heartbeating (claim %d)", self.name,
                        run_id, claim.number)
        executor = RunExecutor(self.deps, run_id, claim=claim.number)
        self._active[job.id] = (executor, asyncio.create_task(self._execute(job, executor), name=f"run-{run_id}"))
        return True

    async def _execute(self, job: Job, executor: RunExecutor) -> None:
        handed_back = False
        try:
            await executor.execute()
        except asyncio.CancelledError:
            handed_back = True
        except BenchlabError as exc:
            log.warning("worker %s: run %s did not start: %s", self.name, executor.run_id, exc)
        except Exception:
            log.exception("worker %s: run %s failed", self.name, executor.run_id)
        finally:
            self._active.pop(job.id, None)
            self._wake.set()
        try:
            if handed_back and not executor.lost_claim:
                await self._requeue(job, executor.run_id)
            elif not executor.lost_claim:
                await run_queue.finish_job(self.deps.pg, job)
        except Exception:
            log.exception("worker %s: could not settle the queue job of run %s", self.name, executor.run_id)

    async def _requeue(self, job: Job, run_id: UUID) -> None:
        """Give a stopped run back to the queue: the same job, waiting again; the next worker resumes it."""
        async with self.deps.pg.acquire() as conn, conn.transaction():
            if await requeue_interrupted(conn, run_id):
                await run_queue.give_back(conn, job, 0)
                log.info("worker %s: handed run %s back to the queue", self.name, run_id)
                return
        await run_queue.finish_job(self.deps.pg, job)

    async def _hand_back(self) -> None:
        tasks = [task for _, task in self._active.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _beat_jobs(self) -> None:
        """The queue's heartbeat for every job held here, a few times per timeout."""
        while True:
            await asyncio.sleep(self.heartbeat_timeout_s / 4)
            try:
                await run_queue.beat(self.deps.pg, list(self._active))
            except Exception as exc:
                log.warning("worker %s: could not beat the queue's heart (%s)", self.name, exc)

    @contextlib.asynccontextmanager
    async def _notifications(self) -> AsyncIterator[None]:
        """Wake at once when a job is queued (pgqueuer notifies its channel); polling covers a lost one."""
        channel = run_queue.NOTIFY_CHANNEL

        def notified(*_: object) -> None:
            self._wake.set()

        try:
            conn = await self.deps.pg.acquire()
        except Exception as exc:  # polling alone still finds every job
            log.warning("worker %s: no queue notifications (%s); polling every %.1f s", self.name, exc, POLL_S)
            yield
            return
        try:
            await conn.add_listener(channel, notified)
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    await conn.remove_listener(channel, notified)
        finally:
            await self.deps.pg.release(conn)


@dataclass
class OrphanSweeper:
    """Every few seconds: hand runs of stopped workers back to the queue, interrupt runs nobody will pick up."""

    deps: EngineDeps
    stale_after_s: float = 15.0

    async def run(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self.stale_after_s / 2)
            try:
                await self.sweep()
                failing = False
            except Exception as exc:  # the next sweep tries again; said once per outage
                if not failing:
                    log.warning("orphan sweep failed (%s); retrying quietly", exc)
                failing = True

    async def sweep(self) -> tuple[list[UUID], list[UUID]]:
        async with self.deps.pg.acquire() as conn:
            requeued = await run_queue.requeue_stale(conn, self.stale_after_s)
            interrupted = await mark_orphans_interrupted(conn, max(self.stale_after_s, 2.0))
        for run_id in requeued:
            log.warning("run %s: its worker stopped; queued again for the next worker to resume", run_id)
        for run_id in interrupted:
            log.warning("run %s was left %s by a process that stopped; marked interrupted (resumable)", run_id,
                        RunState.RUNNING.value)
        return requeued, interrupted
