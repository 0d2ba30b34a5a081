"""API keys: shown once, stored hashed, scoped to one project and a role, revocable, expiring; WebSocket auth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from benchlab.api.ids import encode_global_id
from benchlab.catalog import register_experiment
from benchlab.secrets import SecretBox
from benchlab.spec import load_spec
from benchlab.stores.runs import create_run
from tests.helpers.access import as_key, db, make_key
from tests.helpers.engine import mock_spec

CREATE = """mutation($p: ID!, $role: ProjectRole!, $exp: DateTime) {
  createApiKey(input: {projectId: $p, name: "ci", role: $role, expiresAt: $exp}) {
    secret apiKey { id prefix role lastUsedAt revokedAt } } }"""
PROJECTS = "{ projects(first: 10) { nodes { slug } } }"


@pytest.fixture
async def world(pg: asyncpg.Connection) -> dict[str, Any]:
    box = SecretBox(Fernet.generate_key())
    ids: dict[str, Any] = {}
    for slug in ("alpha", "beta"):
        registered = await register_experiment(pg, load_spec(mock_spec("http://127.0.0.1:9/v1", project=slug)), box)
        run_id = await create_run(pg, registered.project_id, registered.experiment_id, {}, 1)
        await pg.execute("UPDATE runs SET status = 'running' WHERE id = $1", run_id)
        ids[slug] = {"project": encode_global_id("Project", registered.project_id),
                     "run": encode_global_id("Run", run_id), "db": registered.project_id,
                     "owner": await make_key(pg, registered.project_id, "owner")}
    return ids


def test_key_is_shown_once_stored_hashed_and_scoped(world: dict[str, Any], client: TestClient) -> None:
    alpha = world["alpha"]
    created = as_key(client, alpha["owner"], CREATE, p=alpha["project"], role="VIEWER")["data"]["createApiKey"]
    secret = created["secret"]
    assert secret.startswith("blk_") and created["apiKey"]["prefix"] in secret and created["apiKey"]["role"] == "VIEWER"
    listed = as_key(client, alpha["owner"], """query($p: ID!) { project(id: $p) { apiKeys(first: 10) {
        nodes { prefix name } } } }""", p=alpha["project"])
    assert secret not in str(listed) and len(listed["data"]["project"]["apiKeys"]["nodes"]) == 2
    # the new viewer key sees its project only, reads, and cannot write
    assert as_key(client, secret, PROJECTS)["data"]["projects"]["nodes"] == [{"slug": "alpha"}]
    other = as_key(client, secret, "query($p: ID!) { project(id: $p) { slug } }", p=world["beta"]["project"])
    assert other["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    denied = as_key(client, secret, 'mutation($p: ID!) { createDataset(input: {projectId: $p, name: "d"}) '
                                    "{ dataset { id } } }", p=alpha["project"])
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert "member role" in denied["errors"][0]["message"]
    used = as_key(client, alpha["owner"], """query($p: ID!) { project(id: $p) { apiKeys(first: 10) {
        nodes { role lastUsedAt } } } }""", p=alpha["project"])["data"]["project"]["apiKeys"]["nodes"]
    assert all(k["lastUsedAt"] for k in used), "last use is recorded"


async def test_secret_is_never_stored(world: dict[str, Any], client: TestClient, pg: asyncpg.Connection) -> None:
    alpha = world["alpha"]
    secret = as_key(client, alpha["owner"], CREATE, p=alpha["project"], role="MEMBER")["data"]["createApiKey"]["secret"]
    rows = await pg.fetch("SELECT * FROM api_keys")
    assert secret not in str([dict(r) for r in rows])
    audit = await pg.fetch("SELECT action, details FROM audit_log WHERE action LIKE 'api_key.%'")
    assert [r["action"] for r in audit] == ["api_key.create"] and secret not in str(audit)


def test_revoked_and_expired_keys_fail_loudly(world: dict[str, Any], client: TestClient) -> None:
    alpha = world["alpha"]
    made = as_key(client, alpha["owner"], CREATE, p=alpha["project"], role="VIEWER")["data"]["createApiKey"]
    assert as_key(client, made["secret"], PROJECTS)["data"]["projects"]["nodes"]
    revoke = "mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } } }"
    first = as_key(client, alpha["owner"], revoke, id=made["apiKey"]["id"])["data"]["revokeApiKey"]["apiKey"]
    again = as_key(client, alpha["owner"], revoke, id=made["apiKey"]["id"])["data"]["revokeApiKey"]["apiKey"]
    assert first["revokedAt"] and again == first  # revoking twice changes nothing
    body = as_key(client, made["secret"], PROJECTS)
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "revoked" in body["errors"][0]["message"]
    # Two keys expiring tomorrow: one works; the other's expiry is moved into the past in the database (the API
    # only takes future expiries), before its first use since a verified key is cached with its expiry.
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    working, expiring = (as_key(client, alpha["owner"], CREATE, p=alpha["project"], role="VIEWER",
                                exp=tomorrow)["data"]["createApiKey"] for _ in range(2))
    assert as_key(client, working["secret"], PROJECTS)["data"]["projects"]["nodes"] == [{"slug": "alpha"}]
    db(client, "UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE prefix = $1",
       expiring["apiKey"]["prefix"])
    expired = as_key(client, expiring["secret"], PROJECTS)
    assert expired["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "expired" in expired["errors"][0]["message"]
    past = as_key(client, alpha["owner"], CREATE, p=alpha["project"], role="VIEWER", exp="2020-01-01T00:00:00Z")
    assert past["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    garbage = client.post("/graphql", json={"query": PROJECTS}, headers={"Authorization": "Bearer blk_nope"}).json()
    assert garbage["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_a_key_cannot_grant_more_than_its_role(world: dict[str, Any], client: TestClient) -> None:
    alpha = world["alpha"]
    admin = as_key(client, alpha["owner"], CREATE, p=alpha["project"], role="ADMIN")["data"]["createApiKey"]["secret"]
    body = as_key(client, admin, CREATE, p=alpha["project"], role="OWNER")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN" and "above your own" in body["errors"][0]["message"]
    assert as_key(client, admin, CREATE, p=alpha["project"], role="ADMIN")["data"]["createApiKey"]["secret"]


def test_subscriptions_authenticate_in_connection_init(world: dict[str, Any], client: TestClient,
                                                      anonymous_client: TestClient) -> None:
    alpha, beta = world["alpha"], world["beta"]
    query = "subscription($r: ID!) { runProgress(runId: $r) { status snapshot } }"
    with client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
        ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {alpha['owner']}"}})
        assert ws.receive_json()["type"] == "connection_ack"
        ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": {"r": alpha["run"]}}})
        first = ws.receive_json()
        assert first["type"] == "next" and first["payload"]["data"]["runProgress"]["snapshot"] is True
        ws.send_json({"id": "2", "type": "subscribe", "payload": {"query": query, "variables": {"r": beta["run"]}}})
        message = ws.receive_json()
        while message.get("id") != "2":
            message = ws.receive_json()
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert errors[0]["extensions"]["code"] == "NOT_FOUND"  # another project's run: as if it did not exist
    for payload in ({}, {"authorization": "Bearer blk_000000000000_wrong"}, {"token": "not-a-jwt"}):
        with pytest.raises(WebSocketDisconnect) as closed, \
                anonymous_client.websocket_connect("/graphql", subprotocols=["graphql-transport-ws"]) as ws:
            ws.send_json({"type": "connection_init", "payload": payload})
            ws.receive_json()
        assert closed.value.code == 4403, payload
