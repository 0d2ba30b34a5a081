"""Project membership through GraphQL (with the owner guards), instance administration, and the audit log."""

from __future__ import annotations

import asyncpg
from starlette.testclient import TestClient

from tests.helpers.access import db, make_user, sign_in, sign_in_as
from tests.helpers.graphql import data, error_codes, gql

SET = """mutation($p: ID!, $e: String!, $r: ProjectRole!) { setProjectMember(input: {projectId: $p, email: $e,
  role: $r}) { member { role user { email } } } }"""
REMOVE = "mutation($p: ID!, $e: String!) { removeProjectMember(input: {projectId: $p, email: $e}) { member { role } } }"
MEMBERS = "query($p: ID!) { project(id: $p) { members(first: 20) { nodes { role user { email } } } } }"


def new_project(client: TestClient, slug: str) -> str:
    return data(client, 'mutation($s: String!) { createProject(input: {slug: $s, name: "M"}) { project { id } } }',
                s=slug)["createProject"]["project"]["id"]


async def test_membership_roles_and_owner_guards(anonymous_client: TestClient, pg: asyncpg.Connection) -> None:
    client = anonymous_client
    for email in ("bob@example.com", "carol@example.com"):
        await make_user(pg, email)
    sign_in(client, "alice@example.com")
    project = new_project(client, "team")  # the creator becomes owner
    assert data(client, MEMBERS, p=project)["project"]["members"]["nodes"] == [
        {"role": "OWNER", "user": {"email": "alice@example.com"}}]
    assert data(client, SET, p=project, e="bob@example.com", r="ADMIN")["setProjectMember"]["member"]["role"] == "ADMIN"
    missing = gql(client, SET, p=project, e="nobody@example.com", r="VIEWER")
    assert error_codes(missing) == ["NOT_FOUND"] and "sign in once" in missing["errors"][0]["message"]
    last_owner = gql(client, SET, p=project, e="alice@example.com", r="VIEWER")
    assert error_codes(last_owner) == ["CONFLICT"] and "at least one owner" in last_owner["errors"][0]["message"]
    assert error_codes(gql(client, REMOVE, p=project, e="alice@example.com")) == ["CONFLICT"]

    client.cookies.clear()
    sign_in_existing(client, pg_email="bob@example.com")
    assert error_codes(gql(client, SET, p=project, e="carol@example.com", r="OWNER")) == ["FORBIDDEN"]
    assert error_codes(gql(client, REMOVE, p=project, e="alice@example.com")) == ["FORBIDDEN"]
    assert data(client, SET, p=project, e="carol@example.com", r="MEMBER")["setProjectMember"]["member"]
    assert data(client, REMOVE, p=project, e="carol@example.com")["removeProjectMember"]["member"] is None
    roles = {m["user"]["email"]: m["role"] for m in data(client, MEMBERS, p=project)["project"]["members"]["nodes"]}
    assert roles == {"alice@example.com": "OWNER", "bob@example.com": "ADMIN"}
    audit = data(client, "query($p: ID!) { project(id: $p) { auditLog(first: 20) { nodes { actor action target "
                         "details } } } }", p=project)["project"]["auditLog"]["nodes"]
    actions = [(a["actor"], a["action"], a["target"]) for a in audit]
    assert ("bob@example.com", "member.remove", "carol@example.com") in actions
    change = next(a for a in audit if a["action"] == "member.role_change" and a["target"] == "bob@example.com")
    assert "before" not in change["details"] and change["details"]["after"] == "admin"  # was not a member
    assert change["details"]["address"]


def sign_in_existing(client: TestClient, pg_email: str) -> None:
    """A session for a user that already exists (sign_in creates one)."""
    sign_in_as(client, db(client, "SELECT id FROM users WHERE email = $1", pg_email)[0]["id"])


async def test_instance_admins_manage_users_and_read_the_whole_audit_log(client: TestClient,
                                                                          anonymous_client: TestClient,
                                                                          pg: asyncpg.Connection) -> None:
    await make_user(pg, "dave@example.com")
    users = data(client, "{ users(first: 10) { nodes { id email isInstanceAdmin disabledAt } } }")["users"]["nodes"]
    dave = next(u for u in users if u["email"] == "dave@example.com")
    disable = "mutation($u: ID!, $d: Boolean) { setUser(input: {userId: $u, disabled: $d}) { user { disabledAt } } }"
    assert data(client, disable, u=dave["id"], d=True)["setUser"]["user"]["disabledAt"]
    sign_in_existing(anonymous_client, "dave@example.com")
    refused = gql(anonymous_client, "{ projects(first: 1) { totalCount } }")
    assert error_codes(refused) == ["UNAUTHENTICATED"] and "disabled" in refused["errors"][0]["message"]
    assert error_codes(gql(anonymous_client, "{ users(first: 1) { totalCount } }")) == ["UNAUTHENTICATED"]
    log = data(client, '{ auditLog(first: 10, action: "user.update") { nodes { actor target details } } }')
    entry = log["auditLog"]["nodes"][0]
    assert entry["actor"] == "admin@example.com" and entry["target"] == "dave@example.com"
    assert entry["details"]["before"]["disabled"] is False and entry["details"]["after"]["disabled"] is True


def test_anonymous_callers_see_only_public_fields(anonymous_client: TestClient) -> None:
    assert data(anonymous_client, "{ viewer { kind } serverInfo { version } }")["viewer"] == {"kind": "anonymous"}
    body = gql(anonymous_client, "{ projects(first: 1) { totalCount } }")
    assert error_codes(body) == ["UNAUTHENTICATED"] and "sign in" in body["errors"][0]["message"]
