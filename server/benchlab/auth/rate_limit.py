"""Fixed-window rate limits: `await limiter.hit(key, limit, window_s)` -> None (go on) or seconds to wait.

With a Redis URL the counters live in Redis (one atomic Lua script: INCR, then PEXPIRE on the first hit),
so every replica enforces the same budget; otherwise they live in this process, in a dict whose expired
windows are swept out and whose size is capped, so a flood of distinct keys (addresses) cannot grow memory
without bound. A window starts at a key's first hit and lasts `window_s`.

If Redis cannot be reached the limiter lets requests through (and says so in the log, at most once a
minute): a rate limit protects availability, it must not be the thing that takes sign-in down.
"""

from __future__ import annotations

import logging
import math
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

log = logging.getLogger(__name__)

MAX_LOCAL_KEYS = 100_000
KEY_PREFIX = "benchlab:rl:"
_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""


class RateLimiter:
    def __init__(self, redis_url: str | None, *, max_local_keys: int = MAX_LOCAL_KEYS) -> None:
        self._redis_url = redis_url if redis_url and redis_url.startswith(("redis://", "rediss://")) else None
        self._redis: Redis | None = None
        self._script: AsyncScript | None = None
        self._windows: dict[str, tuple[int, float]] = {}  # key -> (count, window end on the monotonic clock)
        self._max_local_keys = max_local_keys
        self._next_sweep = 0.0
        self._last_warning = -math.inf

    @property
    def distributed(self) -> bool:
        return self._redis_url is not None

    async def hit(self, key: str, limit: int, window_s: float) -> float | None:
        """Count one request against `key`; None if it is within `limit` per window, else seconds to wait."""
        if self._redis_url is not None:
            try:
                return await self._hit_redis(self._redis_url, key, limit, window_s)
            except Exception as exc:  # Redis down: fail open, loudly but not on every request
                now = time.monotonic()
                if now - self._last_warning > 60:
                    self._last_warning = now
                    log.warning("rate limiting is off while Redis cannot be reached (%s)", type(exc).__name__)
                return None
        return self._hit_local(key, limit, window_s)

    async def _hit_redis(self, url: str, key: str, limit: int, window_s: float) -> float | None:
        if self._script is None:
            import redis.asyncio  # lazy, for start-up speed: only servers given a Redis URL load the client

            self._redis = redis.asyncio.from_url(url, socket_timeout=2, socket_connect_timeout=2)
            self._script = self._redis.register_script(_SCRIPT)
        count, ttl_ms = await self._script(keys=[KEY_PREFIX + key], args=[max(1, int(window_s * 1000))])
        if int(count) <= limit:
            return None
        return max(int(ttl_ms), 1) / 1000

    def _hit_local(self, key: str, limit: int, window_s: float) -> float | None:
        now = time.monotonic()
        self._sweep(now)
        count, ends = self._windows.get(key, (0, 0.0))
        if ends <= now:
            count, ends = 0, now + window_s
            self._windows.pop(key, None)  # re-insert at the end: the dict stays ordered by window start
        count += 1
        self._windows[key] = (count, ends)
        return None if count <= limit else ends - now

    def _sweep(self, now: float) -> None:
        """Drop expired windows (at most once a second), then the oldest ones beyond the size cap."""
        if now >= self._next_sweep or len(self._windows) > self._max_local_keys:
            self._next_sweep = now + 1.0
            for stale in [k for k, (_, ends) in self._windows.items() if ends <= now]:
                del self._windows[stale]
        while len(self._windows) >= self._max_local_keys:
            del self._windows[next(iter(self._windows))]

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None


def retry_after_header(seconds: float) -> str:
    """The Retry-After value: whole seconds, rounded up, at least 1."""
    return str(max(1, math.ceil(seconds)))
