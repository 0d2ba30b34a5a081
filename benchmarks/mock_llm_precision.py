"""How precisely does benchlab.mockllm keep its own schedule under load?

Starts the mock server as a subprocess, drives it with raw httpx streams (closed loop, bytes drained without
parsing, so the client stays as light as possible) at several concurrencies, and prints, from the server's
ground truth, the schedule error of every write (write_ns - due_ns) and of first-token writes alone, with the
CPU use of server, client and machine. The server is only a trustworthy yardstick while these errors stay far
below the client errors to be measured.

    python benchmarks/mock_llm_precision.py [--server-arg=--spin-us=0] [--server-arg=--loop=asyncio]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from benchlab.metrics import quantile

TTFT_MS, TOKENS = 50, 64
# (concurrency, gap_ms): the reference scenario (10 ms gaps, vLLM-like), then 256 streams at a rate that
# leaves this 2-core machine CPU to spare, to tell the server's own limits from machine saturation.
LEVELS = ((1, 10), (16, 10), (64, 10), (256, 10), (256, 40))


async def drive(base_url: str, concurrency: int, requests: int, gap_ms: int) -> int:
    """`concurrency` workers send `requests` streaming requests in total; returns how many completed.

    Workers start spread over one request's duration (ramp-up), so streams do not all begin and end in the
    same millisecond wave after wave: that would measure a thundering herd, not the steady state.
    One client (one keep-alive connection) per worker: httpcore's pool scans every connection on each
    request start and end, which costs more client CPU than the streams themselves at 64+ connections.
    """
    todo = iter(range(requests))
    completed = 0
    body = {"model": f"mock-llm?gap_ms={gap_ms}", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    duration_s = (TTFT_MS + (TOKENS - 1) * gap_ms) / 1000

    async def worker(index: int) -> None:
        nonlocal completed
        async with httpx.AsyncClient(timeout=60, verify=False) as client:  # plain HTTP: skip loading CA certs
            await asyncio.sleep(duration_s * index / concurrency)
            for i in todo:
                headers = {"X-Request-ID": f"c{concurrency}g{gap_ms}-{i}"}
                async with client.stream("POST", f"{base_url}/chat/completions", json=body, headers=headers) as r:
                    async for _ in r.aiter_raw():
                        pass
                    completed += r.status_code == 200

    await asyncio.gather(*(worker(index) for index in range(concurrency)))
    return completed


def percentiles(values_ns: list[int]) -> str:
    ms = [v / 1e6 for v in values_ns]
    return f"{quantile(ms, 0.5):7.3f} {quantile(ms, 0.99):7.3f} {max(ms):7.3f}"


def schedule_errors(records: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Lateness in ns: every write, token writes (content), their send_ns alone, and first tokens.

    Role, finish and [DONE] events are late by construction (due at arrival, or right behind the last token),
    so token writes are the ones that show the pacer.
    """
    errors: dict[str, list[int]] = {"all": [], "token": [], "send": [], "first": []}
    for record in records:
        events = record["events"]
        rows = list(zip(events["kind"], events["due_ns"], events["send_ns"], events["write_ns"], strict=True))
        errors["all"] += [w - d for _, d, _, w in rows]
        errors["token"] += [w - d for kind, d, _, w in rows if kind == "content"]
        errors["send"] += [s - d for kind, d, s, _ in rows if kind == "content"]
        errors["first"].append(next(w - d for kind, d, _, w in rows if kind == "content"))
    return errors


def run_level(mock: Any, server: psutil.Process, concurrency: int, gap_ms: int) -> str:
    requests = max(10, 3 * concurrency)
    cpu_before, server_before = psutil.cpu_times(), server.cpu_times()
    client_before, started = psutil.Process().cpu_times(), time.perf_counter()
    completed = asyncio.run(drive(mock.base_url, concurrency, requests, gap_ms))
    elapsed = time.perf_counter() - started
    cpu_after, server_after, client_after = psutil.cpu_times(), server.cpu_times(), psutil.Process().cpu_times()
    records = [r for r in mock.ground_truth() if r["request_id"].startswith(f"c{concurrency}g{gap_ms}-")]
    errors = schedule_errors(records)
    queued = sum(r["buffered_writes"] for r in records)

    def share(before: Any, after: Any) -> float:
        return 100 * (after.user + after.system - before.user - before.system) / elapsed

    idle = 100 * (cpu_after.idle - cpu_before.idle) / elapsed / psutil.cpu_count()
    return (f"{concurrency:>4} {gap_ms:>3} {completed:>4}/{len(records):<4} {len(errors['all']) / elapsed:>6.0f} "
            f"{share(server_before, server_after):>4.0f}% {share(client_before, client_after):>4.0f}% {idle:>3.0f}%"
            f" {percentiles(errors['all'])}  {percentiles(errors['token'])}  {percentiles(errors['send'])[:15]}  "
            f"{percentiles(errors['first'])} {queued:>3}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--server-arg", action="append", default=[], help="extra mock-llm flag (repeatable)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for the shared test helper
    from tests.helpers.mock_llm import run_mock_llm

    print(f"mock-llm: ttft {TTFT_MS} ms, {TOKENS} tokens/request, {psutil.cpu_count()} CPUs, flags {args.server_arg}")
    print("schedule error = write_ns (after the write call) - due_ns from the server's ground truth, in ms, for")
    print("all writes, token (content) writes, and their send_ns (before the write call: the pacer alone, without")
    print("the loopback send syscall); cpu = % of one core; idle = whole machine (~0: server and client contend).")
    print(f"{'conc':>4} {'gap':>3} {'done/log':<9} {'ev/s':>6} {'srv':>5} {'cli':>5} {'idle':>4} "
          f"{'all writes p50/p99/max':>23}  {'token writes p50/p99/max':>23}  {'token send p50/p99':>15}  "
          f"{'first token p50/p99/max':>23} {'que':>3}")
    with run_mock_llm(ttft_ms=TTFT_MS, output_tokens=TOKENS, server_args=args.server_arg) as mock:
        server = psutil.Process().children()[0]
        for concurrency, gap_ms in LEVELS:
            print(run_level(mock, server, concurrency, gap_ms), flush=True)


if __name__ == "__main__":
    main()
