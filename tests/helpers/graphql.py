"""Call the GraphQL API in tests: over the ASGI client, or straight on the schema with statement counting."""

from __future__ import annotations

from typing import Any

import asyncpg
from starlette.testclient import TestClient

from benchlab.api.db import RequestDb
from benchlab.api.loaders import Loaders
from benchlab.api.schema import build_schema
from benchlab.auth.identity import Identity


def gql(client: TestClient, query: str, **variables: Any) -> dict[str, Any]:
    """The whole response body of one operation over HTTP POST."""
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()


def data(client: TestClient, query: str, **variables: Any) -> dict[str, Any]:
    """`data` of an operation that must succeed."""
    body = gql(client, query, **variables)
    assert not body.get("errors"), body["errors"]
    return body["data"]


def error_codes(body: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors") or []]


async def execute_counting(pool: asyncpg.Pool, query: str, identity: Identity,
                           **variables: Any) -> tuple[Any, int]:
    """Run an operation on the schema directly as `identity`; returns the result and the SQL statements it cost."""
    db = RequestDb(pool)
    context = {"request": None, "response": None, "request_id": "test", "runtime": None, "db": db,
               "loaders": Loaders(db), "identity": identity, "auth_error": None}
    result = await build_schema().execute(query, variable_values=variables, context_value=context)
    return result, db.statements


def subscribe(client: TestClient, query: str, limit: int = 10_000, **variables: Any) -> list[dict[str, Any]]:
    """Every `next` payload of a subscription over graphql-transport-ws, until `complete` (or `limit`)."""
    payloads: list[dict[str, Any]] = []
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})
        while len(payloads) < limit:
            message = ws.receive_json()
            if message["type"] == "complete":
                break
            if message["type"] == "error":
                return [{"errors": message["payload"]}]
            if message["type"] == "next":
                payloads.append(message["payload"])
    return payloads
