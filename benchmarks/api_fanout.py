"""Part 3 of benchmarks/api.py: `runProgress` fan-out from a Redis PUBLISH to a thousand WebSocket clients.

The clients run in api_subscribers.py processes (their own work stays out of the server's process); this
module starts them, waits until every one has its snapshot, publishes progress messages in the engine's own
format with the publish time in `errors.sentAt`, and gathers each client's receipt delays.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import dataclass
from typing import Any

import psutil
import redis.asyncio as aioredis

from api_stack import HERE, Stack
from benchlab.engine.progress import Progress
from benchlab.engine.runner import progress_channel
from benchlab.metrics import quantile


@dataclass
class FanOutResult:
    """Every (sequence, ms) delay from every client, and what explains them: CPU use over the window from the
    first publish to the last delivery, and how many server subscriptions Redis saw (one is right: the hub
    subscribes once per channel and fans out in-process)."""

    delays: list[tuple[int, float]]
    connect_s: float
    window_s: float
    server_cpu: float
    clients_cpu_s: float
    errors: list[str]
    timed_out: int
    gaps: int
    compressed: bool
    redis_subscribers: int


async def start_subscribers(stack: Stack, subscribers: int, processes: int) -> list[asyncio.subprocess.Process]:
    """The client processes, `subscribers` spread evenly over them."""
    shares = [subscribers // processes + (1 if i < subscribers % processes else 0) for i in range(processes)]
    return [await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "api_subscribers.py"), "--url", stack.ws_url, "--token", stack.info["api_key"],
        "--run-id", stack.info["running_run"], "--clients", str(share), stdout=asyncio.subprocess.PIPE,
        limit=1 << 28) for share in shares if share]


async def read_line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    line = await process.stdout.readline()
    if not line:
        raise RuntimeError(f"subscriber process {process.pid} exited (status {await process.wait()})")
    return json.loads(line)


async def publish(redis_url: str, channel: str, run_uuid: str, messages: int, interval: float) -> None:
    """`messages` progress messages as the engine makes them, the last with the final status, on a fixed beat."""
    client = aioredis.from_url(redis_url)
    progress = Progress(total=messages * 100)
    beat = time.monotonic()
    try:
        for n in range(1, messages + 1):
            for _ in range(100):
                progress.record(ok=True, ttft_ms=50.0 + n % 7, error_type="")
            message = progress.message(run_uuid, "completed" if n == messages else "running")
            message["errors"] = {"sentAt": time.time()}
            await client.publish(channel, json.dumps(message, separators=(",", ":")))
            beat += interval
            await asyncio.sleep(max(0.0, beat - time.monotonic()))
    finally:
        await client.aclose()


async def redis_subscriber_count(redis_url: str, channel: str) -> int:
    client = aioredis.from_url(redis_url)
    try:
        return dict(await client.pubsub_numsub(channel)).get(channel.encode(), 0)
    finally:
        await client.aclose()


async def fan_out(stack: Stack, subscribers: int, processes: int, messages: int, interval: float) -> FanOutResult:
    """Part 3: subscribe everyone, publish, gather every client's delays."""
    channel = progress_channel(stack.info["running_run_uuid"])
    workers = await start_subscribers(stack, subscribers, processes)
    ready = [await read_line(worker) for worker in workers]
    connected = sum(r["ready"] for r in ready)
    if connected != subscribers:
        raise RuntimeError(f"only {connected} of {subscribers} subscribed: {[r['failed'] for r in ready]}")
    redis_subscribers = await redis_subscriber_count(stack.redis_url, channel)
    server = psutil.Process(stack.server_pid)
    cpu_before, started = server.cpu_times(), time.perf_counter()
    await publish(stack.redis_url, channel, stack.info["running_run_uuid"], messages, interval)
    reports = [await read_line(worker) for worker in workers]
    window_s = time.perf_counter() - started
    cpu_after = server.cpu_times()
    for worker in workers:
        await worker.wait()
    return FanOutResult(
        delays=[(sequence, delay) for report in reports for sequence, delay in report["delays"]],
        connect_s=max(r["connect_s"] for r in ready), window_s=window_s,
        server_cpu=(cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system) / window_s,
        clients_cpu_s=sum(r["cpu_s"] for r in reports), errors=[e for r in reports for e in r["errors"]],
        timed_out=sum(r["timed_out"] for r in reports), gaps=sum(r["gaps"] for r in reports),
        compressed=any(r["compressed"] for r in reports),
        redis_subscribers=redis_subscribers)


def print_fan_out(result: FanOutResult, subscribers: int, processes: int, messages: int, interval: float) -> None:
    delays = [delay for _, delay in result.delays]
    by_message: dict[int, list[float]] = {}
    for sequence, delay in result.delays:
        by_message.setdefault(sequence, []).append(delay)
    last_client = [max(values) for values in by_message.values()]
    print(f"\n3. runProgress fan-out: {subscribers:,} WebSocket subscribers (graphql-transport-ws, "
          f"{'permessage-deflate' if result.compressed else 'no compression'}) in {processes} client process(es), "
          f"{messages} messages published to Redis {interval:g} s apart")
    print("   how: publisher stamps time.time() into errors.sentAt and PUBLISHes; each client stamps time.time() "
          "when recv() returns (Redis → server hub → GraphQL → WebSocket → client loop, all on one machine)")
    print(f"   all subscribed in {result.connect_s:.1f} s; server channel subscriptions in Redis: "
          f"{result.redis_subscribers}; delivered {len(delays):,} of {subscribers * messages:,}"
          + (f"; {len(result.errors)} client errors, first: {result.errors[0]}" if result.errors else "")
          + (f"; {result.timed_out} clients timed out" if result.timed_out else "")
          + (f"; {result.gaps} gap markers (server dropped messages for slow clients)" if result.gaps else ""))
    if not delays:
        return
    print(f"   delivery latency, every (message, client): p50 {quantile(delays, 0.5):.1f} ms, "
          f"p99 {quantile(delays, 0.99):.1f} ms, max {max(delays):.1f} ms  (target p99 < 50 ms)")
    print(f"   last client per message: p50 {quantile(last_client, 0.5):.1f} ms, "
          f"max {max(last_client):.1f} ms; first client per message: p50 "
          f"{quantile([min(v) for v in by_message.values()], 0.5):.1f} ms")
    print(f"   CPU from first publish to last delivery: server {result.server_cpu:.0%} of one core, client processes "
          f"{result.clients_cpu_s / result.window_s:.0%} of one core (2 cores in all)")

