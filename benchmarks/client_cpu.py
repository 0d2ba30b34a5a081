"""Client CPU per streamed event: benchlab's DirectTransport against a minimal aiohttp client, same load.

Issue 15 asks for a timing client that costs no more CPU per event than a plain aiohttp client. The load:
`--concurrency` (64) closed-loop streams against the mock (TTFT 50 ms, gap 10 ms, 62 content tokens, so 65
data events per response: role, 62 tokens, finish, usage), about 94 req/s. The aiohttp client does the least a
timing client must: one ClientSession (connector limit = concurrency), POST the same body, iterate
`resp.content` lines, stamp each `data:` line with perf_counter_ns and json.loads it.

The two clients alternate (AB, BA, ...) over `--rounds` rounds in one run, since the machine is noisy. Each
measures a window of `--seconds` after `--warm` seconds of running: this process's CPU time (the mock runs in
its own) per 1000 events stamped inside the window, and cores (CPU / wall). Prints every round and the medians.

    python benchmarks/client_cpu.py [--rounds 5] [--seconds 10] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import aiohttp  # noqa: E402

from benchlab.engine.transport_direct import DirectTransport, LLMRequest  # noqa: E402
from benchlab.mockllm.process import run_mock_llm  # noqa: E402

MODEL = "mock-llm"
MESSAGES = [{"role": "user", "content": "Tell me a story"}]
MOCK = {"ttft_ms": 50, "gap_ms": 10, "output_tokens": 62}

OneRequest = Callable[[], Awaitable[list[int]]]  # sends one request, returns its events' arrival stamps


@dataclass
class Round:
    cpu_s: float
    wall_s: float
    events: int
    requests: int  # completed inside the window

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu_s / self.events * 1000

    @property
    def cores(self) -> float:
        return self.cpu_s / self.wall_s


async def measure(one: OneRequest, concurrency: int, warm_s: float, seconds: float) -> Round:
    """Closed loop of `concurrency` streams; CPU and events counted inside [warm_s, warm_s + seconds]."""
    stamps: list[list[int]] = []
    stop = False

    async def stream() -> None:
        while not stop:
            stamps.append(await one())

    tasks = [asyncio.create_task(stream()) for _ in range(concurrency)]
    await asyncio.sleep(warm_s)
    start_ns, cpu0 = time.perf_counter_ns(), time.process_time()
    await asyncio.sleep(seconds)
    end_ns, cpu1 = time.perf_counter_ns(), time.process_time()
    stop = True
    await asyncio.gather(*tasks)
    events = sum(start_ns <= t < end_ns for request in stamps for t in request)
    requests = sum(1 for request in stamps if request and start_ns <= request[-1] < end_ns)
    return Round(cpu1 - cpu0, (end_ns - start_ns) / 1e9, events, requests)


async def run_benchlab(base_url: str, concurrency: int, warm_s: float, seconds: float) -> Round:
    transport = DirectTransport(base_url, None, max_connections=concurrency, timeout_s=60)
    await transport.warm_up(concurrency)
    request = LLMRequest(MODEL, messages=MESSAGES, params={"max_tokens": 128})

    async def one() -> list[int]:
        record = await transport.send(request)
        if not record.ok:
            raise RuntimeError(f"benchlab: {record.error_type}: {record.error_message}")
        return [event.t_ns for event in record.events]

    try:
        return await measure(one, concurrency, warm_s, seconds)
    finally:
        await transport.close()


async def run_aiohttp(base_url: str, concurrency: int, warm_s: float, seconds: float) -> Round:
    # The body DirectTransport sends, byte for byte.
    body = json.dumps({"model": MODEL, "max_tokens": 128, "stream": True, "messages": MESSAGES,
                       "stream_options": {"include_usage": True}}, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream, application/json"}
    url = base_url + "/chat/completions"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:

        async def one() -> list[int]:
            stamps = []
            async with session.post(url, data=body, headers=headers) as response:
                response.raise_for_status()
                async for line in response.content:
                    if line.startswith(b"data:"):
                        t_ns = time.perf_counter_ns()
                        data = line[5:].strip()
                        if data != b"[DONE]":
                            json.loads(data)
                            stamps.append(t_ns)
            return stamps

        return await measure(one, concurrency, warm_s, seconds)


CLIENTS = {"benchlab": run_benchlab, "aiohttp": run_aiohttp}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per client and round")
    parser.add_argument("--warm", type=float, default=2.0, help="seconds run before the window opens")
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    print(f"mock: TTFT {MOCK['ttft_ms']} ms, gap {MOCK['gap_ms']} ms, {MOCK['output_tokens']} tokens; "
          f"{args.concurrency} closed-loop streams; {args.rounds} rounds of {args.seconds:g} s per client")
    print(f"{'round':>5} {'client':<9} {'req/s':>7} {'events/s':>9} {'CPU s/1000 ev':>14} {'cores':>6}")
    results: dict[str, list[Round]] = {name: [] for name in CLIENTS}
    with run_mock_llm(**MOCK) as mock:
        for index in range(args.rounds):
            order = list(CLIENTS) if index % 2 == 0 else list(reversed(CLIENTS))
            for name in order:
                result = asyncio.run(CLIENTS[name](mock.base_url, args.concurrency, args.warm, args.seconds))
                results[name].append(result)
                print(f"{index + 1:>5} {name:<9} {result.requests / result.wall_s:>7.1f} "
                      f"{result.events / result.wall_s:>9.0f} {result.cpu_per_1000:>14.4f} {result.cores:>6.3f}",
                      flush=True)
    medians = {name: (statistics.median(r.cpu_per_1000 for r in rounds), statistics.median(r.cores for r in rounds))
               for name, rounds in results.items()}
    for name, (per_1000, cores) in medians.items():
        print(f"median {name:<9} CPU s/1000 events {per_1000:.4f}  cores {cores:.3f}")
    ratios = [b.cpu_per_1000 / a.cpu_per_1000 for b, a in zip(results["benchlab"], results["aiohttp"], strict=True)]
    print(f"benchlab/aiohttp CPU per event: median of per-round ratios {statistics.median(ratios):.2f} "
          f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)}); ratio of medians "
          f"{medians['benchlab'][0] / medians['aiohttp'][0]:.2f}")


if __name__ == "__main__":
    main()
