"""The one place that creates, queues, resumes and cancels runs: `benchlab run` and the API both come here.

A run is created from a parsed spec, which the caller then hands to the executor as it is: the spec is parsed
once per run (a resumed run, started from its stored snapshot, parses that snapshot once). State changes are
guarded UPDATEs in `stores/runs.py`, so two callers racing for the same run cannot both win; a request that
makes no sense in the run's state is a ConflictError naming that state.
"""

from __future__ import annotations

from uuid import UUID

from benchlab.catalog import register_experiment
from benchlab.engine.deps import EngineDeps
from benchlab.engine.planner import cells
from benchlab.errors import ConflictError, NotFoundError
from benchlab.spec import ExperimentSpec, LoadProfile
from benchlab.stores import run_queue, runs
from benchlab.stores.postgres import PgConnection
from benchlab.stores.runs import RunState

FINISHED = (RunState.COMPLETED, RunState.FAILED)


def planned_total(spec: ExperimentSpec) -> int:
    """Requests the run will send, when known in advance (0 for duration-bound runs)."""
    if spec.load.max_requests:
        return spec.load.max_requests
    if spec.load.duration_s:
        return 0
    phases = (spec.load.sweep_rates or 0) + 2 if spec.load.profile is LoadProfile.SWEEP else 1
    return len(cells(spec)) * phases


async def submit_run(deps: EngineDeps, spec: ExperimentSpec, *, enqueue: bool = False) -> UUID:
    """Record the spec's entities (its experiment, providers, models, prompt and dataset versions), then create
    a queued run of it: `benchlab run SPEC`, which executes it itself unless `enqueue` hands it to the workers."""
    async with deps.pg.acquire() as conn, conn.transaction():
        registered = await register_experiment(conn, spec, deps.secrets)
        return await _queue(deps, conn, registered.project_id, registered.experiment_id, spec, enqueue)


async def start_experiment_run(deps: EngineDeps, project_id: UUID, experiment_id: UUID,
                               spec: ExperimentSpec) -> UUID:
    """Create a run of a stored experiment (`spec` parsed from it) and put it in the run queue: startRun."""
    async with deps.pg.acquire() as conn, conn.transaction():
        return await queue_experiment_run(deps, conn, project_id, experiment_id, spec)


async def queue_experiment_run(deps: EngineDeps, conn: PgConnection, project_id: UUID, experiment_id: UUID,
                               spec: ExperimentSpec) -> UUID:
    """startRun's run and queue job on the caller's connection, committed with the caller's own writes (a
    schedule firing: the run and the due time it serves are one transaction)."""
    return await _queue(deps, conn, project_id, experiment_id, spec, True)


async def resume_run(deps: EngineDeps, run_id: UUID, *, enqueue: bool = True) -> None:
    """Queue an interrupted run again (in the run queue, unless the caller executes it itself: `benchlab run
    --resume`); its executor skips every request already recorded."""
    async with deps.pg.acquire() as conn, conn.transaction():
        if not await runs.requeue_interrupted(conn, run_id):
            status = await _status(conn, run_id)
            raise ConflictError(f"run {run_id} is {status}; only interrupted runs can be resumed",
                                status=status.upper())
        if enqueue:
            await run_queue.enqueue_run(conn, run_id)


async def cancel_run(deps: EngineDeps, run_id: UUID) -> RunState:
    """Ask a run to stop; returns its status afterwards (cancelling a cancelled run does nothing).

    A run that is not executing ends `cancelled` at once; a running one gets `cancel_requested`, which its
    executor sees (at once when it runs in this process, see RunManager.cancel; else at its next progress
    beat) and then ends `cancelled`.
    """
    async with deps.pg.acquire() as conn:
        status = await _status(conn, run_id)
        if status in FINISHED:
            raise ConflictError(f"the run is {status}; only pending, queued, running or interrupted runs can be "
                                "cancelled", status=status.upper())
        status = await runs.request_cancel(conn, run_id) or status
        if status is RunState.CANCELLED:
            await run_queue.cancel_job(deps.pg, await run_queue.queue_job_of(conn, run_id))
    if status in FINISHED:  # it finished between our read and our update
        raise ConflictError(f"the run is {status}; it finished before it could be cancelled", status=status.upper())
    return status


async def _queue(deps: EngineDeps, conn: PgConnection, project_id: UUID, experiment_id: UUID,
                 spec: ExperimentSpec, enqueue: bool) -> UUID:
    run_id = await runs.create_run(conn, project_id, experiment_id, spec.to_dict(), planned_total(spec))
    await runs.transition(conn, run_id, RunState.QUEUED)
    if enqueue:
        await run_queue.enqueue_run(conn, run_id)
    return run_id


async def _status(conn: PgConnection, run_id: UUID) -> RunState:
    run = await runs.get_run(conn, run_id)
    if run is None:
        raise NotFoundError(f"run {run_id} does not exist")
    return run.status
