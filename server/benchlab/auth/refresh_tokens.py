"""Rotating refresh tokens with reuse detection: the rules (the statements are in stores/refresh_tokens.py).

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

from benchlab.stores import refresh_tokens as token_store
from benchlab.stores.postgres import PgConnection


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


async def create(conn: PgConnection, *, family_id: UUID, user_id: UUID, ttl_s: int) -> str:
    """Store a new token of `family_id`; returns the token itself (the only time it exists in clear)."""
    token = new_token()
    await token_store.insert_token(conn, family_id=family_id, user_id=user_id, token_hash=hash_token(token),
                                   expires_at=datetime.now(UTC) + timedelta(seconds=ttl_s))
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


async def rotate(conn: PgConnection, token: str, ttl_s: int) -> Rotation:
    async with conn.transaction():
        row = await token_store.find_for_update(conn, hash_token(token))
        if row is None:
            return Rotation("unknown")
        family, user, email = row["family_id"], row["user_id"], row["email"]
        if row["used_at"] is not None or row["revoked_at"] is not None:
            revoked = await token_store.revoke_family(conn, family)
            reason = "reused" if row["used_at"] is not None else "revoked"
            return Rotation(reason, family, user, email, family_revoked=revoked > 0)
        if row["disabled_at"] is not None:
            await token_store.revoke_family(conn, family)
            return Rotation("user_disabled", family, user, email, family_revoked=True)
        if row["expires_at"] <= datetime.now(UTC):
            return Rotation("expired", family, user, email)
        await token_store.mark_used(conn, row["id"])
        successor = await create(conn, family_id=family, user_id=user, ttl_s=ttl_s)
        return Rotation(None, family, user, email, token=successor)


async def family_of(conn: PgConnection, token: str) -> UUID | None:
    """The session (family) a refresh token belongs to, or None for a token we never issued."""
    return await token_store.family_of(conn, hash_token(token))
