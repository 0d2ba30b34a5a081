"""Identities for tests: API keys with a role in a project, users with memberships."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from starlette.testclient import TestClient

from benchlab.auth.api_keys import mint
from benchlab.auth.sessions import ACCESS_COOKIE, issue_access_token


async def make_key(conn: asyncpg.Connection, project_id: UUID, role: str, name: str = "test key") -> str:
    """A fresh API key of `project_id` with `role`; returns the secret to send as a bearer token."""
    secret, prefix, key_hash = mint()
    await conn.execute("INSERT INTO api_keys (project_id, name, role, prefix, key_hash) VALUES ($1, $2, $3, $4, $5)",
                       project_id, name, role, prefix, key_hash)
    return secret


async def make_user(conn: asyncpg.Connection, email: str, *, admin: bool = False) -> UUID:
    return await conn.fetchval("INSERT INTO users (email, display_name, is_instance_admin) VALUES ($1, $1, $2) "
                               "RETURNING id", email, admin)


def as_key(client: TestClient, key: str, query: str, **variables: Any) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables},
                           headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()


def sign_in(client: TestClient, email: str, *, admin: bool = False) -> UUID:
    """Create a user and give the client a real session cookie for them (and a same-origin Origin header)."""
    runtime = client.app.state.runtime

    async def create() -> UUID:
        async with runtime.pg.acquire() as conn:
            return await make_user(conn, email, admin=admin)

    user_id = client.portal.call(create)
    sign_in_as(client, user_id)
    return user_id


def sign_in_as(client: TestClient, user_id: UUID) -> None:
    """Give the client a real session cookie for an existing user (and a same-origin Origin header)."""
    client.cookies.set(ACCESS_COOKIE, issue_access_token(client.app.state.runtime, user_id))
    client.headers["origin"] = "http://testserver"


def db(client: TestClient, query: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of a query on the app's own database, from a synchronous test."""
    async def run() -> list[dict[str, Any]]:
        async with client.app.state.runtime.pg.acquire() as conn:
            return [dict(r) for r in await conn.fetch(query, *args)]

    return client.portal.call(run)


async def database_snapshot(conn: asyncpg.Connection) -> dict[str, list[str]]:
    """Every row of every table, to show that a call changed nothing (or something).

    API keys' `last_used_at` is left out: authenticating with a key records its use, whatever the call does.
    """
    tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    return {table: [row[0] for row in await conn.fetch(
                f"SELECT (to_jsonb(t) - 'last_used_at')::text FROM {table} t ORDER BY 1")]
            for (table,) in tables}
