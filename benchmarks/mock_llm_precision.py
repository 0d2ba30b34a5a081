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
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

TTFT_MS, TOKENS = 50, 64
# (concurrency, gap_ms): the reference scenario (10 ms gaps, vLLM-like), then 256 streams at a rate that
# leaves this 2-core machine CPU to spare, to tell the server's own limits from machine saturation.
LEVELS = ((1, 10), (16, 10), (64, 10), (256, 10), (256, 40))


async def drive(base_url: str, concurrency: int, requests: int, gap_ms: int) -> int:
    """`concurrency` workers send `requests` streaming requests in total; returns how many completed.

    One client (one keep-alive connection) per worker: httpcore's pool scans every connection on each
    request start and end, which costs more client CPU than the streams themselves at 64+ connections.
    """
    todo = iter(range(requests))
    completed = 0
    body = {"model": f"mock-llm?gap_ms={gap_ms}", "stream": True, "messages": [{"role": "user", "content": "hi"}]}

    async def worker() -> None:
        nonlocal completed
        async with httpx.AsyncClient(timeout=60, verify=False) as client:  # plain HTTP: skip loading CA certs
            for i in todo:
                headers = {"X-Request-ID": f"c{concurrency}g{gap_ms}-{i}"}
                async with client.stream("POST", f"{base_url}/chat/completions", json=body, headers=headers) as r:
                    async for _ in r.aiter_raw():
                        pass
                    completed += r.status_code == 200

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return completed


def percentiles(values_ns: list[int]) -> str:
    ms = sorted(v / 1e6 for v in values_ns)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return f"{statistics.median(ms):7.3f} {p99:7.3f} {ms[-1]:7.3f}"


def schedule_errors(records: list[dict[str, Any]]) -> tuple[list[int], list[int], int]:
    """write_ns - due_ns of every write and of each first content write, and the writes the kernel queued."""
    every, first_token = [], []
    for record in records:
        events = record["events"]
        every += [w - d for w, d in zip(events["write_ns"], events["due_ns"], strict=True)]
        first = events["kind"].index("content")
        first_token.append(events["write_ns"][first] - events["due_ns"][first])
    return every, first_token, sum(r["buffered_writes"] for r in records)


def run_level(mock: Any, server: psutil.Process, concurrency: int, gap_ms: int) -> str:
    requests = max(10, 3 * concurrency)
    cpu_before, server_before = psutil.cpu_times(), server.cpu_times()
    client_before, started = psutil.Process().cpu_times(), time.perf_counter()
    completed = asyncio.run(drive(mock.base_url, concurrency, requests, gap_ms))
    elapsed = time.perf_counter() - started
    cpu_after, server_after, client_after = psutil.cpu_times(), server.cpu_times(), psutil.Process().cpu_times()
    records = [r for r in mock.ground_truth() if r["request_id"].startswith(f"c{concurrency}g{gap_ms}-")]
    every, first_token, queued = schedule_errors(records)

    def share(before: Any, after: Any) -> float:
        return 100 * (after.user + after.system - before.user - before.system) / elapsed

    idle = 100 * (cpu_after.idle - cpu_before.idle) / elapsed / psutil.cpu_count()
    return (f"{concurrency:>5} {gap_ms:>4} {completed:>5}/{len(records):<5} {len(every) / elapsed:>8.0f} "
            f"{share(server_before, server_after):>5.0f}% {share(client_before, client_after):>5.0f}% {idle:>5.0f}%"
            f" {percentiles(every)}   {percentiles(first_token)} {queued:>6}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--server-arg", action="append", default=[], help="extra mock-llm flag (repeatable)")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root, for the shared test helper
    from tests.helpers.mock_llm import run_mock_llm

    print(f"mock-llm: ttft {TTFT_MS} ms, {TOKENS} tokens/request, {psutil.cpu_count()} CPUs, flags {args.server_arg}")
    print("schedule error = write_ns - due_ns from the server's ground truth, in ms; cpu = % of one core;")
    print("idle = whole machine. Server and client share the machine: when idle is ~0 the numbers show contention.")
    print(f"{'conc':>5} {'gap':>4} {'done/logged':<11} {'events/s':>8} {'server':>6} {'client':>6} {'idle':>6} "
          f"{'all writes p50/p99/max':>23}   {'first token p50/p99/max':>23} {'queued':>6}")
    with run_mock_llm(ttft_ms=TTFT_MS, output_tokens=TOKENS, server_args=args.server_arg) as mock:
        server = psutil.Process().children()[0]
        for concurrency, gap_ms in LEVELS:
            print(run_level(mock, server, concurrency, gap_ms), flush=True)


if __name__ == "__main__":
    main()
