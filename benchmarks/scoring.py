"""Does scoring distort the latency measurement, and how fast do judges and scoring passes go?

    python benchmarks/scoring.py [--quick]

Embedded PostgreSQL and chDB in a temporary data dir, the mock LLM with an answer key (fixed TTFT 50 ms,
gap 2 ms), benchlab's own engine in this process:
1. TTFT error against the mock's ground truth — stored TTFT − (the server's first-token write − its arrival of
   the request), per request, matched by X-Request-ID — for runs without evaluators and runs with evaluators
   (five deterministic checks and an llm-rubric judge), alternated in the same session so machine noise hits
   both alike. Scoring runs after the measurement window, so the two should agree within noise.
2. Judge throughput: a scoring pass over a run's responses with the cache off, judge calls per second at
   judge concurrency 4 and 16 (the mock judge answers after 5 ms).
3. Scoring-pass throughput with deterministic evaluators only: requests scored per second end to end (read
   from ClickHouse, evaluate, write the score rows, summarise).
No pass/fail on time: the numbers are printed (2 shared cores; other work may be running).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from uuid import UUID

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from benchlab.config import Settings  # noqa: E402
from benchlab.engine.deps import EngineDeps  # noqa: E402
from benchlab.engine.rescoring import prepare_rescoring  # noqa: E402
from benchlab.engine.runner import RunExecutor  # noqa: E402
from benchlab.engine.runs import submit_run  # noqa: E402
from benchlab.engine.scoring_pass import ScoringPass  # noqa: E402
from benchlab.metrics import quantile  # noqa: E402
from benchlab.mockllm.process import MockLLM, run_mock_llm  # noqa: E402
from benchlab.runtime import Runtime  # noqa: E402
from benchlab.spec import load_spec  # noqa: E402
from benchlab.stores import request_events  # noqa: E402
from benchlab.stores.local import local_stores  # noqa: E402
from benchlab.stores.scoring_passes import PassTrigger  # noqa: E402

ITEMS = 50
TOKEN_KINDS = {"reasoning", "content", "tool_call"}
DETERMINISTIC = [
    {"type": "icontains", "value": "{{expected_output}}", "name": "hit"},
    {"type": "not-contains", "value": "don't know", "name": "knows"},
    {"type": "regex", "value": "ans[0-9]+", "name": "names"},
    {"type": "starts-with", "value": "It", "name": "starts"},
    {"type": "latency", "metric": "ttft", "threshold": 500, "name": "fast"},
]
RUBRIC = {"type": "llm-rubric", "name": "judged", "value": "Answers correctly."}


def spec(base_url: str, *, evaluators: list[dict[str, Any]] | None, concurrency: int, repetitions: int,
         judge_concurrency: int = 4, cache: bool = True) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": f"scoring-bench-{time.monotonic_ns()}", "project": "bench",
        "providers": [{"name": "mock", "type": "openai", "api_base": base_url, "transport": "direct"}],
        "models": [{"name": "m", "provider": "mock", "model": "mock-llm?accuracy=0.7"}],
        "judges": [{"name": "grader", "provider": "mock", "model": "mock-llm?judge=true&ttft_ms=5&gap_ms=0"}],
        "prompts": [{"name": "qa", "messages": [{"role": "user", "content": "{{question}}"}]}],
        "dataset": {"name": "quiz", "items": [{"id": f"q{n}", "vars": {"question": f"Question {n}?"},
                                               "expected_output": f"ans{n}"} for n in range(ITEMS)]},
        "params": {"max_tokens": 32}, "repetitions": repetitions,
        "load": {"profile": "concurrent", "concurrency": concurrency}, "timeout_s": 30,
    }
    if evaluators:
        document["evaluators"] = evaluators
        document["evaluation"] = {"judge_concurrency": judge_concurrency, "cache": cache}
    else:
        document.pop("judges")
    return document


async def ttft_errors(deps: EngineDeps, mock: MockLLM, run_id: Any) -> list[float]:
    result = await deps.clickhouse.query(
        "SELECT toString(event_id), ttft_ms FROM request_events WHERE run_id = {run:UUID} AND status = 'ok'",
        {"run": run_id}, caller="bench")
    truths = {record["request_id"]: record for record in mock.ground_truth()}
    errors = []
    for event_id, ttft in result.rows:
        truth = truths.get(event_id)
        if truth is None:
            continue
        events = truth["events"]
        writes = [w for kind, w in zip(events["kind"], events["write_ns"], strict=True) if kind in TOKEN_KINDS]
        errors.append(ttft - (writes[0] - truth["arrival_ns"]) / 1e6)
    return errors


def describe(values: list[float]) -> str:
    return f"p50 {quantile(values, 0.5):.3f} ms  p99 {quantile(values, 0.99):.3f} ms  (n={len(values)})"


async def add_stored_responses(deps: EngineDeps, run_id: UUID, count: int) -> None:
    """`count` more responses of the run, as the engine stores them (the pass reads them like any other)."""
    result = await deps.clickhouse.query("SELECT * FROM request_events WHERE run_id = {run:UUID} LIMIT 1",
                                         {"run": run_id}, caller="bench")
    template = result.dicts()[0]
    for start in range(0, count, 20_000):
        rows = []
        for n in range(start, min(count, start + 20_000)):
            values = {**template, "event_id": uuid.uuid5(run_id, f"extra-{n}"), "item_id": f"q{n % ITEMS}",
                      "output": f"It is ans{n % ITEMS}." if n % 3 else "I don't know."}
            rows.append(tuple(values[name] for name in request_events.COLUMNS))
        await deps.clickhouse.insert(request_events.TABLE, rows, request_events.COLUMNS, caller="bench")


async def bench(deps: EngineDeps, mock: MockLLM, rounds: int, repetitions: int, pass_rows: int) -> None:
    print(f"1. TTFT error vs ground truth, {ITEMS * repetitions} requests per run, concurrency 8, "
          f"{rounds} rounds alternated")
    errors: dict[str, list[float]] = {"evaluators off": [], "evaluators on": []}
    for _ in range(rounds):
        for label, evaluators in (("evaluators off", None), ("evaluators on", [*DETERMINISTIC, RUBRIC])):
            run_id = await submit_run(deps, load_spec(spec(mock.base_url, evaluators=evaluators, concurrency=8,
                                                            repetitions=repetitions)))
            run = await RunExecutor(deps, run_id).execute()
            assert run.status == "completed", run.error
            if evaluators:
                assert run.summary and run.summary["scores"]["status"] == "completed"
            errors[label] += await ttft_errors(deps, mock, run_id)
    for label, values in errors.items():
        print(f"   {label:15s} {describe(values)}")
    off, on = errors["evaluators off"], errors["evaluators on"]
    print(f"   ratio on/off: p50 {quantile(on, 0.5) / quantile(off, 0.5):.3f}, "
          f"p99 {quantile(on, 0.99) / quantile(off, 0.99):.3f}")

    print("2. Judge throughput (cache off), llm-rubric over one run's responses")
    base = await submit_run(deps, load_spec(spec(mock.base_url, evaluators=None, concurrency=16,
                                                 repetitions=repetitions * 2)))
    await RunExecutor(deps, base).execute()
    for judge_concurrency in (4, 16):
        evaluators = {"evaluators": [RUBRIC], "judges": spec(mock.base_url, evaluators=[RUBRIC], concurrency=1,
                                                             repetitions=1)["judges"],
                      "evaluation": {"judge_concurrency": judge_concurrency, "cache": False}}
        record, scoring_spec, pass_id = await prepare_rescoring(deps, base, evaluators, PassTrigger.CLI, None)
        started = time.perf_counter()
        finished = await ScoringPass(deps, record, scoring_spec, pass_id).execute()
        elapsed = time.perf_counter() - started
        calls = finished.counters.judge_calls
        print(f"   judge concurrency {judge_concurrency:2d}: {calls} calls in {elapsed:.2f} s = "
              f"{calls / elapsed:.1f} calls/s (ideal at 5 ms per call: {judge_concurrency / 0.005:.0f}/s)")

    print(f"3. Scoring pass, deterministic evaluators only (read, evaluate, write, summarise) over "
          f"{pass_rows:,} stored responses")
    await add_stored_responses(deps, base, pass_rows)
    evaluators = {"evaluators": DETERMINISTIC}
    record, scoring_spec, pass_id = await prepare_rescoring(deps, base, evaluators, PassTrigger.CLI, None)
    started = time.perf_counter()
    finished = await ScoringPass(deps, record, scoring_spec, pass_id).execute()
    elapsed = time.perf_counter() - started
    scored = finished.counters.scored_requests
    print(f"   {scored} requests x {len(DETERMINISTIC)} evaluators in {elapsed:.2f} s = {scored / elapsed:.0f} "
          f"requests/s, {scored * (len(DETERMINISTIC) + 1) / elapsed:.0f} score rows/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and requests")
    parser.add_argument("--pass-rows", type=int, default=100_000, help="stored responses the pass of part 3 scores")
    args = parser.parse_args()
    rounds, repetitions = (2, 2) if args.quick else (4, 8)
    pass_rows = min(args.pass_rows, 20_000) if args.quick else args.pass_rows
    with tempfile.TemporaryDirectory(prefix="benchlab-scoring-") as tmp:
        key = Path(tmp) / "answers.jsonl"
        key.write_text("".join(json.dumps({"prompt": f"Question {n}?", "answer": f"It is ans{n}."}) + "\n"
                               for n in range(ITEMS)))
        settings = Settings.from_env({"BENCHLAB_DATA_DIR": str(Path(tmp) / "data")})
        with run_mock_llm(answer_key=key, ttft_ms=50, gap_ms=2) as mock, local_stores(settings) as resolved:
            asyncio.run(_with_runtime(resolved, mock, rounds, repetitions, pass_rows))


async def _with_runtime(settings: Settings, mock: MockLLM, rounds: int, repetitions: int, pass_rows: int) -> None:
    runtime = await Runtime.open(settings, embedded_postgres=True)
    try:
        await runtime.migrate()
        await bench(runtime.engine_deps(), mock, rounds, repetitions, pass_rows)
    finally:
        await runtime.close()


if __name__ == "__main__":
    main()
