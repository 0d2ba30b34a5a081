"""API keys: minted once, stored hashed, verified without a slow hash, last use recorded sparingly.

Verification is one indexed lookup by prefix and a SHA-256 comparison; a short in-process cache skips even
the lookup for keys used in the last few seconds. Revocation drops the entry at once in every process: the
revoking one directly, the others when the access-changed message reaches them (auth/changes.py).
CACHE_TTL_S only bounds how long a lost message could matter. `last_used_at` is written at most once a
minute per key, so a busy CI job does not turn every request into a write.

A refused key says why (unknown, revoked, expired) only to whoever holds the whole key: the reason is given
after the hash matched, so a guessed prefix learns nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from benchlab.auth.roles import Role
from benchlab.errors import UnauthenticatedError
from benchlab.stores import api_keys as key_store
from benchlab.stores.postgres import PgConnection

KEY_PREFIX = "blk_"
CACHE_TTL_S = 5.0
LAST_USED_RESOLUTION_S = 60.0


@dataclass(frozen=True)
class VerifiedKey:
    key_id: UUID
    project_id: UUID
    role: Role
    name: str
    expires_at: datetime | None


def mint() -> tuple[str, str, str]:
    """A new key: (full key shown once, prefix stored in clear, hash stored)."""
    prefix = secrets.token_hex(6)
    full = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return full, prefix, digest(full)


@dataclass(frozen=True)
class CreatedKey:
    key_id: UUID
    prefix: str
    secret: str   # the whole key: show it once, never store or log it


async def create_key(conn: PgConnection, *, project_id: UUID, name: str, role: Role, created_by: UUID | None,
                     expires_at: datetime | None) -> CreatedKey:
    """Mint a key and store it (hashed) for the project; the caller checks who may grant `role`."""
    secret, prefix, key_hash = mint()
    key_id = await key_store.insert_api_key(conn, project_id=project_id, name=name, role=role.value, prefix=prefix,
                                            key_hash=key_hash, created_by=created_by, expires_at=expires_at)
    return CreatedKey(key_id, prefix, secret)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def prefix_of(key: str) -> str | None:
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, sep, rest = key[len(KEY_PREFIX):].partition("_")
    return prefix if sep and rest and len(prefix) == 12 else None


class InvalidApiKey(UnauthenticatedError):
    """The key is malformed, unknown, revoked or expired; the message says which and is safe to show."""


UNKNOWN = "unknown API key"


class ApiKeyVerifier:
    """Per-process verifier with a short cache of recently verified keys."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, VerifiedKey]] = {}
        self._last_used_written: dict[UUID, float] = {}

    async def verify(self, pool: asyncpg.Pool, key: str) -> VerifiedKey:
        """The key's project and role; InvalidApiKey says why it is refused."""
        prefix = prefix_of(key)
        if prefix is None:
            raise InvalidApiKey("malformed API key (keys look like blk_<12 hex digits>_<secret>)")
        key_hash = digest(key)
        now = time.monotonic()
        cached = self._cache.get(key_hash)
        if cached is not None and now - cached[0] < CACHE_TTL_S and not _expired(cached[1]):
            await self._touch(pool, cached[1].key_id, now)
            return cached[1]
        async with pool.acquire() as conn:
            row = await key_store.find_by_prefix(conn, prefix)
        if row is None or not hmac.compare_digest(row["key_hash"], key_hash):
            raise InvalidApiKey(UNKNOWN)
        verified = VerifiedKey(row["id"], row["project_id"], Role(row["role"]), row["name"], row["expires_at"])
        refusal = _refusal(row)
        if refusal is not None:
            raise InvalidApiKey(refusal)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key_hash] = (now, verified)
        await self._touch(pool, verified.key_id, now)
        return verified

    async def refusal_of(self, pool: asyncpg.Pool, key_id: UUID) -> str | None:
        """Why a key verified earlier is refused now (revoked, expired, deleted), or None while it is valid."""
        async with pool.acquire() as conn:
            row = await key_store.find_validity(conn, key_id)
        return UNKNOWN if row is None else _refusal(row)

    def forget(self, key_id: UUID | None) -> None:
        """Drop a revoked key from the cache at once (None: every key, when anything may have changed)."""
        for key_hash, (_, verified) in list(self._cache.items()):
            if key_id is None or verified.key_id == key_id:
                del self._cache[key_hash]

    async def _touch(self, pool: asyncpg.Pool, key_id: UUID, now: float) -> None:
        if now - self._last_used_written.get(key_id, -LAST_USED_RESOLUTION_S) < LAST_USED_RESOLUTION_S:
            return
        self._last_used_written[key_id] = now
        async with pool.acquire() as conn:
            await key_store.touch_last_used(conn, key_id)


def _expired(key: VerifiedKey) -> bool:
    return key.expires_at is not None and key.expires_at <= datetime.now(UTC)


def _refusal(row: asyncpg.Record) -> str | None:
    if row["revoked_at"] is not None:
        return "this API key was revoked"
    if row["expires_at"] is not None and row["expires_at"] <= datetime.now(UTC):
        return f"this API key expired at {row['expires_at']:%Y-%m-%d %H:%M} UTC"
    return None
