"""Project API keys (table `api_keys`): the clear prefix that finds a key, the hash that proves it, its state.

The key itself is never stored, only its hash; `prefix` is unique, so verifying is one indexed lookup.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from benchlab.stores.postgres import PgConnection


async def insert_api_key(conn: PgConnection, *, project_id: UUID, name: str, role: str, prefix: str,
                         key_hash: str, created_by: UUID | None, expires_at: datetime | None) -> UUID:
    """Store a new key; returns its id."""
    return await conn.fetchval(
        "INSERT INTO api_keys (project_id, name, role, prefix, key_hash, created_by, expires_at) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        project_id, name, role, prefix, key_hash, created_by, expires_at)


async def list_keys(conn: PgConnection, project_id: UUID) -> list[asyncpg.Record]:
    """Every key of the project, revoked ones too, newest first: everything but the hash."""
    return await conn.fetch(
        "SELECT id, project_id, name, role, prefix, created_by, created_at, expires_at, revoked_at, last_used_at "
        "FROM api_keys WHERE project_id = $1 ORDER BY created_at DESC, id", project_id)


async def find_by_prefix(conn: PgConnection, prefix: str) -> asyncpg.Record | None:
    """id, project_id, role, name, key_hash, expires_at, revoked_at of the key with `prefix`, or None."""
    return await conn.fetchrow(
        "SELECT id, project_id, role, name, key_hash, expires_at, revoked_at FROM api_keys WHERE prefix = $1", prefix)


async def find_validity(conn: PgConnection, key_id: UUID) -> asyncpg.Record | None:
    """expires_at and revoked_at of the key, or None when it no longer exists."""
    return await conn.fetchrow("SELECT expires_at, revoked_at FROM api_keys WHERE id = $1", key_id)


async def revoke(conn: PgConnection, key_id: UUID) -> UUID | None:
    """Revoke the key (a second revocation keeps the first time); returns its project, None if no such key."""
    return await conn.fetchval(
        "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING project_id", key_id)


async def touch_last_used(conn: PgConnection, key_id: UUID) -> None:
    await conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = $1", key_id)
