"""A process of `runProgress` subscribers for benchmarks/api.py: opens the WebSockets, reports receipt times.

    python benchmarks/api_subscribers.py --url ws://127.0.0.1:PORT/graphql --token KEY --run-id ID --clients 500

Started by api.py (several at once, so the clients' own work is spread over processes and never sits in the
server's); not meant to be run by hand. Each client speaks graphql-transport-ws with the `websockets`
package (permessage-deflate offered, as browsers do): the API key in connection_init's payload, one
`runProgress` subscription selecting every field. Protocol with the parent, one JSON line each on stdout:
1. `{"ready": n, "failed": [...], "connect_s": s}` once every client has its snapshot (sequence 0), i.e. the
   server has subscribed it to the run's channel: publishing may start;
2. `{"delays": [[sequence, ms], ...], "cpu_s": s, "errors": [...], "gaps": n, ...}` after every client
   got `complete` (the server ends the subscription on the run's final status) or the timeout passed.
A delay is `time.time()` when the client's `recv()` returns minus `errors.sentAt`, the publisher's
`time.time()` just before PUBLISH: one clock, one machine, so it covers Redis, the server's fan-out,
GraphQL execution, the WebSocket write and this process's scheduling.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from dataclasses import dataclass, field

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

SUBSCRIPTION = ("subscription($runId: ID!) { runProgress(runId: $runId) { runId sequence status done total failed "
                "requestsPerSecond ttftP50Ms ttftP99Ms errors elapsedSeconds snapshot gap missed } }")
PROTOCOL = Subprotocol("graphql-transport-ws")


@dataclass
class Results:
    expected: int
    delays: list[tuple[int, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    subscribed: int = 0
    gaps: int = 0
    compressed: bool = False
    all_settled: asyncio.Event = field(default_factory=asyncio.Event)
    _settled: int = 0

    def settle(self) -> None:
        """A client got its snapshot, or failed before that; the last one to settle opens the gate."""
        self._settled += 1
        if self._settled == self.expected:
            self.all_settled.set()


async def _subscribe(ws: ClientConnection, token: str, run_id: str) -> None:
    await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}))
    ack = json.loads(await ws.recv())
    if ack.get("type") != "connection_ack":
        raise RuntimeError(f"no connection_ack: {ack}")
    await ws.send(json.dumps({"id": "1", "type": "subscribe",
                              "payload": {"query": SUBSCRIPTION, "variables": {"runId": run_id}}}))


async def _receive(ws: ClientConnection, results: Results, subscribed: asyncio.Event) -> None:
    """Stamp each message as soon as recv() hands it over; stop at `complete`."""
    async for raw in ws:
        received = time.time()
        message = json.loads(raw)
        kind = message.get("type")
        if kind == "next":
            payload = message["payload"]
            if payload.get("errors"):
                results.errors.append(json.dumps(payload["errors"])[:300])
                return
            event = payload["data"]["runProgress"]
            if event["snapshot"]:
                subscribed.set()
            elif event["gap"]:  # the server dropped messages for this slow subscriber
                results.gaps += 1
            else:
                results.delays.append((event["sequence"], (received - event["errors"]["sentAt"]) * 1000))
        elif kind == "ping":
            await ws.send(json.dumps({"type": "pong"}))
        elif kind == "complete":
            return
        elif kind == "error":
            results.errors.append(json.dumps(message)[:300])
            return


async def client(url: str, token: str, run_id: str, results: Results, handshakes: asyncio.Semaphore) -> None:
    """One subscriber: connect (a few at a time), subscribe, count itself settled, then record until the end."""
    subscribed = asyncio.Event()
    try:
        async with handshakes:
            ws = await connect(url, subprotocols=[PROTOCOL], open_timeout=120, ping_interval=None, max_queue=None)
        async with ws:
            results.compressed = results.compressed or bool(ws.response.headers.get("sec-websocket-extensions"))
            await _subscribe(ws, token, run_id)
            receiving = asyncio.create_task(_receive(ws, results, subscribed))
            waiting = asyncio.create_task(subscribed.wait())
            await asyncio.wait([receiving, waiting], return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            if subscribed.is_set():
                results.subscribed += 1
            else:
                results.errors.append("subscription ended before its snapshot")
            results.settle()
            await receiving
    except Exception as exc:  # one failed client is reported, not fatal for the measurement
        results.errors.append(f"{type(exc).__name__}: {exc}"[:300])
        if not subscribed.is_set():
            results.settle()


def emit(line: dict) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


async def run(args: argparse.Namespace) -> None:
    results = Results(args.clients)
    handshakes = asyncio.Semaphore(args.parallel_handshakes)
    started = time.perf_counter()
    tasks = [asyncio.create_task(client(args.url, args.token, args.run_id, results, handshakes))
             for _ in range(args.clients)]
    await results.all_settled.wait()
    emit({"ready": results.subscribed, "failed": results.errors[:5], "connect_s": time.perf_counter() - started})
    cpu_before = time.process_time()
    _, pending = await asyncio.wait(tasks, timeout=args.timeout)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    emit({"delays": results.delays, "cpu_s": time.process_time() - cpu_before, "errors": results.errors[:20],
          "error_count": len(results.errors), "compressed": results.compressed, "timed_out": len(pending),
          "gaps": results.gaps})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--parallel-handshakes", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for the end, once ready")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
