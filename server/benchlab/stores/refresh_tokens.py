"""Refresh tokens (table `refresh_tokens`), stored by hash, grouped in families: a family is one session.

Each refresh marks the presented token used and adds its successor to the family; revoking a family ends
the session. The rules (when to revoke, what a reuse means) live with the sessions; these are the statements.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from benchlab.stores.postgres import PgConnection


async def insert_token(conn: PgConnection, *, family_id: UUID, user_id: UUID, token_hash: str,
                       expires_at: datetime) -> None:
    await conn.execute("INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at) "
                       "VALUES ($1, $2, $3, $4)", family_id, user_id, token_hash, expires_at)


async def find_for_update(conn: PgConnection, token_hash: str) -> asyncpg.Record | None:
    """The token with its user (id, family_id, user_id, expires_at, used_at, revoked_at, email, disabled_at),
    locked until the transaction ends, so two refreshes with one token cannot both succeed."""
    return await conn.fetchrow(
        "SELECT t.id, t.family_id, t.user_id, t.expires_at, t.used_at, t.revoked_at, u.email, u.disabled_at "
        "FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 FOR UPDATE OF t",
        token_hash)


async def mark_used(conn: PgConnection, token_id: UUID) -> None:
    await conn.execute("UPDATE refresh_tokens SET used_at = now() WHERE id = $1", token_id)


async def revoke_family(conn: PgConnection, family_id: UUID) -> int:
    """Revoke every live token of the family; returns how many were still live."""
    status = await conn.execute("UPDATE refresh_tokens SET revoked_at = now() "
                                "WHERE family_id = $1 AND revoked_at IS NULL", family_id)
    return int(status.split()[-1])


async def family_of(conn: PgConnection, token_hash: str) -> UUID | None:
    return await conn.fetchval("SELECT family_id FROM refresh_tokens WHERE token_hash = $1", token_hash)


async def family_user_email(conn: PgConnection, family_id: UUID) -> str | None:
    """The email of the user whose session the family is, or None for an unknown family."""
    return await conn.fetchval("SELECT u.email FROM refresh_tokens t JOIN users u ON u.id = t.user_id "
                               "WHERE t.family_id = $1 LIMIT 1", family_id)
