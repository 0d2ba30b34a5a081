"""The single-process backend: broadcaster's `memory://`, with a bounded hand-off queue.

broadcaster's MemoryBackend queues every published event in an unbounded queue until its listener picks it
up; a publisher that outruns the fan-out grows memory. Here `publish` waits for room instead. The fan-out
never blocks on a subscriber, so the wait is short and the publisher is slowed only by the fan-out itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

from broadcaster import Event
from broadcaster._backends.base import BroadcastBackend

DEFAULT_MAX_PENDING = 1024


class BoundedMemoryBackend(BroadcastBackend):
    def __init__(self, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self._max_pending = max_pending
        self._channels: set[str] = set()
        self._published: asyncio.Queue[Event] | None = None

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._channels)

    async def connect(self) -> None:
        self._published = asyncio.Queue(maxsize=self._max_pending)

    async def disconnect(self) -> None:
        self._published = None

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def publish(self, channel: str, message: Any) -> None:
        if self._published is None:
            raise RuntimeError("realtime hub is not started")
        if channel in self._channels:  # nobody listens: nothing to hand over (what Redis does too)
            await self._published.put(Event(channel, message))

    async def next_published(self) -> Event:
        if self._published is None:
            raise RuntimeError("realtime hub is not started")
        return await self._published.get()
