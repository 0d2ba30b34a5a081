"""API keys: minted once, stored hashed, verified without a slow hash, last use recorded sparingly.

Verification is one indexed lookup by prefix and a SHA-256 comparison; a short in-process cache skips even
the lookup for keys used in the last few seconds (revocation through this process drops the entry at
once; other replicas notice within CACHE_TTL_S). `last_used_at` is written at most once a minute per key,
so a busy CI job does not turn every request into a write.
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

from benchlab.access.roles import Role

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


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def prefix_of(key: str) -> str | None:
    if not key.startswith(KEY_PREFIX):
        return None
    prefix, sep, rest = key[len(KEY_PREFIX):].partition("_")
    return prefix if sep and rest and len(prefix) == 12 else None


class ApiKeyVerifier:
    """Per-process verifier with a short cache of recently verified keys."""

    def __init__(self) -> None:
        self._cache: dict[str, tuple[float, VerifiedKey]] = {}
        self._last_used_written: dict[UUID, float] = {}

    async def verify(self, pool: asyncpg.Pool, key: str) -> VerifiedKey | None:
        """The key's project and role, or None when it is unknown, revoked or expired."""
        prefix = prefix_of(key)
        if prefix is None:
            return None
        key_hash = digest(key)
        now = time.monotonic()
        cached = self._cache.get(key_hash)
        if cached is not None and now - cached[0] < CACHE_TTL_S and not _expired(cached[1]):
            await self._touch(pool, cached[1].key_id, now)
            return cached[1]
        async with pool.acquire() as conn:
            row = await conn.fetchrow(
                "SELECT id, project_id, role, name, key_hash, expires_at FROM api_keys "
                "WHERE prefix = $1 AND revoked_at IS NULL", prefix)
        if row is None or not hmac.compare_digest(row["key_hash"], key_hash):
            return None
        verified = VerifiedKey(row["id"], row["project_id"], Role(row["role"]), row["name"], row["expires_at"])
        if _expired(verified):
            return None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key_hash] = (now, verified)
        await self._touch(pool, verified.key_id, now)
        return verified

    def forget(self, key_id: UUID) -> None:
        """Drop a revoked key from the cache at once."""
        for key_hash, (_, verified) in list(self._cache.items()):
            if verified.key_id == key_id:
                del self._cache[key_hash]

    async def _touch(self, pool: asyncpg.Pool, key_id: UUID, now: float) -> None:
        if now - self._last_used_written.get(key_id, -LAST_USED_RESOLUTION_S) < LAST_USED_RESOLUTION_S:
            return
        self._last_used_written[key_id] = now
        async with pool.acquire() as conn:
            await conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = $1", key_id)


def _expired(key: VerifiedKey) -> bool:
    return key.expires_at is not None and key.expires_at <= datetime.now(UTC)
