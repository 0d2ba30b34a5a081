"""The real server process (uvicorn) over real sockets: HTTP and a graphql-transport-ws subscription."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import httpx
import websockets

from tests.helpers.access import make_key
from tests.helpers.server_process import ServerProcess


async def project_key(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        project = await conn.fetchval("INSERT INTO projects (slug, name) VALUES ('live', 'live') RETURNING id")
        return await make_key(conn, project, "viewer")
    finally:
        await conn.close()


def test_http_and_websocket_subscription_on_the_real_server(live_server: ServerProcess, database_url: str) -> None:
    response = httpx.post(f"{live_server.base_url}/graphql", json={"query": "{ serverInfo { version } }"})
    assert response.status_code == 200 and response.headers["x-request-id"]
    key = asyncio.run(project_key(database_url))

    async def subscribe() -> list[int]:
        url = live_server.base_url.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
                "query": "subscription { heartbeat(intervalMs: 20, count: 3) { sequence } }"}}))
            sequences = []
            while True:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message["type"] == "complete":
                    return sequences
                if message["type"] == "next":
                    sequences.append(message["payload"]["data"]["heartbeat"]["sequence"])

    assert asyncio.run(subscribe()) == [1, 2, 3]


def test_websocket_without_credentials_is_refused_with_4403(live_server: ServerProcess) -> None:
    async def connect() -> int | None:
        url = live_server.base_url.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            try:
                await asyncio.wait_for(ws.recv(), 10)
            except websockets.ConnectionClosed as closed:
                return closed.rcvd.code if closed.rcvd else None
        return None

    assert asyncio.run(connect()) == 4403
