"""Create the broadcaster for this deployment: memory:// in one process, our Redis backend across replicas.

Messages are always JSON text, even on memory://, so serialization bugs show up in single-process tests
rather than only in production on Redis.
"""

from __future__ import annotations

import json
from typing import Any

from broadcaster import Broadcast

from benchlab.config import redact_url
from benchlab.errors import StoreUnavailableError
from benchlab.realtime.redis_backend import ResilientRedisBackend

URL_VARIABLE = "BENCHLAB_REDIS_URL"


class Hub:
    """Publish JSON messages to named channels; subscribe through `broadcast.subscribe(channel)`."""

    def __init__(self, redis_url: str | None) -> None:
        self.url = redis_url or "memory://"
        self.backend_name = "memory" if self.url.startswith("memory") else "redis"
        self._redis = ResilientRedisBackend(self.url) if self.backend_name == "redis" else None
        self.broadcast = Broadcast(backend=self._redis) if self._redis else Broadcast(self.url)

    async def start(self) -> None:
        try:
            await self.broadcast.connect()
        except Exception as exc:  # unreachable Redis, bad credentials: one clear line
            raise StoreUnavailableError(URL_VARIABLE, redact_url(self.url),
                                        str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None

    async def stop(self) -> None:
        await self.broadcast.disconnect()

    async def publish(self, channel: str, message: dict[str, Any]) -> None:
        await self.broadcast.publish(channel, json.dumps(message, separators=(",", ":")))

    async def ping(self) -> None:
        if self._redis is not None:
            await self._redis.ping()
