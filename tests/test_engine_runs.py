"""Runs end to end on the real stores against the mock: streams, faults, summary, cancel, resume."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections import Counter
from uuid import UUID

import pytest

from benchlab.engine.deps import EngineDeps
from benchlab.engine.executor import RetryPolicy
from benchlab.engine.runner import RunExecutor
from benchlab.engine.runs import resume_run, submit_run
from benchlab.spec import SpecError, load_spec
from benchlab.stores.runs import get_run, mark_orphans_interrupted
from tests.helpers.engine import event_rows, mock_spec, run_spec
from tests.helpers.mock_llm import MockLLM, run_mock_llm
from tests.helpers.polling import eventually


def behaviour(**fields: object) -> str:
    """A mock model name carrying behaviour overrides in its query string."""
    return "mock-llm?" + "&".join(f"{k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in fields.items())


async def test_reasoning_tool_calls_and_multi_token_events(engine_deps: EngineDeps) -> None:
    tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
    with run_mock_llm(ttft_ms=10, gap_ms=2) as mock:
        spec = mock_spec(mock.base_url, items=1, models={
            "reasoner": behaviour(reasoning_tokens=6, output_tokens=4),
            "chunky": behaviour(output_tokens=12, tokens_per_event=4),
            "caller": behaviour(tool_call={"name": "add", "arguments": {"a": 2, "b": 2}}),
        })
        spec["models"][2]["params"] = {"tools": tools}
        run = await run_spec(engine_deps, spec)
    assert run.status == "completed", run.error
    rows = {r["model"]: r for r in await event_rows(engine_deps, run.id)}
    reasoner, chunky, caller = rows["reasoner"], rows["chunky"], rows["caller"]
    assert reasoner["reasoning_tokens"] == 6 and reasoner["completion_tokens"] == 10
    assert reasoner["ttfot_ms"] > reasoner["ttft_ms"]  # first visible output comes after the reasoning
    assert chunky["tokens_per_event"] == [4, 4, 4] and len(chunky["inter_event_ms"]) == 2
    assert caller["finish_reason"] == "tool_calls" and caller["ttft_ms"] > 0 and caller["completion_tokens"] > 0


@pytest.mark.parametrize(("fault", "error_type", "status"), [
    ("429", "rate_limited", 429), ("500", "server_error", 500), ("disconnect", "disconnected", 200),
])
async def test_faults_are_classified(engine_deps: EngineDeps, fault: str, error_type: str, status: int) -> None:
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=8) as mock:
        run = await run_spec(engine_deps, mock_spec(mock.base_url, items=2, models={"m": behaviour(fault=fault)}))
    assert run.status == "failed"  # no request succeeded
    assert run.error.startswith(f"every request failed: {error_type} x2")
    assert run.summary["errors"][0]["error_type"] == error_type and run.summary["errors"][0]["requests"] == 2
    rows = await event_rows(engine_deps, run.id)
    assert [(r["status"], r["error_type"], r["http_status"]) for r in rows] == [("error", error_type, status)] * 2
    group = run.summary["groups"][0]
    assert group["errors"] == {error_type: 2} and group["succeeded"] == 0
    assert group["ttft_ms"]["p50"] is None  # failures never enter latency percentiles


async def test_a_stalled_stream_times_out(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=8) as mock:
        spec = mock_spec(mock.base_url, items=1, models={"m": behaviour(fault="stall", fault_after_events=2)})
        spec["timeout_s"] = 0.5
        run = await run_spec(engine_deps, spec)
    [row] = await event_rows(engine_deps, run.id)
    assert (row["status"], row["error_type"]) == ("error", "timeout")


async def test_summary_equals_a_direct_aggregate(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms={"dist": "uniform", "low": 5, "high": 25}, gap_ms=1, output_tokens=6) as mock:
        run = await run_spec(engine_deps, mock_spec(mock.base_url, items=5, repetitions=2,
                                                    models={"a": "mock-llm", "b": "mock-llm"},
                                                    load={"profile": "concurrent", "concurrency": 4}))
    assert run.status == "completed"
    direct = await engine_deps.clickhouse.query(
        "SELECT model, count(), quantileExactInclusive(0.5)(ttft_ms), quantileExactInclusive(0.99)(ttft_ms), "
        "avg(e2e_ms), max(tpot_ms), sum(completion_tokens) FROM request_events WHERE run_id = {run:UUID} "
        "GROUP BY model ORDER BY model", {"run": run.id}, caller="tests")
    groups = {g["model"]: g for g in run.summary["groups"]}
    assert len(groups) == 2
    for model, count, p50, p99, mean_e2e, max_tpot, tokens in direct.rows:
        group = groups[model]
        assert group["requests"] == group["succeeded"] == count == 10
        assert group["ttft_ms"]["p50"] == pytest.approx(p50, abs=1e-3)
        assert group["ttft_ms"]["p99"] == pytest.approx(p99, abs=1e-3)
        assert group["e2e_ms"]["mean"] == pytest.approx(mean_e2e, abs=1e-3)
        assert group["tpot_ms"]["max"] == pytest.approx(max_tpot, abs=1e-3)
        assert group["completion_tokens"] == tokens == 60
        assert group["request_throughput"] > 0 and group["goodput"] == group["request_throughput"]  # no SLOs set


async def test_invalid_spec_fails_before_any_request(engine_deps: EngineDeps) -> None:
    with run_mock_llm() as mock:
        spec = mock_spec(mock.base_url)
        spec["params"]["temperature"] = [0.5, 3]
        with pytest.raises(SpecError, match=r"params\.temperature"):
            load_spec(spec)
        assert mock.ground_truth() == []


def requests_done(executor: RunExecutor) -> int:
    """Requests the executor has finished so far (0 before it started)."""
    progress = getattr(executor, "progress", None)
    return progress.done if progress else 0


def completions(mock: MockLLM) -> list[dict]:
    return [r for r in mock.ground_truth() if r["path"].endswith("/chat/completions")]


async def test_cancel_stops_new_sends_and_lets_in_flight_finish(engine_deps: EngineDeps) -> None:
    concurrency = 2
    with run_mock_llm(ttft_ms=20, gap_ms=5, output_tokens=10) as mock:
        spec = mock_spec(mock.base_url, items=50, load={"profile": "concurrent", "concurrency": concurrency})
        run_id = await submit_run(engine_deps, load_spec(spec))
        executor = RunExecutor(engine_deps, run_id)
        task = asyncio.create_task(executor.execute())
        # Polled on the executor's own event loop: the cancel lands right after the 4th request finishes,
        # long before the 50th could (each request takes the mock at least 65 ms).
        await eventually(lambda: requests_done(executor) >= 4, "4 finished requests")
        done_at_cancel = requests_done(executor)
        executor.cancel()
        run = await task
        sent = completions(mock)
    assert run.status == "cancelled"
    rows = await event_rows(engine_deps, run_id)
    assert done_at_cancel <= len(rows) <= done_at_cancel + concurrency < 50  # only those in flight finished
    assert len(rows) == len(sent) and all(r["outcome"] == "completed" for r in sent)  # nothing sent was dropped
    assert all(r["status"] == "ok" for r in rows)  # the requests in flight finished normally


async def test_resume_after_a_crash_skips_recorded_cells(engine_deps: EngineDeps) -> None:
    concurrency = 2
    with run_mock_llm(ttft_ms=40, gap_ms=2, output_tokens=5) as mock:
        spec = load_spec(mock_spec(mock.base_url, items=30, load={"profile": "concurrent",
                                                                  "concurrency": concurrency}))
        run_id = await submit_run(engine_deps, spec)
        executor = RunExecutor(engine_deps, run_id)
        task = asyncio.create_task(executor.execute())
        await eventually(lambda: requests_done(executor) >= 5, "5 finished requests")
        task.cancel()  # the process stops mid-run: requests in flight are dropped
        with pytest.raises(asyncio.CancelledError):
            await task
        async with engine_deps.pg.acquire() as conn:
            interrupted = await get_run(conn, run_id)
        assert interrupted.status == "interrupted"
        before = {r["event_id"] for r in await event_rows(engine_deps, run_id, "event_id")}
        assert 5 <= len(before) == interrupted.completed_requests < 30  # what finished was recorded
        await resume_run(engine_deps, run_id)
        run = await RunExecutor(engine_deps, run_id).execute()
        sends = Counter(r["request_id"] for r in completions(mock))
    assert run.status == "completed"
    after = await event_rows(engine_deps, run_id, "event_id")
    assert len(after) == 30 and {str(r["event_id"]) for r in after} == set(sends)
    assert all(sends[str(event)] == 1 for event in before), "a recorded request was sent again"
    resent = [event for event, n in sends.items() if n > 1]
    assert len(resent) <= concurrency and max(sends.values()) <= 2  # only those in flight at the crash


async def test_runs_of_a_dead_process_are_marked_interrupted(engine_deps: EngineDeps) -> None:
    with run_mock_llm() as mock:
        run_id = await submit_run(engine_deps, load_spec(mock_spec(mock.base_url, items=1)))
    async with engine_deps.pg.acquire() as conn:
        await conn.execute("UPDATE runs SET status = 'running', owner = $2, heartbeat_at = now() WHERE id = $1",
                           run_id, f"{__import__('socket').gethostname()}:999999999")
        assert await mark_orphans_interrupted(conn) == [run_id]
        run = await get_run(conn, run_id)
    assert run.status == "interrupted" and "resume" in run.error
    assert isinstance(run.id, UUID)


def test_retry_after_wins_over_the_backoff() -> None:
    policy = RetryPolicy(max_attempts=3, backoff_s=5, max_backoff_s=20)
    rng = random.Random(0)
    assert policy.delay_s(1, 0.2, rng) == 0.2  # shorter than the 5 s backoff: the server's word wins
    assert policy.delay_s(2, 60, rng) == 20  # capped by max_backoff_s
    assert 5 <= policy.delay_s(2, None, rng) <= 10  # no Retry-After: exponential backoff (attempt 2), jittered


async def test_retries_honour_retry_after_and_are_recorded(engine_deps: EngineDeps) -> None:
    retry_after_s = 1  # the Retry-After header is in whole seconds
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=4) as mock:
        spec = mock_spec(mock.base_url, items=2, load={"profile": "concurrent", "concurrency": 2},
                         models={"m": behaviour(fault="429", fault_times=2, retry_after_s=retry_after_s)})
        spec["retries"] = {"max_attempts": 3, "backoff_s": 0.01}  # Retry-After (1 s) must win over 10 ms backoff
        run = await run_spec(engine_deps, spec)
        records = completions(mock)
    rows = await event_rows(engine_deps, run.id)
    assert [(r["status"], r["attempt"]) for r in rows] == [("ok", 3), ("ok", 3)]
    assert run.summary["groups"][0]["retries"] == 4
    by_request: dict[str, list[dict]] = {}
    for record in records:
        by_request.setdefault(record["request_id"], []).append(record)
    assert len(by_request) == 2
    for attempts in by_request.values():
        assert [a["status"] for a in attempts] == [429, 429, 200]
        # From the mock's stamp just before it wrote the 429 to its first read of the retry: the client cannot
        # have had the answer earlier, so this is at least the client's wait (asyncio never wakes early).
        waits = [(b["first_byte_ns"] - a["events"]["send_ns"][-1]) / 1e9 for a, b in itertools.pairwise(attempts)]
        assert all(w >= retry_after_s for w in waits), waits


async def test_missing_usage_falls_back_to_an_estimate(engine_deps: EngineDeps) -> None:
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=12) as mock:
        run = await run_spec(engine_deps, mock_spec(mock.base_url, items=1, models={
            "with": "mock-llm", "without": behaviour(send_usage=False)}))
    rows = {r["model"]: r for r in await event_rows(engine_deps, run.id)}
    assert (rows["with"]["completion_tokens"], rows["with"]["tokens_estimated"]) == (12, False)
    estimated = rows["without"]
    assert estimated["tokens_estimated"] and 8 <= estimated["completion_tokens"] <= 20  # ~4 chars per token
    assert run.summary["groups"][1]["estimated_token_requests"] == 1
