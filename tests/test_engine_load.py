"""Load profiles through the whole engine: provider limits, windows, stop rules, sweeps, live progress."""

from __future__ import annotations

import asyncio

from benchlab.engine.deps import EngineDeps
from benchlab.engine.runner import RunExecutor, progress_channel
from benchlab.engine.runs import submit_run
from benchlab.spec import load_spec
from tests.helpers.engine import event_rows, mock_spec, run_spec
from tests.helpers.mock_llm import run_mock_llm
from tests.helpers.mock_pause import frozen


def max_overlap(records: list[dict]) -> int:
    """Most requests the server was serving at the same moment, from its own log."""
    edges = sorted([(r["arrival_ns"], 1) for r in records] + [(r["end_ns"], -1) for r in records])
    current = peak = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


async def test_provider_concurrency_limit_holds(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=20, gap_ms=2, output_tokens=5) as mock:
        spec = mock_spec(mock.base_url, items=12, load={"profile": "concurrent", "concurrency": 6})
        spec["providers"][0]["max_concurrency"] = 2
        run = await run_spec(engine_deps, spec)
        records = [r for r in mock.ground_truth() if r["path"].endswith("/chat/completions")]
    assert run.status == "completed" and len(records) == 12
    assert max_overlap(records) == 2


async def test_warm_up_is_excluded_and_duration_stops_the_run(engine_deps: EngineDeps) -> None:
    rate, duration_s, warmup_s = 20, 1.5, 0.5
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=4) as mock:
        spec = mock_spec(mock.base_url, items=2, load={"profile": "constant", "rate": rate,
                                                       "duration_s": duration_s, "warmup_s": warmup_s})
        run = await run_spec(engine_deps, spec)
    assert run.status == "completed", run.error
    rows = sorted(await event_rows(engine_deps, run.id, "in_window, run_offset_s"), key=lambda r: r["run_offset_s"])
    # Intended sends (on the run's clock) follow the schedule without a gap, cycling through the 2-item plan,
    # and none is scheduled at or past the duration: that is what stopped the run (how many fit depends on
    # the machine's speed only through sends the loop could not make in time, which end the run early).
    first = rows[0]["run_offset_s"]
    assert all(abs(r["run_offset_s"] - first - i / rate) < 1e-6 for i, r in enumerate(rows)), rows
    assert rows[-1]["run_offset_s"] - first < duration_s and len(rows) <= rate * duration_s
    # The window is [warm-up, duration] on the run's clock; the summary counts exactly the rows inside it.
    assert all(r["in_window"] == (warmup_s <= r["run_offset_s"] <= duration_s) for r in rows), rows
    inside = sum(r["in_window"] for r in rows)
    assert not rows[0]["in_window"] and 0 < inside < len(rows), "warm-up rows first, then measured ones"
    assert sum(g["requests"] for g in run.summary["groups"]) == inside


async def test_max_requests_stops_the_run(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=2, gap_ms=1, output_tokens=2) as mock:
        spec = mock_spec(mock.base_url, items=10, load={"profile": "concurrent", "concurrency": 3,
                                                        "max_requests": 7})
        run = await run_spec(engine_deps, spec)
    assert run.status == "completed" and run.planned_requests == 7
    assert len(await event_rows(engine_deps, run.id)) == 7


async def test_sweep_runs_sync_max_and_rates_between(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=10, gap_ms=1, output_tokens=4) as mock:
        spec = mock_spec(mock.base_url, items=6, load={"profile": "sweep", "sweep_rates": 2, "max_concurrency": 4})
        run = await run_spec(engine_deps, spec)
    assert run.status == "completed", run.error
    phases = [g["load_phase"] for g in run.summary["groups"]]
    assert {"sync", "max"} <= set(phases)
    rate_phases = sorted(p for p in phases if p.startswith("rate-"))
    assert len(rate_phases) == 2
    rows = await event_rows(engine_deps, run.id, "load_phase, event_id")
    assert len(rows) == 24 and len({r["event_id"] for r in rows}) == 24  # 4 phases x 6, never a shared id


async def test_progress_is_published_with_sequence_numbers(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=30, gap_ms=5, output_tokens=10) as mock:
        run_id = await submit_run(engine_deps, load_spec(mock_spec(mock.base_url, items=25)))
        messages: list[dict] = []
        async with engine_deps.hub.subscribe(progress_channel(run_id)) as subscription:
            with frozen(mock):  # nothing can finish: the first message is a live beat of a running run
                task = asyncio.create_task(RunExecutor(engine_deps, run_id).execute())
                messages.append(await asyncio.wait_for(subscription.get(), 60))
            while messages[-1]["status"] != "completed":
                messages.append(await asyncio.wait_for(subscription.get(), 60))
            await task
    assert messages[0]["status"] == "running" and messages[0]["done"] == 0
    sequences = [m["sequence"] for m in messages]
    assert len(sequences) >= 3 and sequences == list(range(1, len(sequences) + 1))
    assert [m["status"] for m in messages[-2:]] == ["finishing", "completed"]
    assert messages[-1]["done"] == messages[-1]["total"] == 25
    assert messages[-1]["runId"] == str(run_id)
