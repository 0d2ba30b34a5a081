"""Local fan-out on top of a broadcaster backend: who listens to which channel, and one task feeding them.

This replaces `broadcaster.Broadcast`'s own fan-out, which has two faults we cannot live with
(broadcaster 0.3.1): it awaits `queue.put` on every subscriber's unbounded queue, and concurrent
first subscribers to a channel race (each sees no subscriber, one queue survives, the others get KeyError on
exit). Here delivery is synchronous into bounded `Subscription`s, and every first-subscribe /
last-unsubscribe transition of a channel runs under that channel's lock, so the backend SUBSCRIBEs once per
channel and UNSUBSCRIBEs when its last local subscriber leaves.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from broadcaster import Event
from broadcaster._backends.base import BroadcastBackend

from benchlab.realtime.subscription import Subscription

log = logging.getLogger(__name__)


class ChannelLocks:
    """One asyncio.Lock per channel, kept only while someone holds or awaits it (channels are per run)."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, channel: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(channel, (asyncio.Lock(), 0))
        self._locks[channel] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[channel]
            if users == 1:
                del self._locks[channel]
            else:
                self._locks[channel] = (lock, users - 1)

    def __len__(self) -> int:
        return len(self._locks)


class FanOut:
    """Deliver each event from `backend.next_published()` to the local subscriptions of its channel."""

    def __init__(self, backend: BroadcastBackend) -> None:
        self._backend = backend
        self._subscriptions: dict[str, set[Subscription]] = {}
        self._locks = ChannelLocks()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="realtime-fanout")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.close()
        self._subscriptions.clear()

    async def add(self, subscription: Subscription) -> None:
        """Register first, then SUBSCRIBE, so nothing the backend delivers after SUBSCRIBE can be missed."""
        async with self._locks.hold(subscription.channel):
            subscriptions = self._subscriptions.setdefault(subscription.channel, set())
            subscriptions.add(subscription)
            if len(subscriptions) == 1:
                await self._backend.subscribe(subscription.channel)

    async def remove(self, subscription: Subscription) -> None:
        subscription.close()
        async with self._locks.hold(subscription.channel):
            subscriptions = self._subscriptions.get(subscription.channel)
            if subscriptions is None or subscription not in subscriptions:
                return
            subscriptions.discard(subscription)
            if not subscriptions:
                del self._subscriptions[subscription.channel]
                await self._backend.unsubscribe(subscription.channel)

    def subscriptions(self) -> list[Subscription]:
        return [s for subscriptions in self._subscriptions.values() for s in subscriptions]

    async def _run(self) -> None:
        while True:
            event = await self._backend.next_published()
            try:
                self._deliver(event)
            except Exception:  # one malformed message must not end delivery for every subscriber
                log.exception("could not deliver a message on channel %r", event.channel)
            # One task feeds every subscriber: yield after each event so consumers that keep up get to
            # drain their queues during a burst instead of overflowing behind a long synchronous loop.
            await asyncio.sleep(0)

    def _deliver(self, event: Event) -> None:
        subscriptions = self._subscriptions.get(event.channel)
        if not subscriptions:
            return
        try:
            message = json.loads(event.message)
        except (TypeError, ValueError):
            log.warning("dropped a non-JSON message on channel %r", event.channel)
            return
        if not isinstance(message, dict):
            log.warning("dropped a JSON %s on channel %r; messages must be objects",
                        type(message).__name__, event.channel)
            return
        for subscription in subscriptions:
            subscription.deliver(message)
