"""Authentication at the edges: WebSocket refusals say why, the credential forms clients send are accepted,
and a wrong credential over HTTP fails the whole request instead of running it as anonymous."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from benchlab.auth.sessions import issue_access_token
from tests.helpers.access import make_key, make_user
from tests.helpers.graphql import error_codes
from tests.helpers.ws import PROTOCOL, init, receive

VIEWER = "{ viewer { kind } }"


@pytest.fixture
async def keys(pg: asyncpg.Connection) -> dict[str, str]:
    """A valid, a revoked and an expired key of one project."""
    project = await pg.fetchval("INSERT INTO projects (slug, name) VALUES ('ws', 'ws') RETURNING id")
    made = {name: await make_key(pg, project, "viewer", name) for name in ("valid", "revoked", "expired")}
    await pg.execute("UPDATE api_keys SET revoked_at = now() WHERE name = 'revoked'")
    await pg.execute("UPDATE api_keys SET expires_at = $1 WHERE name = 'expired'", datetime.now(UTC) - timedelta(1))
    return made


def refusal(client: TestClient, payload: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, str]:
    with pytest.raises(WebSocketDisconnect) as closed, \
            client.websocket_connect("/graphql", subprotocols=PROTOCOL, headers=headers or {}) as ws:
        init(ws, payload)
    return closed.value.code, closed.value.reason


def test_websocket_refusals_say_why(keys: dict[str, str], anonymous_client: TestClient) -> None:
    cases = {
        "no credentials": ({}, "not signed in"),
        "malformed key": ({"authorization": "Bearer blk_nope"}, "malformed API key"),
        "unknown key": ({"authorization": "Bearer blk_000000000000_wrong"}, "unknown API key"),
        "revoked key": ({"authorization": f"Bearer {keys['revoked']}"}, "this API key was revoked"),
        "expired key": ({"authorization": f"Bearer {keys['expired']}"}, "this API key expired at"),
        "not a token": ({"token": "not-a-jwt"}, "session token is not valid"),
        "not bearer": ({"authorization": keys["valid"]}, "Bearer <API key or access token>"),
    }
    for name, (payload, reason) in cases.items():
        code, said = refusal(anonymous_client, payload)
        assert code == 4403 and reason in said, (name, code, said)
        assert len(said.encode()) <= 123 and keys["valid"] not in said
    code, said = refusal(anonymous_client, {"authorization": f"Bearer {keys['valid']}"},
                         headers={"origin": "http://evil.example"})
    assert code == 4403 and "cross-site" in said and "http://testserver" in said


def test_websocket_accepts_the_credential_forms_clients_send(keys: dict[str, str],
                                                             anonymous_client: TestClient) -> None:
    bearer = f"Bearer {keys['valid']}"
    payloads = [{"authorization": bearer}, {"Authorization": bearer},  # gql sends init_payload as given
                {"headers": {"Authorization": bearer}}, {"token": keys["valid"]}]
    for payload in payloads:
        with anonymous_client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
            assert init(ws, payload) == {"type": "connection_ack", "payload": {"viewer": "api_key"}}, payload
    # the upgrade request's own Authorization header, with an empty connection_init
    with anonymous_client.websocket_connect("/graphql", subprotocols=PROTOCOL,
                                            headers={"Authorization": bearer}) as ws:
        assert init(ws)["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": "subscription { heartbeat(intervalMs: 10, "
                                                                           "count: 2) { sequence } }"}})
        assert [receive(ws)["type"] for _ in range(3)] == ["next", "next", "complete"]
    # a wrong credential in the upgrade request is refused, even with an empty payload
    code, said = refusal(anonymous_client, {}, headers={"Authorization": f"Bearer {keys['revoked']}"})
    assert code == 4403 and "revoked" in said


def test_a_wrong_credential_fails_the_whole_http_request(keys: dict[str, str], anonymous_client: TestClient,
                                                         client: TestClient) -> None:
    for credential, reason in (("blk_garbage", "malformed API key"), (keys["revoked"], "revoked"),
                               ("eyJnot.a.jwt", "not valid")):
        response = anonymous_client.post("/graphql", json={"query": VIEWER},
                                         headers={"Authorization": f"Bearer {credential}"})
        body = response.json()
        assert response.status_code == 200 and body["data"] is None, body  # not {"viewer": {"kind": "anonymous"}}
        assert error_codes(body) == ["UNAUTHENTICATED"] and reason in body["errors"][0]["message"], body
    header = anonymous_client.post("/graphql", json={"query": VIEWER}, headers={"Authorization": "Basic abc"}).json()
    assert error_codes(header) == ["UNAUTHENTICATED"] and "Bearer" in header["errors"][0]["message"]
    # no credential at all is still an anonymous caller, and a good one works
    anonymous = anonymous_client.post("/graphql", json={"query": VIEWER})
    assert anonymous.json() == {"data": {"viewer": {"kind": "anonymous"}}}
    good = anonymous_client.post("/graphql", json={"query": VIEWER},
                                 headers={"Authorization": f"Bearer {keys['valid']}"})
    assert good.json() == {"data": {"viewer": {"kind": "api_key"}}}


async def test_a_session_of_a_disabled_user_fails_the_whole_request(client: TestClient,
                                                                    pg: asyncpg.Connection) -> None:
    user = await make_user(pg, "gone@example.com")
    await pg.execute("UPDATE users SET disabled_at = now() WHERE id = $1", user)
    token = issue_access_token(client.app.state.runtime, user)
    body = client.post("/graphql", json={"query": VIEWER}, headers={"Authorization": f"Bearer {token}"}).json()
    assert body["data"] is None and error_codes(body) == ["UNAUTHENTICATED"] and "disabled" in str(body)
