"""The real server process (uvicorn) over real sockets: HTTP and a graphql-transport-ws subscription."""

from __future__ import annotations

import asyncio
import json

import httpx
import websockets

from tests.helpers.server_process import ServerProcess


def test_http_and_websocket_subscription_on_the_real_server(live_server: ServerProcess) -> None:
    response = httpx.post(f"{live_server.base_url}/graphql", json={"query": "{ serverInfo { version } }"})
    assert response.status_code == 200 and response.headers["x-request-id"]

    async def subscribe() -> list[int]:
        url = live_server.base_url.replace("http://", "ws://") + "/graphql"
        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
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
