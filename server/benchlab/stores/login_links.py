"""Local mode's one-time sign-in links (table `login_links`), stored by hash, each usable once before it expires."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from benchlab.stores.postgres import PgConnection


async def insert_link(conn: PgConnection, user_id: UUID, token_hash: str, expires_at: datetime) -> None:
    await conn.execute("INSERT INTO login_links (user_id, token_hash, expires_at) VALUES ($1, $2, $3)",
                       user_id, token_hash, expires_at)


async def use_link(conn: PgConnection, token_hash: str) -> asyncpg.Record | None:
    """Mark the link used if it is unused and unexpired, in one statement (two clicks cannot both use it);
    returns its user's user_id, email and disabled_at, or None when it could not be used."""
    return await conn.fetchrow(
        "UPDATE login_links l SET used_at = now() FROM users u WHERE l.token_hash = $1 AND l.used_at IS NULL "
        "AND l.expires_at > now() AND u.id = l.user_id RETURNING l.user_id, u.email, u.disabled_at", token_hash)


async def expire_unused_links(conn: PgConnection) -> None:
    """Retire every link still usable."""
    await conn.execute("UPDATE login_links SET expires_at = now() WHERE used_at IS NULL AND expires_at > now()")


async def find_link(conn: PgConnection, token_hash: str) -> asyncpg.Record | None:
    """The link's used_at, or None when no link has that hash."""
    return await conn.fetchrow("SELECT used_at FROM login_links WHERE token_hash = $1", token_hash)
