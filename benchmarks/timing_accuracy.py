"""How accurately does benchlab time requests? Client measurements against the mock server's ground truth.

For the direct transport and the litellm transport, at concurrency 1, 16, 64 and 256 against the mock
(TTFT 50 ms, gap 10 ms, 128 tokens), prints:
- TTFT error p50/p99: (our first-token stamp − our send stamp) − (server's first-token write − its arrival);
- per-event lag p99: our arrival stamp of each token event − the server's write of it (one clock:
  CLOCK_MONOTONIC in both processes);
- delivery p99: the server's read of the request's first byte − our send stamp. TTFT error ≈ delivery +
  first-event lag; delivery grows when the single-threaded mock is busy writing other streams (server-side
  queueing, which a real server also has and which TTFT rightly includes), so it separates the server's
  share of the TTFT error from the client's;
- the share of inter-event gaps read below 0.5 ms (true gaps are 10 ms; a collapsed gap means bunching);
- client CPU (process time / wall time) and the run's self-measurement (event-loop lag, saturation flag).
Then the open-loop profiles, Poisson at 50 req/s and constant at 200 req/s: achieved rate from the actual
send stamps, and whether it is within 10 % of the target (tests check the schedule itself, not the rate).

With `--api anthropic` the same table is measured over Anthropic's Messages API (the mock's /v1/messages):
"direct" is benchlab's Anthropic transport, "litellm" litellm's anthropic provider.

With `--processes 1,2` the direct path is measured with each number of load-generator processes
(engine/load_pool.py: the requests sent by child processes, the schedule kept here), alternating them
`--repeat` times per level so a neighbour's load hits both alike; client CPU is then the run's process plus
its children, as cores (process time / wall time), the self-measurement is merged as a run's is, and
"hop" is the dispatch lag: the parent's decision to send -> the child wrote the bytes (pipe + child loop).

    python benchmarks/timing_accuracy.py [--quick] [--api openai|anthropic] [--levels 1,16,64,256]
    python benchmarks/timing_accuracy.py --paths direct --levels 64,256 --processes 1,2 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import time
from collections.abc import Iterator
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from benchlab.engine.load import constant_offsets, poisson_offsets, run_closed_loop, run_open_loop  # noqa: E402
from benchlab.engine.load_pool import LoadPool, PoolProvider, per_process  # noqa: E402
from benchlab.engine.response import ResponseRecord  # noqa: E402
from benchlab.engine.selfcheck import SelfMeasurement, merge_reports  # noqa: E402
from benchlab.engine.transport_anthropic import AnthropicTransport  # noqa: E402
from benchlab.engine.transport_direct import DirectTransport, LLMRequest  # noqa: E402
from benchlab.engine.transport_litellm import LiteLLMTransport  # noqa: E402
from benchlab.metrics import quantile  # noqa: E402
from benchlab.mockllm.process import run_mock_llm  # noqa: E402

MODEL = "mock-llm"
TOKEN_KINDS = {"reasoning", "content", "tool_call"}
LEVELS = (1, 16, 64, 256)


def transport_for(kind: str, base_url: str, concurrency: int, api: str = "openai") -> Any:
    if api == "anthropic":  # the API's root, where both clients append /v1/messages
        root = base_url.removesuffix("/v1")
        if kind == "direct":
            return AnthropicTransport(root, None, max_connections=concurrency, timeout_s=120)
        return LiteLLMTransport("anthropic", root, None, timeout_s=120, warm_up_model=MODEL)
    if kind == "direct":
        return DirectTransport(base_url, None, max_connections=concurrency, timeout_s=120)
    return LiteLLMTransport("openai", base_url, None, timeout_s=120, warm_up_model=MODEL)


def story_request(tag: str, index: int) -> LLMRequest:
    """The measured request; its X-Request-ID names it in the mock's ground truth."""
    return LLMRequest(MODEL, messages=[{"role": "user", "content": "Tell me a story"}], params={"max_tokens": 128},
                      headers={"X-Request-ID": f"{tag}-{index}"})


async def drive(kind: str, base_url: str, concurrency: int, requests: int, tag: str,
                api: str = "openai") -> dict[str, Any]:
    transport = transport_for(kind, base_url, concurrency, api)
    await transport.warm_up(concurrency)
    records: dict[str, ResponseRecord] = {}
    monitor = SelfMeasurement()
    monitor.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()

    async def one(index: int, intended_ns: int) -> None:
        request = story_request(tag, index)
        decided = time.perf_counter_ns()
        record = await transport.send(request)
        if not record.first_on_connection:
            monitor.record_send_lag(decided, record.send_ns)
        records[request.headers["X-Request-ID"]] = record

    await run_closed_loop(range(requests), concurrency, one, lambda: False)
    cpu = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    await monitor.stop()
    await transport.close()
    return {"records": records, "cpu": cpu, "self": monitor.report()}


async def drive_processes(base_url: str, concurrency: int, requests: int, tag: str, processes: int,
                          api: str = "openai") -> dict[str, Any]:
    """`drive` with the direct transport in `processes` load-generator processes (engine/load_pool.py)."""
    connections = per_process(concurrency, processes)
    root = base_url.removesuffix("/v1") if api == "anthropic" else base_url
    pool = LoadPool(processes, [PoolProvider("mock", api, root, None, connections, connections)], timeout_s=120)
    await pool.start()
    records: dict[str, ResponseRecord] = {}
    monitor = SelfMeasurement()
    monitor.start()
    cpu0, wall0 = time.process_time(), time.perf_counter()

    async def one(index: int, intended_ns: int) -> None:
        request = story_request(tag, index)
        records[request.headers["X-Request-ID"]] = await pool.send("mock", request)

    await run_closed_loop(range(requests), concurrency, one, lambda: False)
    parent_cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    await monitor.stop()
    reports = await pool.close()
    cpu = (parent_cpu + sum(r["cpu_s"] for r in reports)) / wall
    return {"records": records, "cpu": cpu,
            "self": merge_reports(monitor.report(), reports, pool.dispatch_lag_ms, processes)}


def score(records: dict[str, ResponseRecord], truths: dict[str, dict]) -> dict[str, float]:
    ttft_errors, event_lags, gaps, delivery = [], [], [], []
    failed = 0
    for request_id, record in records.items():
        truth = truths.get(request_id)
        mine = [e.t_ns for e in record.events if e.carries_tokens]
        if not record.ok or truth is None or not mine:
            failed += 1
            continue
        events = truth["events"]
        writes = [w for k, w in zip(events["kind"], events["write_ns"], strict=True) if k in TOKEN_KINDS]
        ttft_errors.append(((mine[0] - record.send_ns) - (writes[0] - truth["arrival_ns"])) / 1e6)
        delivery.append((truth["first_byte_ns"] - record.send_ns) / 1e6)
        event_lags += [(m - w) / 1e6 for m, w in zip(mine, writes, strict=False)]
        gaps += [(b - a) / 1e6 for a, b in itertools.pairwise(mine)]
    collapsed = sum(g < 0.5 for g in gaps) / len(gaps) if gaps else 0.0
    return {"ttft_p50": _measured(ttft_errors, 0.5), "ttft_p99": _measured(ttft_errors, 0.99),
            "lag_p99": _measured(event_lags, 0.99), "collapsed": collapsed, "failed": failed, "n": len(ttft_errors),
            "delivery_p99": _measured(delivery, 0.99)}


def _measured(values: list[float], level: float) -> float:
    """A quantile by benchlab's one method; 0 when every request failed (the failures are printed)."""
    value = quantile(values, level)
    return 0.0 if value is None else value


async def open_loop_rate(base_url: str, offsets: Iterator[float], rate: float, requests: int) -> tuple[float, float]:
    transport = DirectTransport(base_url, None, max_connections=64, timeout_s=60)
    await transport.warm_up(32)
    sends: list[int] = []

    async def one(index: int, intended_ns: int) -> None:
        record = await transport.send(LLMRequest(MODEL + "?output_tokens=16", messages=[{"role": "user",
                                                 "content": "hi"}], params={"max_tokens": 16}))
        sends.append(record.send_ns)

    await run_open_loop(range(requests), offsets, one, lambda: False, max_concurrency=64)
    await transport.close()
    sends.sort()
    achieved = (len(sends) - 1) / ((sends[-1] - sends[0]) / 1e9)
    return achieved, achieved / rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests per level")
    parser.add_argument("--jitter", action="store_true",
                        help="server latencies drawn around the same means (TTFT normal(50,5), gap normal(10,1)), "
                             "so closed-loop streams drift apart instead of arriving in lock-step bursts")
    parser.add_argument("--paths", default="direct,litellm", help="comma-separated: direct, litellm")
    parser.add_argument("--api", choices=("openai", "anthropic"), default="openai",
                        help="the API both paths speak to the mock (anthropic: its /v1/messages)")
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)), help="comma-separated concurrency levels")
    parser.add_argument("--processes", default="1",
                        help="comma-separated load-generator process counts for the direct path (1: in-process)")
    parser.add_argument("--repeat", type=int, default=1, help="alternations of the process counts per level")
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    process_counts = [int(count) for count in args.processes.split(",")]
    rounds = 1 if args.quick else 2
    latencies = {"ttft_ms": "normal(50,5)", "gap_ms": "normal(10,1)"} if args.jitter else {"ttft_ms": 50,
                                                                                           "gap_ms": 10}
    print(f"mock: TTFT {latencies['ttft_ms']} ms, gap {latencies['gap_ms']} ms, 128 tokens; closed loop, {rounds} "
          f"round(s) of `concurrency` requests (at least 8) per level; {args.api} API")
    print(f"{'path':<8} {'procs':>5} {'conc':>5} {'n':>5} {'TTFT err p50':>13} {'p99':>8} {'event lag p99':>14} "
          f"{'delivery p99':>13} "
          f"{'gaps<0.5ms':>11} {'client CPU':>11} {'loop lag p99':>13} {'saturated':>10}")
    with run_mock_llm(output_tokens=128, **latencies) as mock:
        for kind in args.paths.split(","):
            counts = process_counts if kind == "direct" else [1]
            for concurrency, repeat, processes in itertools.product(levels, range(args.repeat), counts):
                tag = f"{kind}-{concurrency}-{processes}p-{repeat}"
                requests = max(8, concurrency * rounds)
                result = asyncio.run(drive(kind, mock.base_url, concurrency, requests, tag, args.api)
                                     if processes == 1 else
                                     drive_processes(mock.base_url, concurrency, requests, tag, processes, args.api))
                truths = {r["request_id"]: r for r in mock.ground_truth() if r["request_id"].startswith(tag + "-")}
                s = score(result["records"], truths)
                measured = result["self"]
                print(f"{kind:<8} {processes:>5} {concurrency:>5} {s['n']:>5} "
                      f"{s['ttft_p50']:>10.3f} ms {s['ttft_p99']:>5.3f} ms "
                      f"{s['lag_p99']:>11.3f} ms {s['delivery_p99']:>10.3f} ms {s['collapsed']:>10.3%} "
                      f"{result['cpu']:>10.0%} "
                      f"{measured['loop_lag_ms']['p99']:>10.3f} ms {measured['client_saturated']!s:>10}"
                      + (f"  ({s['failed']} failed)" if s["failed"] else "")
                      + (f"  hop p50/p99 {measured['dispatch_lag_ms']['p50']:.3f}/"
                         f"{measured['dispatch_lag_ms']['p99']:.3f} ms" if processes > 1 else ""))
        if args.api != "openai":
            return  # the open-loop schedule does not depend on the API: measured with --api openai
        for name, rate, offsets in (("poisson", 50.0, poisson_offsets(50.0, seed=1)),
                                    ("constant", 200.0, constant_offsets(200.0))):
            achieved, ratio = asyncio.run(open_loop_rate(mock.base_url, offsets, rate, 250))
            print(f"{name} target {rate} req/s: achieved {achieved:.2f} req/s (ratio {ratio:.3f}, "
                  f"within 10 %: {'yes' if abs(ratio - 1) < 0.1 else 'NO'})")


if __name__ == "__main__":
    main()
