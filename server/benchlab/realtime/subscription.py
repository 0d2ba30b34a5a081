"""One subscriber's bounded mailbox, and the `gap` marker that tells a client it missed messages.

broadcaster gives every subscriber an unbounded queue and fans out with `await queue.put`, so one client
that stops reading grows server memory without limit (broadcaster 0.3.1). Here the fan-out hands
messages over synchronously and never waits: when a subscriber's queue is full its messages are dropped and
counted, and the subscriber reads a single `gap` marker carrying that count at the point in the stream where
messages went missing, so it can re-query state instead of silently showing stale data.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

OVERFLOW_REASON = "subscriber fell behind; messages were dropped"

Message = dict[str, Any]
Weigh = Callable[[Message], int]  # what a dropped message counts as in a gap's `dropped` (default: 1)


def gap_marker(reason: str, dropped: int | None) -> Message:
    """The message a subscriber reads when some messages did not reach it; `dropped` is None when unknown."""
    return {"type": "gap", "reason": reason, "dropped": dropped}


def is_gap(message: Message) -> bool:
    return message.get("type") == "gap"


class SubscriptionClosed(Exception):
    """Raised by `get()` once the subscription has ended and everything queued has been read."""


class Subscription:
    """Decoded messages of one channel for one subscriber, at most `max_queued` of them held at a time.

    Gap markers count against the bound too, so `qsize()` never exceeds it. Consecutive losses coalesce
    into one marker: into the marker already at the tail of the queue, or, when the queue is full of
    messages, into a pending marker that takes the first slot a read frees.
    """

    def __init__(self, channel: str, max_queued: int, weigh: Weigh | None = None) -> None:
        if max_queued < 1:
            raise ValueError("max_queued must be at least 1")
        self.channel = channel
        self.max_queued = max_queued
        self._weigh = weigh
        self._items: deque[Message] = deque()
        self._pending_gap: Message | None = None
        self._readable = asyncio.Event()
        self._closed = False

    def qsize(self) -> int:
        return len(self._items)

    @property
    def closed(self) -> bool:
        return self._closed

    def deliver(self, message: Message) -> None:
        """Queue `message` without ever blocking the caller (the fan-out); full queue: drop and count it.

        The dict may be shared with other subscribers of the channel: consumers must treat it as read-only.
        """
        if self._closed:
            return
        if is_gap(message):  # may come from another process through Redis: take only well-formed fields
            dropped = message.get("dropped")
            self._add_gap(str(message.get("reason") or "messages may be missing"),
                          dropped if isinstance(dropped, int) and not isinstance(dropped, bool) else None)
        elif len(self._items) < self.max_queued:
            self._append(message)
        else:
            self._add_gap(OVERFLOW_REASON, 1 if self._weigh is None else self._weigh(message))

    def close(self) -> None:
        """End the subscription: readers get what is already queued, then iteration stops."""
        self._closed = True
        self._readable.set()

    async def get(self) -> Message:
        while not self._items:
            if self._closed:
                raise SubscriptionClosed(self.channel)
            self._readable.clear()
            await self._readable.wait()
        message = self._items.popleft()
        if self._pending_gap is not None:  # the slot just freed is the earliest place the gap can be told
            self._append(self._pending_gap)
            self._pending_gap = None
        return message

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        try:
            return await self.get()
        except SubscriptionClosed:
            raise StopAsyncIteration from None

    def _append(self, message: Message) -> None:
        self._items.append(message)
        self._readable.set()

    def _add_gap(self, reason: str, dropped: int | None) -> None:
        if self._items and is_gap(self._items[-1]):  # markers in the queue are our own dicts: safe to update
            merge_gap(self._items[-1], reason, dropped)
        elif self._pending_gap is not None:
            merge_gap(self._pending_gap, reason, dropped)
        elif len(self._items) < self.max_queued:
            self._append(gap_marker(reason, dropped))
        else:
            self._pending_gap = gap_marker(reason, dropped)


def merge_gap(gap: Message, reason: str, dropped: int | None) -> None:
    """Count another loss in an existing marker (reasons joined; an unknown count makes the sum unknown)."""
    if reason not in gap["reason"]:
        gap["reason"] = f"{gap['reason']}; {reason}"
    gap["dropped"] = None if gap["dropped"] is None or dropped is None else gap["dropped"] + dropped


class Listener(Subscription):
    """A subscriber that is a function: the fan-out calls it with each message (gap markers included).

    For process-wide reactions that must not hold a task or a queue of their own, such as dropping cached
    credentials when access changes. The callback runs on the fan-out task, so it must be quick and must not
    block; it may schedule work. Nothing is ever queued, so a listener cannot fall behind.
    """

    def __init__(self, channel: str, callback: Callable[[Message], None]) -> None:
        super().__init__(channel, 1)
        self._callback = callback

    def deliver(self, message: Message) -> None:
        if self._closed:
            return
        try:
            self._callback(message)
        except Exception:  # a failing listener must not stop delivery to the channel's other subscribers
            log.exception("realtime listener on channel %r failed", self.channel)
