"""The realtime hub: publish JSON messages to named channels, subscribe with a bounded queue per subscriber.

Backends are broadcaster `BroadcastBackend`s: a bounded memory:// in one process, our
resilient Redis backend across replicas. The fan-out above them is ours (fanout.py), because broadcaster's
blocks on slow subscribers and races on concurrent first subscribers. Messages are always JSON text on the
backend, even on memory://, so serialization bugs show up in single-process tests rather than only in
production on Redis; subscribers read decoded dicts.

    async with hub.subscribe(channel) as subscription:
        async for message in subscription:  # dicts; {"type": "gap", ...} when messages went missing
            ...
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from benchlab.config import redact_text, redact_url
from benchlab.errors import StoreUnavailableError
from benchlab.realtime.fanout import FanOut
from benchlab.realtime.memory_backend import BoundedMemoryBackend
from benchlab.realtime.redis_backend import ResilientRedisBackend
from benchlab.realtime.subscription import Listener, Message, Subscription, Weigh

URL_VARIABLE = "BENCHLAB_REDIS_URL"
DEFAULT_MAX_QUEUED = 256


class Hub:
    def __init__(self, redis_url: str | None, *, max_queued: int = DEFAULT_MAX_QUEUED,
                 timeout_s: float = 2.0) -> None:
        """`max_queued` bounds each subscriber's queue; `timeout_s` bounds every Redis publish and ping."""
        self.url = redis_url or "memory://"
        self.backend_name = "memory" if self.url.startswith("memory") else "redis"
        self.backend: BoundedMemoryBackend | ResilientRedisBackend = (
            BoundedMemoryBackend() if self.backend_name == "memory"
            else ResilientRedisBackend(self.url, timeout_s=timeout_s))
        self.max_queued = max_queued
        self._fanout = FanOut(self.backend)

    async def start(self) -> None:
        try:
            await self.backend.connect()
        except Exception as exc:  # unreachable Redis, bad credentials: one clear line
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise StoreUnavailableError(URL_VARIABLE, redact_url(self.url), redact_text(reason, self.url)) from None
        self._fanout.start()

    async def stop(self) -> None:
        """End every open subscription (their iterators stop) and close the backend."""
        await self._fanout.stop()
        await self.backend.disconnect()

    async def publish(self, channel: str, message: Mapping[str, Any]) -> None:
        """Send `message` as JSON text; a value JSON cannot carry fails here, in the publisher's traceback."""
        if not isinstance(message, dict):
            raise TypeError(f"realtime messages are JSON objects; got {type(message).__name__} for {channel!r}")
        try:
            text = json.dumps(message, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"realtime message for channel {channel!r} is not JSON-serialisable: {exc}") from exc
        await self.backend.publish(channel, text)

    @asynccontextmanager
    async def subscribe(self, channel: str, weigh: Weigh | None = None) -> AsyncIterator[Subscription]:
        """Yield a `Subscription` that receives every message published after this context is entered.

        `weigh` says what a message dropped for overflow counts as in the gap marker (default: one message).

        Joining and leaving run shielded from cancellation (a GraphQL client that disconnects cancels its
        task at any await): a half-done join or leave would leave the channel subscribed forever or
        unsubscribed under a live subscriber. A leave waits for its join to finish first.
        """
        subscription = Subscription(channel, self.max_queued, weigh)
        joining = asyncio.ensure_future(self._fanout.add(subscription))
        try:
            await asyncio.shield(joining)
            yield subscription
        finally:
            await asyncio.shield(self._leave(joining, subscription))

    async def listen(self, channel: str, callback: Callable[[Message], None]) -> None:
        """Call `callback` with every message published on `channel` from now until the hub stops.

        Returns once the backend confirmed the channel, so nothing published afterwards is missed. Messages
        lost in an outage arrive as a gap marker, like for any subscriber.
        """
        await asyncio.shield(self._fanout.add(Listener(channel, callback)))

    async def ping(self) -> None:
        if isinstance(self.backend, ResilientRedisBackend):
            await self.backend.ping()

    def queued_messages(self) -> int:
        """Messages (and gap markers) held for all local subscribers right now: at most subscribers × bound."""
        return sum(s.qsize() for s in self._fanout.subscriptions())

    def subscriptions(self) -> list[Subscription]:
        return self._fanout.subscriptions()

    async def _leave(self, joining: asyncio.Future[None], subscription: Subscription) -> None:
        await asyncio.gather(joining, return_exceptions=True)
        await self._fanout.remove(subscription)
