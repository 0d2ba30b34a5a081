"""Background work of a server process: its embedded run-queue workers, the orphan sweeper, scoring passes.

Runs reach workers through the run queue (engine/worker.py); the database is the source of truth for a run's
state. `serve` runs `BENCHLAB_WORKERS` workers in its own process (default 1; 0 for an API-only replica), and
every process sweeps orphans. Cancelling through the API sets `cancel_requested` (seen by whichever worker
executes the run) and, when the run executes here, also tells its executor at once. Stopping the server hands
the runs executing here back to the queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from uuid import UUID

from benchlab.config import Settings
from benchlab.engine.deps import EngineDeps
from benchlab.engine.scoring_pass import ScoringPass
from benchlab.engine.worker import OrphanSweeper, Worker
from benchlab.spec import ExperimentSpec
from benchlab.stores.runs import RunRecord

log = logging.getLogger(__name__)


class RunManager:
    def __init__(self, deps: EngineDeps) -> None:
        self._deps = deps
        self._scoring: dict[UUID, asyncio.Task[None]] = {}
        self.workers: list[Worker] = []
        self._working: list[asyncio.Task[None]] = []
        self._sweeping: asyncio.Task[None] | None = None

    def start_workers(self, count: int, settings: Settings) -> None:
        """Start `count` queue workers in this process (slots, per-project limit and heartbeat timeout from
        `settings`), and the orphan sweeper, which runs with none too."""
        timeout_s = settings.worker_heartbeat_timeout_s
        self._sweeping = asyncio.create_task(OrphanSweeper(self._deps, timeout_s).run(), name="orphan-sweeper")
        for _ in range(count):
            worker = Worker(self._deps, settings.worker_slots, settings.max_runs_per_project, timeout_s)
            self.workers.append(worker)
            self._working.append(asyncio.create_task(worker.run(), name=f"worker-{worker.name}"))

    async def stop_workers(self) -> None:
        """Stop claiming; runs executing here are handed back to the queue."""
        for worker in self.workers:
            worker.stop()
        tasks, self._working, self.workers = self._working, [], []
        if self._sweeping is not None:
            self._sweeping.cancel()
            tasks.append(self._sweeping)
            self._sweeping = None
        await asyncio.gather(*tasks, return_exceptions=True)

    def score(self, run: RunRecord, spec: ExperimentSpec, pass_id: UUID) -> None:
        """Execute a queued scoring pass in the background (scoreRun)."""
        scoring = ScoringPass(self._deps, run, spec, pass_id)
        self._scoring[pass_id] = asyncio.create_task(self._execute_pass(scoring), name=f"scoring-{pass_id}")

    def cancel(self, run_id: UUID) -> None:
        """Stop sending new requests of a run executing here (no-op for runs executing elsewhere)."""
        for worker in self.workers:
            worker.cancel(run_id)

    async def shutdown(self) -> None:
        await self.stop_workers()
        tasks = list(self._scoring.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _execute_pass(self, scoring: ScoringPass) -> None:
        try:
            await _supervised(scoring.execute(), f"scoring pass {scoring.pass_id}", "score the run again")
        finally:
            self._scoring.pop(scoring.pass_id, None)


async def _supervised(work: Awaitable[object], what: str, remedy: str) -> None:
    """Background work whose outcome is in the database: log how it ended, never raise into the loop."""
    try:
        await work
    except asyncio.CancelledError:
        log.warning("%s interrupted by server shutdown; %s", what, remedy)
    except Exception:
        log.exception("%s failed", what)
