"""graphql-transport-ws over Starlette's TestClient with bounded waits (its own `receive` waits forever)."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

PROTOCOL = ["graphql-transport-ws"]


def receive(ws: WebSocketTestSession, timeout: float = 10) -> dict[str, Any]:
    """The next JSON message; WebSocketDisconnect (with code and reason) when the server closed the socket."""
    async def bounded() -> Any:
        with anyio.fail_after(timeout):
            return await ws._send_rx.receive()

    message = ws.portal.call(bounded)
    ws._raise_on_close(message)
    return json.loads(message["text"])


def init(ws: WebSocketTestSession, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    ws.send_json({"type": "connection_init", "payload": payload or {}})
    return receive(ws)


def subscribe(ws: WebSocketTestSession, op_id: str, query: str, **variables: Any) -> None:
    ws.send_json({"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}})


def closed_by_server(ws: WebSocketTestSession, timeout: float) -> tuple[WebSocketDisconnect, float, int]:
    """Read until the server closes the socket (at most `timeout` s): (the close, seconds waited, messages read)."""
    started = time.perf_counter()
    read = 0
    while True:
        left = timeout - (time.perf_counter() - started)
        if left <= 0:
            raise AssertionError(f"the server did not close the socket within {timeout}s ({read} messages read)")
        try:
            message = receive(ws, left)
        except WebSocketDisconnect as closed:
            return closed, time.perf_counter() - started, read
        except TimeoutError:
            continue
        read += 1
        if message.get("type") == "error":
            raise AssertionError(f"subscription failed instead of the socket closing: {message}")
