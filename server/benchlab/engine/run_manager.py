"""Runs executing inside the server process: started by the API, cancelled by it, stopped with the server.

The database is the source of truth for a run's state; this only keeps the tasks. Cancelling through the
API sets `cancel_requested` (seen by whichever process executes the run) and, when the run executes here,
also tells its executor at once. Stopping the server cancels the tasks: their runs end `interrupted` and
can be resumed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from uuid import UUID

from benchlab.engine.deps import EngineDeps
from benchlab.engine.runner import RunExecutor
from benchlab.engine.scoring_pass import ScoringPass
from benchlab.spec import ExperimentSpec
from benchlab.stores.runs import RunRecord

log = logging.getLogger(__name__)


class RunManager:
    def __init__(self, deps: EngineDeps) -> None:
        self._deps = deps
        self._running: dict[UUID, tuple[RunExecutor, asyncio.Task[None]]] = {}
        self._scoring: dict[UUID, asyncio.Task[None]] = {}

    def start(self, run_id: UUID, spec: ExperimentSpec | None = None) -> None:
        """Execute a queued run in the background (`spec`: as parsed when it was created, else its snapshot)."""
        executor = RunExecutor(self._deps, run_id, spec=spec)
        task = asyncio.create_task(self._execute(executor), name=f"run-{run_id}")
        self._running[run_id] = (executor, task)

    def score(self, run: RunRecord, spec: ExperimentSpec, pass_id: UUID) -> None:
        """Execute a queued scoring pass in the background (scoreRun)."""
        scoring = ScoringPass(self._deps, run, spec, pass_id)
        self._scoring[pass_id] = asyncio.create_task(self._execute_pass(scoring), name=f"scoring-{pass_id}")

    async def wait_for_pass(self, pass_id: UUID) -> None:
        """Until the pass's task ends (tests)."""
        if pass_id in self._scoring:
            await asyncio.gather(self._scoring[pass_id], return_exceptions=True)

    def cancel(self, run_id: UUID) -> None:
        """Stop sending new requests of a run executing here (no-op for runs executing elsewhere)."""
        if run_id in self._running:
            self._running[run_id][0].cancel()

    def is_running_here(self, run_id: UUID) -> bool:
        return run_id in self._running

    async def wait(self, run_id: UUID) -> None:
        """Until the run's task ends (tests and shutdown)."""
        if run_id in self._running:
            await asyncio.gather(self._running[run_id][1], return_exceptions=True)

    async def shutdown(self) -> None:
        tasks = [task for _, task in self._running.values()] + list(self._scoring.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _execute(self, executor: RunExecutor) -> None:
        try:
            await _supervised(executor.execute(), f"run {executor.run_id}", "resume it with resumeRun")
        finally:
            self._running.pop(executor.run_id, None)

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
