"""The run queue in one process, on the real PostgreSQL, chDB and the mock LLM: per-worker slots, the per-project
limit across workers, claims as fencing tokens, the orphan sweep, and cancelling a queued run's job.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

from benchlab.catalog import register_experiment
from benchlab.engine.deps import EngineDeps
from benchlab.engine.runs import cancel_run, planned_total, start_experiment_run
from benchlab.engine.worker import OrphanSweeper, Worker
from benchlab.spec import load_spec
from benchlab.stores import run_queue
from benchlab.stores.runs import RunState, create_run, get_run, transition
from tests.helpers.engine import event_rows, mock_spec
from tests.helpers.mock_llm import run_mock_llm

NO_SUCH_PID = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1


async def queue_runs(deps: EngineDeps, spec: dict[str, Any], count: int) -> list[UUID]:
    parsed = load_spec(spec)
    async with deps.pg.acquire() as conn:
        registered = await register_experiment(conn, parsed, deps.secrets)
    return [await start_experiment_run(deps, registered.project_id, registered.experiment_id, parsed)
            for _ in range(count)]


@asynccontextmanager
async def workers(deps: EngineDeps, count: int, **options: Any) -> AsyncIterator[list[Worker]]:
    started = [Worker(deps, heartbeat_timeout_s=5, **options) for _ in range(count)]
    tasks = [asyncio.create_task(worker.run()) for worker in started]
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)


async def statuses(deps: EngineDeps, run_ids: list[UUID]) -> dict[UUID, str]:
    rows = await deps.pg.fetch("SELECT id, status FROM runs WHERE id = ANY($1)", run_ids)
    return {row["id"]: row["status"] for row in rows}


async def watch(deps: EngineDeps, run_ids: list[UUID], within_s: float = 90) -> list[set[UUID]]:
    """Until every run ended: the sets of runs seen executing together (polled every 20 ms)."""
    seen: list[set[UUID]] = []
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        current = await statuses(deps, run_ids)
        seen.append({run_id for run_id, status in current.items() if status == "running"})
        if all(status == "completed" for status in current.values()):
            return seen
        await asyncio.sleep(0.02)
    raise AssertionError(f"runs did not complete: {await statuses(deps, run_ids)}")


async def test_one_run_per_worker_slot_and_per_project_limit_across_workers(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=20, gap_ms=2, output_tokens=4) as mock:
        load = {"profile": "concurrent", "concurrency": 2}
        alpha = await queue_runs(engine_deps, mock_spec(mock.base_url, project="alpha", items=16, load=load), 3)
        beta = await queue_runs(engine_deps, mock_spec(mock.base_url, project="beta", items=16, load=load), 1)
        async with workers(engine_deps, 3, max_runs_per_project=1):
            together = await watch(engine_deps, alpha + beta)
    assert max(len(running & set(alpha)) for running in together) == 1  # the project's limit, across workers
    assert any(running & set(alpha) and running & set(beta) for running in together)  # others go ahead
    for run_id in alpha + beta:
        rows = await event_rows(engine_deps, run_id, "event_id")
        assert len(rows) == len({r["event_id"] for r in rows}) == 16


async def test_a_worker_runs_as_many_runs_at_once_as_it_has_slots(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=20, gap_ms=2, output_tokens=4) as mock:
        spec = mock_spec(mock.base_url, items=16, load={"profile": "concurrent", "concurrency": 2})
        one = await queue_runs(engine_deps, spec, 3)
        async with workers(engine_deps, 1):
            assert max(len(running) for running in await watch(engine_deps, one)) == 1
        two = await queue_runs(engine_deps, spec, 3)
        async with workers(engine_deps, 1, slots=2):
            assert max(len(running) for running in await watch(engine_deps, two)) == 2


async def test_a_queued_run_is_cancelled_with_its_job_and_no_worker_starts_it(engine_deps: EngineDeps) -> None:
    run_id, = await queue_runs(engine_deps, mock_spec("http://127.0.0.1:9/v1"), 1)
    async with engine_deps.pg.acquire() as conn:
        job_id = (await get_run(conn, run_id)).queue_job_id  # type: ignore[union-attr]
        assert job_id is not None and (await run_queue.queue_positions(conn, [run_id])) == {run_id: 1}
    assert await cancel_run(engine_deps, run_id) is RunState.CANCELLED
    assert await engine_deps.pg.fetchval("SELECT count(*) FROM pgqueuer WHERE id = $1", job_id) == 0
    async with workers(engine_deps, 1) as started:
        await asyncio.sleep(1.0)
    assert started[0].claims == 0 and (await statuses(engine_deps, [run_id]))[run_id] == "cancelled"


async def test_claims_fence_the_executor_that_lost_its_run(engine_deps: EngineDeps) -> None:
    run_id, = await queue_runs(engine_deps, mock_spec("http://127.0.0.1:9/v1"), 1)
    async with engine_deps.pg.acquire() as conn:
        first = await run_queue.claim_run(conn, run_id, "host-a:1")
        assert first is not None and first.number == 1 and not first.resumed
        assert await transition(conn, run_id, RunState.RUNNING, claim=first.number)
        second = await run_queue.claim_run(conn, run_id, "host-b:2")  # its worker looked dead: taken over
        assert second is not None and second.number == 2 and second.resumed
        assert not await run_queue.holds_claim(conn, run_id, first.number)
        # The first executor's writes change nothing any more.
        assert not await transition(conn, run_id, RunState.RUNNING, claim=first.number)
        assert await transition(conn, run_id, RunState.RUNNING, claim=second.number)
        assert not await transition(conn, run_id, RunState.COMPLETED, claim=first.number)
        assert (await get_run(conn, run_id)).status is RunState.RUNNING  # type: ignore[union-attr]


async def test_the_sweep_requeues_runs_with_a_job_and_interrupts_runs_without(engine_deps: EngineDeps) -> None:
    spec = mock_spec("http://127.0.0.1:9/v1")
    with_job, = await queue_runs(engine_deps, spec, 1)
    async with engine_deps.pg.acquire() as conn:
        parsed = load_spec(spec)
        registered = await register_experiment(conn, parsed, engine_deps.secrets)
        without_job = await create_run(conn, registered.project_id, registered.experiment_id, parsed.to_dict(),
                                       planned_total(parsed))
        alive = await create_run(conn, registered.project_id, registered.experiment_id, parsed.to_dict(), 1)
        dead_here = f"{socket.gethostname()}:{NO_SUCH_PID}"
        for run_id, owner in ((with_job, dead_here), (without_job, dead_here), (alive, "elsewhere:1")):
            await conn.execute("UPDATE runs SET status = 'running', owner = $2, heartbeat_at = now() WHERE id = $1",
                               run_id, owner)
    requeued, interrupted = await OrphanSweeper(engine_deps, stale_after_s=30).sweep()
    assert requeued == [with_job] and interrupted == [without_job]
    found = await statuses(engine_deps, [with_job, without_job, alive])
    assert found == {with_job: "queued", without_job: "interrupted", alive: "running"}
