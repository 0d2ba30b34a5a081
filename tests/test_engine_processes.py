"""Load generation across processes (`load.processes`): real child processes against the real mock server.

What must hold whatever the machine's speed: every planned request is recorded once, by the run's process;
timings still respect the mock's ground truth (the children stamp on the same CLOCK_MONOTONIC); closed loops
never have more than `concurrency` requests in flight overall; open loops keep the intended schedule of one
process; a child that dies fails the run with a message that says so, promptly; no child outlives its run.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import statistics
import subprocess
import sys
import time
from typing import Any

import pytest

from benchlab.engine.deps import EngineDeps
from benchlab.engine.load_pool import LoadWorkerLost
from benchlab.engine.progress import ProgressMessage
from benchlab.engine.runner import RunExecutor
from benchlab.engine.runs import submit_run
from benchlab.engine.selfcheck import SelfMeasurement, merge_reports
from benchlab.engine.transports import load_processes
from benchlab.spec import SpecError, load_spec
from benchlab.stores.runs import RunRecord, get_run
from tests.helpers.engine import event_rows, mock_spec
from tests.helpers.mock_llm import run_mock_llm
from tests.test_engine_load import max_overlap
from tests.test_engine_timing import assert_bounded_by_truth, truth_by_request


async def run_with_executor(deps: EngineDeps, spec: dict[str, Any]) -> tuple[RunRecord, RunExecutor]:
    executor = RunExecutor(deps, await submit_run(deps, load_spec(spec)))
    async with asyncio.timeout(60):
        return await executor.execute(), executor


def assert_gone(pids: list[int]) -> None:
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


async def test_two_processes_record_every_request_once_within_ground_truth(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=40, gap_ms=5, output_tokens=16) as mock:
        spec = mock_spec(mock.base_url, items=6, repetitions=2,
                         load={"profile": "concurrent", "concurrency": 4, "processes": 2})
        run, executor = await run_with_executor(engine_deps, spec)
        truths = truth_by_request(mock.ground_truth())
    assert run.status == "completed", run.error
    assert executor.pool is not None and len(executor.pool.pids) == 2 and os.getpid() not in executor.pool.pids
    assert_gone(executor.pool.pids)
    rows = await event_rows(engine_deps, run.id)
    assert len(rows) == 12 and len({r["event_id"] for r in rows}) == 12  # each planned request once
    assert {str(r["event_id"]) for r in rows} == set(truths)            # and each sent once
    for row in rows:
        truth = truths[str(row["event_id"])]
        assert row["status"] == "ok" and row["completion_tokens"] == truth["completion_tokens"] == 16
        assert row["tokens_per_event"] == truth["tokens_per_event"]
        assert row["first_on_connection"] == truth["first_on_connection"] is False  # each child warmed its own
        assert_bounded_by_truth(row, truth, configured_ttft_ms=40)
    # The run's self-measurement is the worst of its own and both children's, each kept beside.
    measured = run.self_measurement
    assert measured is not None
    processes = measured["processes"]
    assert [p["role"] for p in processes] == ["run", "load-generator", "load-generator"]
    children = processes[1:]
    assert sorted(c["pid"] for c in children) == sorted(executor.pool.pids)
    assert all(c["send_lag_ms"]["samples"] > 0 and c["loop_lag_ms"]["samples"] > 0 for c in children)  # both sent
    assert sum(c["send_lag_ms"]["samples"] for c in children) == measured["send_lag_ms"]["samples"] == 12
    assert processes[0]["send_lag_ms"]["samples"] == 0  # the run's process sent nothing itself
    assert measured["loop_lag_ms"]["p99"] == max(p["loop_lag_ms"]["p99"] for p in processes)
    assert measured["dispatch_lag_ms"]["samples"] == 12
    assert measured["client_saturated"] == any(p["client_saturated"] for p in processes) == run.client_saturated


async def test_closed_loop_concurrency_holds_across_processes(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=30, gap_ms=3, output_tokens=8) as mock:
        spec = mock_spec(mock.base_url, items=15, load={"profile": "concurrent", "concurrency": 5, "processes": 3})
        run, executor = await run_with_executor(engine_deps, spec)
        records = [r for r in mock.ground_truth() if r["path"].endswith("/chat/completions")]
    assert run.status == "completed", run.error
    assert len(records) == 15
    assert 2 <= max_overlap(records) <= 5  # concurrent, and never more than the streams, whatever child sent
    rows = await event_rows(engine_deps, run.id, "first_on_connection")
    assert not any(r["first_on_connection"] for r in rows)  # 5 streams over 3 children: 2 connections each sufficed
    assert executor.pool is not None
    assert_gone(executor.pool.pids)


async def test_open_loop_keeps_the_schedule_of_one_process(engine_deps: EngineDeps) -> None:
    rate = 50.0
    offsets: dict[int, list[float]] = {}
    with run_mock_llm(ttft_ms=10, gap_ms=2, output_tokens=4) as mock:
        for processes in (1, 2):
            spec = mock_spec(mock.base_url, items=10, repetitions=3, name=f"open-{processes}",
                             load={"profile": "constant", "rate": rate, "processes": processes})
            run, _ = await run_with_executor(engine_deps, spec)
            assert run.status == "completed", run.error
            rows = sorted(await event_rows(engine_deps, run.id, "run_offset_s, queue_delay_ms"),
                          key=lambda r: r["run_offset_s"])
            assert len(rows) == 30
            offsets[processes] = [r["run_offset_s"] - rows[0]["run_offset_s"] for r in rows]
            delays = [r["queue_delay_ms"] for r in rows]
            sends = [r["run_offset_s"] * 1e3 + r["queue_delay_ms"] for r in rows]  # actual sends, in ms
            gaps = [b - a for a, b in itertools.pairwise(sends)]
            # Actual sends within a few ms of the intended ones, not bunched: the 20 ms spacing survives.
            assert statistics.median(delays) < 5, (processes, delays)
            assert abs(statistics.median(gaps) - 1e3 / rate) < 2, (processes, gaps)
            assert sum(g < 5 for g in gaps) <= 1, (processes, gaps)
    # Same intended times with 2 processes as with 1: the schedule is the run's, not the children's.
    assert offsets[1] == pytest.approx(offsets[2], abs=1e-6)
    assert offsets[2] == pytest.approx([i / rate for i in range(30)], abs=1e-6)


async def test_a_child_killed_mid_run_fails_the_run_promptly(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=50, gap_ms=20, output_tokens=20) as mock:  # ~0.45 s per request
        spec = mock_spec(mock.base_url, items=40, load={"profile": "concurrent", "concurrency": 4, "processes": 2})
        some_done = asyncio.Event()

        def on_progress(message: ProgressMessage) -> None:
            if message["done"] >= 4:
                some_done.set()

        executor = RunExecutor(engine_deps, await submit_run(engine_deps, load_spec(spec)),
                               on_progress=on_progress)
        task = asyncio.create_task(executor.execute())
        async with asyncio.timeout(30):
            await some_done.wait()
        assert executor.pool is not None
        victim, survivor = executor.pool.pids
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        with pytest.raises(LoadWorkerLost):
            async with asyncio.timeout(20):
                await task
        ended_in = time.monotonic() - killed_at
    async with engine_deps.pg.acquire() as conn:
        run = await get_run(conn, executor.run_id)
    assert run is not None and run.status == "failed"
    assert run.error is not None and f"(pid {victim}) was killed by SIGKILL during the run" in run.error, run.error
    assert ended_in < 10  # the survivor was stopped, not waited for until its requests ended
    assert 4 <= len(await event_rows(engine_deps, run.id, "event_id")) < 40  # what finished before is recorded
    assert_gone([victim, survivor])


async def test_abort_stops_the_children_and_leaves_the_run_resumable(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=50, gap_ms=20, output_tokens=20) as mock:
        spec = mock_spec(mock.base_url, items=40, load={"profile": "concurrent", "concurrency": 4, "processes": 2})
        some_done = asyncio.Event()

        def on_progress(message: ProgressMessage) -> None:
            if message["done"] >= 4:
                some_done.set()

        executor = RunExecutor(engine_deps, await submit_run(engine_deps, load_spec(spec)), on_progress=on_progress)
        task = asyncio.create_task(executor.execute())
        async with asyncio.timeout(30):
            await some_done.wait()
        executor.abort()
        async with asyncio.timeout(15):
            run = await task
    assert run.status == "interrupted", run.error
    assert executor.pool is not None
    assert_gone(executor.pool.pids)
    rows = await event_rows(engine_deps, run.id, "event_id")
    assert 4 <= len(rows) < 40 and len({r["event_id"] for r in rows}) == len(rows)


@pytest.mark.parametrize(("value", "message"), [
    (0, "0 is out of range"), (65, "65 is out of range"), ("two", "'two' is not a whole number"),
    (True, "True is not a whole number"), (2.5, "2.5 is not a whole number"), ("AUTO", "'AUTO' is not"),
])
def test_processes_must_be_a_count_or_auto(value: object, message: str) -> None:
    spec = mock_spec("http://127.0.0.1:9/v1", load={"profile": "concurrent", "concurrency": 4, "processes": value})
    with pytest.raises(SpecError) as error:
        load_spec(spec)
    assert f"load.processes: {message}" in str(error.value)
    assert 'or "auto"' in str(error.value)


def test_processes_need_the_direct_client() -> None:
    spec = mock_spec("http://127.0.0.1:9/v1", transport="litellm", load={"profile": "synchronous", "processes": 2})
    with pytest.raises(SpecError, match="provider 'mock' goes through litellm.*transport: direct"):
        load_spec(spec)
    spec["load"]["processes"] = "auto"  # auto keeps litellm in the run's process
    assert load_processes(load_spec(spec), cores=16) == 1


def test_processes_default_and_auto() -> None:
    base = "http://127.0.0.1:9/v1"
    default = load_spec(mock_spec(base, load={"profile": "concurrent", "concurrency": 256}))
    assert default.load.processes is None and "processes" not in default.to_dict()["load"]  # snapshots unchanged
    assert load_processes(default, cores=16) == 1
    auto = {"profile": "concurrent", "concurrency": 256, "processes": "auto"}
    assert load_processes(load_spec(mock_spec(base, load=auto)), cores=16) == 4      # one per 64 streams
    assert load_processes(load_spec(mock_spec(base, load=auto)), cores=3) == 2       # at most cores - 1
    assert load_processes(load_spec(mock_spec(base, load=auto)), cores=2) == 1
    assert load_processes(load_spec(mock_spec(base, load=auto)), cores=1) == 1
    few = {"profile": "concurrent", "concurrency": 16, "processes": "auto"}
    assert load_processes(load_spec(mock_spec(base, load=few)), cores=16) == 1
    assert load_spec(mock_spec(base, load=auto)).to_dict()["load"]["processes"] == "auto"
    assert load_processes(load_spec(mock_spec(base, load={"profile": "synchronous", "processes": 3})), cores=1) == 3


def test_a_saturated_child_flags_the_run() -> None:
    calm = SelfMeasurement(loop_lag_ms=[0.1] * 100, send_lag_ms=[0.2] * 100).report()
    busy = SelfMeasurement(loop_lag_ms=[0.1] * 90 + [5.0] * 10, send_lag_ms=[0.2] * 100).report()
    own = SelfMeasurement(loop_lag_ms=[0.05] * 100).report()
    merged = merge_reports(own, [calm, busy], [0.3, 0.4], processes=2)
    assert merged["client_saturated"] and not calm["client_saturated"] and busy["client_saturated"]
    assert merged["loop_lag_ms"]["p99"] == busy["loop_lag_ms"]["p99"] == 5.0
    assert merged["loop_lag_ms"]["samples"] == 300 and merged["send_lag_ms"]["samples"] == 200
    assert not merge_reports(own, [calm, calm], [], processes=2)["client_saturated"]
    assert merge_reports(own, [calm], [], processes=2)["reports_missing"] == 1


PARENT = """
import asyncio, sys, time
from benchlab.engine.load_pool import LoadPool, PoolProvider

async def main():
    pool = LoadPool(2, [PoolProvider("mock", "openai", sys.argv[1], None, 2, 2)], timeout_s=10)
    await pool.start()
    print(*pool.pids, flush=True)
    await asyncio.sleep(60)

asyncio.run(main())
"""


def test_children_do_not_outlive_a_killed_parent() -> None:
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=2) as mock:
        parent = subprocess.Popen([sys.executable, "-c", PARENT, mock.base_url], stdout=subprocess.PIPE, text=True)
        try:
            assert parent.stdout is not None
            pids = [int(pid) for pid in parent.stdout.readline().split()]
            assert len(pids) == 2
            for pid in pids:
                os.kill(pid, 0)  # both children are up
            parent.kill()  # SIGKILL: no clean-up code runs in the parent
            parent.wait(10)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
                time.sleep(0.05)
            assert not any(_alive(pid) for pid in pids)  # their stdin closed with the parent: they exited
        finally:
            parent.kill()
            parent.wait(10)


def _alive(pid: int) -> bool:
    """Running (not a zombie waiting for its reaper: the children are re-parented to init, which reaps them)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
