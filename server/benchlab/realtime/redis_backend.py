"""A broadcaster backend on `redis.asyncio` pub/sub that survives Redis restarts.

broadcaster 0.3.1's own Redis backend delivers nothing with redis-py 8 and hangs forever after a Redis
restart (shared/reference/stack.md, pitfall 3). This one reconnects with backoff, subscribes again to every
channel it had, and meanwhile publishes a `gap` marker on each affected channel, so subscribers learn that
messages may have been missed instead of waiting silently.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import redis.asyncio as aioredis
from broadcaster import Event
from broadcaster._backends.base import BroadcastBackend

log = logging.getLogger(__name__)

GAP_MESSAGE = json.dumps({"type": "gap", "reason": "redis connection lost; messages may be missing"})
_MAX_BACKOFF_S = 5.0


class ResilientRedisBackend(BroadcastBackend):
    def __init__(self, url: str) -> None:
        self._url = url
        self._client: aioredis.Redis | None = None
        self._channels: set[str] = set()
        self._events: asyncio.Queue[Event] = asyncio.Queue()
        self._pubsub: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def connect(self) -> None:
        self._client = aioredis.from_url(self._url, socket_connect_timeout=5, health_check_interval=10)
        await self._client.ping()
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        self._reader = asyncio.create_task(self._read_forever(), name="redis-pubsub-reader")

    async def disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        if self._pubsub is not None:
            await self._pubsub.aclose()
        if self._client is not None:
            await self._client.aclose()

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        await self._pubsub.subscribe(channel)
        self._subscribed.set()

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        assert self._client is not None, "connect() first"
        await self._client.publish(channel, message)

    async def next_published(self) -> Event:
        return await self._events.get()

    async def ping(self) -> None:
        assert self._client is not None, "connect() first"
        await self._client.ping()

    async def _read_forever(self) -> None:
        backoff = 0.1
        while True:
            if not self._channels:
                # redis-py's listen() returns at once with no subscription; wait for the first one.
                self._subscribed.clear()
                await self._subscribed.wait()
            try:
                message = await self._pubsub.get_message(timeout=1.0)
                backoff = 0.1
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
                log.warning("redis pub/sub connection lost (%s); reconnecting", type(exc).__name__)
                self._mark_gap()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF_S)
                await self._resubscribe()
                continue
            if message is not None and message.get("type") == "message":
                data = message["data"]
                channel = message["channel"]
                self._events.put_nowait(Event(_text(channel), _text(data)))

    async def _resubscribe(self) -> None:
        try:
            await self._pubsub.aclose()
            self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            if self._channels:
                await self._pubsub.subscribe(*self._channels)
                log.info("redis pub/sub resubscribed to %d channel(s)", len(self._channels))
        except (aioredis.ConnectionError, aioredis.TimeoutError, OSError):
            pass  # still down; the read loop retries with backoff

    def _mark_gap(self) -> None:
        for channel in self._channels:
            self._events.put_nowait(Event(channel, GAP_MESSAGE))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
