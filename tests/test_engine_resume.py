"""A resumed run goes on where it stopped: counters, stop rules, request budgets, its clock and its summary."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import pytest

from benchlab.engine.deps import EngineDeps
from benchlab.engine.runner import RunExecutor
from benchlab.engine.runs import resume_run, submit_run
from benchlab.spec import load_spec
from benchlab.stores.runs import RunRecord, get_run
from tests.helpers.engine import event_rows, mock_spec
from tests.helpers.mock_llm import run_mock_llm
from tests.helpers.polling import eventually


async def interrupt_after(deps: EngineDeps, spec: dict[str, Any], done: int) -> UUID:
    """Start the run and stop it (as a dying process would) once `done` requests are finished."""
    run_id = await submit_run(deps, load_spec(spec))
    executor = RunExecutor(deps, run_id)
    task = asyncio.create_task(executor.execute())
    await eventually(lambda: getattr(executor, "recorded", None) is not None and executor.progress.done >= done,
                     f"{done} requests done")
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with deps.pg.acquire() as conn:
        run = await get_run(conn, run_id)
    assert run is not None and run.status == "interrupted"
    assert run.completed_requests >= done
    return run_id


async def resume(deps: EngineDeps, run_id: UUID) -> RunRecord:
    await resume_run(deps, run_id)
    return await RunExecutor(deps, run_id).execute()


async def test_the_error_rate_stop_rule_counts_the_failures_recorded_before_the_resume(
        engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=4, fault="500") as mock:
        spec = mock_spec(mock.base_url, items=60, retries={"max_attempts": 1},
                         load={"profile": "synchronous", "max_error_rate": 0.9})
        run_id = await interrupt_after(engine_deps, spec, done=10)
        run = await resume(engine_deps, run_id)
    rows = await event_rows(engine_deps, run_id, "status")
    assert run.status == "failed" and run.error.startswith("stopped after 20 requests: error rate 100%")
    assert run.completed_requests == run.failed_requests == len(rows) < 60


async def test_a_request_budget_is_shared_across_the_resume(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=20, gap_ms=2, output_tokens=4) as mock:
        spec = mock_spec(mock.base_url, items=30, load={"profile": "synchronous", "max_requests": 12})
        run_id = await interrupt_after(engine_deps, spec, done=5)
        run = await resume(engine_deps, run_id)
    rows = await event_rows(engine_deps, run_id, "event_id")
    assert run.status == "completed"
    assert len(rows) == len({r["event_id"] for r in rows}) == run.completed_requests == 12


async def test_the_run_clock_continues_across_the_resume_and_the_pause_is_not_counted(
        engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=20, gap_ms=2, output_tokens=4, fault_rates={"500": 0.3}) as mock:
        spec = mock_spec(mock.base_url, items=24, retries={"max_attempts": 1},
                         load={"profile": "concurrent", "concurrency": 2})
        run_id = await interrupt_after(engine_deps, spec, done=8)
        first = await event_rows(engine_deps, run_id, "event_id, run_offset_s")
        await asyncio.sleep(1.0)  # the pause before the resume
        run = await resume(engine_deps, run_id)
    rows = await event_rows(engine_deps, run_id, "event_id, status, run_offset_s")
    later = [r for r in rows if r["event_id"] not in {f["event_id"] for f in first}]
    assert len(rows) == 24 and later
    assert min(r["run_offset_s"] for r in later) >= max(f["run_offset_s"] for f in first)
    # Every request counted, failures included, and the summary covers the rows of both executions.
    failed = sum(r["status"] != "ok" for r in rows)
    assert (run.completed_requests, run.failed_requests) == (24, failed)
    [group] = run.summary["groups"]
    assert group["requests"] == 24 and group["requests"] - group["succeeded"] == failed
    # The window is the time the run executed: the clock of its last request, not the wall time since its start.
    assert run.summary["window"]["seconds"] <= max(r["run_offset_s"] for r in rows) + 1.0
    assert run.summary["window"]["seconds"] < (run.finished_at - run.started_at).total_seconds() - 0.9


async def test_a_duration_bound_run_resumes_for_what_is_left_of_its_duration(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=20, gap_ms=2, output_tokens=4) as mock:
        spec = mock_spec(mock.base_url, items=5, load={"profile": "synchronous", "duration_s": 1.5})
        run_id = await interrupt_after(engine_deps, spec, done=5)
        run = await resume(engine_deps, run_id)
    rows = await event_rows(engine_deps, run_id, "event_id, run_offset_s")
    assert run.status == "completed"
    assert len(rows) == len({r["event_id"] for r in rows})
    assert all(r["run_offset_s"] < 1.5 for r in rows)  # every request was meant to be sent within the duration


async def test_a_cancel_while_rows_are_being_written_waits_for_them(
        engine_deps: EngineDeps, monkeypatch: pytest.MonkeyPatch) -> None:
    """A process stopping while the run flushes its last rows: the run must not end before they are written,
    or a resume started right after would not see them and send those requests again."""
    gate = asyncio.Event()
    insert = engine_deps.clickhouse.insert

    async def held_insert(*args: Any, **kwargs: Any) -> int:
        await gate.wait()  # ClickHouse is slow to take the batch
        return await insert(*args, **kwargs)

    monkeypatch.setattr(engine_deps.clickhouse, "insert", held_insert)
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=4) as mock:
        run_id = await submit_run(engine_deps, load_spec(mock_spec(mock.base_url, items=3)))
        executor = RunExecutor(engine_deps, run_id)
        task = asyncio.create_task(executor.execute())
        await eventually(lambda: executor._sending_done, "every request sent")
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=1.0)
        assert not done, "the run ended while its rows were still on their way to ClickHouse"
        gate.set()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(await event_rows(engine_deps, run_id, "event_id")) == 3
