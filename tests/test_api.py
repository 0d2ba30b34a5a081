"""The GraphQL endpoint over HTTP and graphql-transport-ws, health probes and request ids."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
import strawberry
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from benchlab import __version__
from benchlab.api.errors import ErrorMasking
from benchlab.app import create_app
from benchlab.config import Settings
from benchlab.errors import NotFoundError

SERVER_INFO = "{ serverInfo { version postgresBackend clickhouseBackend realtimeBackend uptimeSeconds startedAt } }"


def gql(client: TestClient, query: str, **variables: object) -> dict:
    response = client.post("/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()


def test_server_info(client: TestClient) -> None:
    info = gql(client, SERVER_INFO)["data"]["serverInfo"]
    assert info["version"] == __version__
    assert info["postgresBackend"] == "external"  # the test database is given by URL
    assert info["clickhouseBackend"] == "chdb"
    assert info["realtimeBackend"] == "memory"
    assert info["uptimeSeconds"] >= 0


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgres": "ok", "clickhouse": "ok", "realtime": "ok"}


def test_request_id_is_returned_and_reused(client: TestClient) -> None:
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "ci-run-42"}).headers["x-request-id"] == "ci-run-42"
    forged = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"}).headers["x-request-id"]
    assert forged != "bad id\nwith newline" and len(forged) == 32


def test_graphiql_for_browsers_and_no_queries_over_get(client: TestClient) -> None:
    page = client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    over_get = client.get("/graphql", params={"query": "{ serverInfo { version } }"},
                          headers={"Accept": "application/json"})
    assert over_get.status_code != 200


def test_syntax_errors_are_bad_user_input(client: TestClient) -> None:
    body = gql(client, "{ serverInfo { version ")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    unknown = gql(client, "{ noSuchField }")
    assert unknown["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "noSuchField" in unknown["errors"][0]["message"]


def test_depth_limit(settings: Settings) -> None:
    # The schema is shallow so far; depth counts from 0, so a limit of 0 makes `serverInfo { version }` too deep.
    with TestClient(create_app(replace(settings, graphql_max_depth=0))) as shallow:
        body = gql(shallow, "{ serverInfo { version } }")
        assert "exceeds maximum operation depth of 0" in body["errors"][0]["message"]
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
        assert "errors" not in gql(shallow, "{ __typename }")


def test_alias_limit(client: TestClient) -> None:
    query = "{ " + " ".join(f"a{i}: serverInfo {{ version }}" for i in range(31)) + " }"
    body = gql(client, query)
    assert "aliases found" in body["errors"][0]["message"]
    assert "data" not in body or body["data"] is None


def test_token_limit(client: TestClient) -> None:
    query = "{ serverInfo { " + " ".join(["version"] * 5000) + " } }"
    body = gql(client, query)
    assert "more than" in body["errors"][0]["message"] and "tokens" in body["errors"][0]["message"]


def test_unexpected_errors_are_masked_with_the_request_id(caplog: pytest.LogCaptureFixture) -> None:
    """Component check of the masking extension on a schema with a resolver that fails."""
    @strawberry.type
    class Query:
        @strawberry.field
        def broken(self) -> int:
            raise RuntimeError("database password is hunter2")

        @strawberry.field
        def missing(self) -> int:
            raise NotFoundError("no project with id P1")

    schema = strawberry.Schema(query=Query, extensions=[ErrorMasking])
    request_id = uuid.uuid4().hex
    result = schema.execute_sync("{ broken }", context_value={"request_id": request_id})
    error = result.errors[0]
    assert error.message == f"internal error (request id {request_id})"
    assert error.extensions == {"code": "INTERNAL", "requestId": request_id}
    assert "hunter2" not in str(error.formatted)
    assert request_id in caplog.text and "RuntimeError" in caplog.text  # the real cause is logged server-side

    known = schema.execute_sync("{ missing }", context_value={"request_id": request_id}).errors[0]
    assert known.message == "no project with id P1"
    assert known.extensions["code"] == "NOT_FOUND"


def _ws_init(client: TestClient, protocol: str = "graphql-transport-ws"):
    return client.websocket_connect("/graphql", subprotocols=[protocol])


def test_subscription_over_graphql_transport_ws(client: TestClient) -> None:
    with _ws_init(client) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe",
                      "payload": {"query": "subscription { heartbeat(intervalMs: 10, count: 3) { sequence } }"}})
        sequences = []
        while True:
            message = ws.receive_json()
            if message["type"] == "complete":
                break
            if message["type"] == "next":
                sequences.append(message["payload"]["data"]["heartbeat"]["sequence"])
        assert sequences == [1, 2, 3]


def test_subscription_input_errors_use_the_taxonomy(client: TestClient) -> None:
    with _ws_init(client) as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        ws.receive_json()
        ws.send_json({"id": "1", "type": "subscribe",
                      "payload": {"query": "subscription { heartbeat(intervalMs: 1) { sequence } }"}})
        message = ws.receive_json()
        while message["type"] == "ping":
            message = ws.receive_json()
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert "intervalMs must be between" in errors[0]["message"]
        assert errors[0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_legacy_graphql_ws_protocol_is_refused(client: TestClient) -> None:
    with pytest.raises(WebSocketDisconnect), _ws_init(client, "graphql-ws") as ws:
        ws.send_json({"type": "connection_init", "payload": {}})
        ws.receive_json()


def test_subscribe_before_connection_init_is_refused(client: TestClient) -> None:
    with _ws_init(client) as ws:
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": "subscription { heartbeat { sequence } }"}})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 4401
