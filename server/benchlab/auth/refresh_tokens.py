"""Rotating refresh tokens in PostgreSQL, with reuse detection (table `refresh_tokens`).

A refresh token is 256 random bits shown once (in a cookie) and stored only as its SHA-256. Refreshing
marks the presented token used and issues its successor in the same family; a token can therefore be
presented once. If a used or revoked token comes back, someone holds a copy: the whole family (the
session) is revoked, so the thief's copy and the victim's both stop working and the victim signs in again.
Outcomes are returned, not raised, so that a revocation commits even though the refresh is refused.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


async def create(conn: asyncpg.Connection, *, family_id: UUID, user_id: UUID, ttl_s: int) -> str:
    """Store a new token of `family_id`; returns the token itself (the only time it exists in clear)."""
    token = new_token()
    await conn.execute("INSERT INTO refresh_tokens (family_id, user_id, token_hash, expires_at) "
                       "VALUES ($1, $2, $3, $4)",
                       family_id, user_id, hash_token(token), datetime.now(UTC) + timedelta(seconds=ttl_s))
    return token


@dataclass(frozen=True)
class Rotation:
    """What a refresh attempt came to: `token` is the successor when `refused` is None.

    `refused` is one of unknown, expired, reused (a used token came back), revoked (after logout or a
    previous reuse), user_disabled. `family_revoked` tells whether this attempt revoked the family.
    """

    refused: str | None
    family_id: UUID | None = None
    user_id: UUID | None = None
    email: str = ""
    token: str = ""
    family_revoked: bool = False


async def rotate(conn: asyncpg.Connection, token: str, ttl_s: int) -> Rotation:
    async with conn.transaction():
        row = await conn.fetchrow(
            "SELECT t.id, t.family_id, t.user_id, t.expires_at, t.used_at, t.revoked_at, u.email, u.disabled_at "
            "FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 FOR UPDATE OF t",
            hash_token(token))
        if row is None:
            return Rotation("unknown")
        family, user, email = row["family_id"], row["user_id"], row["email"]
        if row["used_at"] is not None or row["revoked_at"] is not None:
            revoked = await revoke_family(conn, family)
            reason = "reused" if row["used_at"] is not None else "revoked"
            return Rotation(reason, family, user, email, family_revoked=revoked > 0)
        if row["disabled_at"] is not None:
            await revoke_family(conn, family)
            return Rotation("user_disabled", family, user, email, family_revoked=True)
        if row["expires_at"] <= datetime.now(UTC):
            return Rotation("expired", family, user, email)
        await conn.execute("UPDATE refresh_tokens SET used_at = now() WHERE id = $1", row["id"])
        successor = await create(conn, family_id=family, user_id=user, ttl_s=ttl_s)
        return Rotation(None, family, user, email, token=successor)


async def revoke_family(conn: asyncpg.Connection, family_id: UUID) -> int:
    """Revoke every live token of the family; returns how many were still live."""
    status = await conn.execute("UPDATE refresh_tokens SET revoked_at = now() "
                                "WHERE family_id = $1 AND revoked_at IS NULL", family_id)
    return int(status.split()[-1])


async def family_of(conn: asyncpg.Connection, token: str) -> UUID | None:
    return await conn.fetchval("SELECT family_id FROM refresh_tokens WHERE token_hash = $1", hash_token(token))


async def family_is_live(conn: asyncpg.Connection, family_id: UUID) -> bool:
    """True while the session has an unrevoked, unexpired token (for callers that want logout to be
    immediate rather than at the access token's expiry)."""
    return bool(await conn.fetchval(
        "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NULL "
        "AND expires_at > now())", family_id))
