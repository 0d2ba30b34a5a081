"""One subscriber of a shared feed: its frames written from the feed's own task, without waking the subscriber.

Measured with benchmarks/api_fanout.py (1,000 subscribers, 2 cores): when each member's own operation task
took every shared frame from a queue and wrote it, one progress message cost the server ~35 µs per subscriber,
the socket write the larger half, and waking the task and resuming its await chain (strawberry's operation,
graphql-core's iterator, the run feed) most of the rest. So the feed's task writes the frame itself. A WebSocket
send completes without suspending while the socket takes data (uvicorn's send awaits only a set `writable`
event), so it is run eagerly, up to its first real suspension; only a socket that pushes back gets a task that
finishes that send and then writes what queued behind it. asyncio's eager tasks do this from Python 3.12
(`asyncio.eager_task_factory`); Benchlab runs on 3.11, hence `_write_eagerly` and `_finish`.

The subscriber's own task is woken only for what it must handle itself (`attention`): a gap (it re-reads the
state), the final message (it ends), the end marker. Each reaches it after every frame offered before it was
written, and from then until `release()` new frames wait (`_held`), so a re-read snapshot is never overtaken
by newer live frames and `complete` always follows the last frame. The backlog is bounded: a socket that does
not read loses frames and later reads a gap counting them, where they went missing; with `supersedes`
(progress: cumulative state) a waiting frame is replaced by a newer one instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from strawberry.http.exceptions import WebSocketDisconnected

from benchlab.realtime.subscription import OVERFLOW_REASON, Message, Subscription, Weigh, gap_marker, is_gap, merge_gap

log = logging.getLogger(__name__)

WRITE_FAILED = "the server could not write a message to this subscription; re-read the current state"
PAYLOAD = "_sharedPayload"  # key of the executed, encoded result in the items a feed hands its members
Send = Callable[[Message], Coroutine[Any, Any, None]]  # writes the `next` frame of an item with PAYLOAD
ToRoot = Callable[[Message], object | None]  # hub message -> root value to execute on; None: nothing to send


def _never(message: Message) -> bool:
    return False


@dataclass(frozen=True)
class FeedKind:
    """What a feed's messages mean: how to execute one, what a lost one counts as, which one is the last."""

    to_root: ToRoot
    weigh: Weigh | None = None
    is_final: Callable[[Message], bool] = _never
    supersedes: bool = False  # a newer message makes a waiting one useless (cumulative state)


class FeedMember:
    """Frames of one subscriber: written at once while its socket takes them, else queued (bounded)."""

    def __init__(self, channel: str, send: Send, max_queued: int, kind: FeedKind) -> None:
        self.attention = Subscription(channel, max_queued, kind.weigh)
        self._send = send
        self._max_queued = max_queued
        self._kind = kind
        self._backlog: deque[Message] = deque()
        self._writing: asyncio.Task[None] | None = None
        self._held = True  # until the subscriber has sent its own first state (`release`)

    def offer(self, item: Message) -> None:
        """Called by the feed's task with every item (a message with PAYLOAD, a gap, an end marker); never waits."""
        if self.attention.closed:
            return
        if self._held or self._writing is not None or self._backlog:
            self._queue(item)
        elif _needs_attention(item):
            self._hold(item)
        else:
            self._write_eagerly(item)

    def release(self) -> None:
        """The subscriber has handled its attention item: write what waited meanwhile."""
        self._held = False
        if self._backlog and self._writing is None:
            self._writing = asyncio.create_task(self._write_backlog(), name="feed-member-backlog")

    def close(self) -> None:
        self.attention.close()
        self._backlog.clear()
        if self._writing is not None:
            self._writing.cancel()

    def _hold(self, item: Message) -> None:
        self._held = True
        self.attention.deliver(item)

    def _written(self, item: Message) -> None:
        if self._kind.is_final(item):
            self._hold(item)

    def _queue(self, item: Message) -> None:
        backlog = self._backlog
        if is_gap(item):
            dropped = item.get("dropped")
            self._add_gap(str(item.get("reason") or "messages may be missing"),
                          dropped if isinstance(dropped, int) and not isinstance(dropped, bool) else None)
        elif self._kind.supersedes and backlog and self._supersedable(backlog[-1]) and self._supersedable(item):
            backlog[-1] = item
        elif len(backlog) < self._max_queued:
            backlog.append(item)
        else:
            self._add_gap(OVERFLOW_REASON, 1 if self._kind.weigh is None else self._kind.weigh(item))

    def _supersedable(self, item: Message) -> bool:
        return not _needs_attention(item) and not self._kind.is_final(item)

    def _add_gap(self, reason: str, dropped: int | None) -> None:
        if self._backlog and is_gap(self._backlog[-1]):
            merge_gap(self._backlog[-1], reason, dropped)
        else:
            self._backlog.append(gap_marker(reason, dropped))

    def _failed(self, exc: Exception) -> None:
        """A frame could not be written. A vanished socket ends the subscription through its connection's
        handler; anything else is logged, and the subscriber re-reads the state instead of missing frames."""
        self._backlog.clear()
        if self._writing is not None and asyncio.current_task() is self._writing:
            self._writing = None
        if isinstance(exc, WebSocketDisconnected | OSError):
            log.debug("a shared frame could not be written: the socket is gone (%s)", exc)
            return
        log.warning("a shared frame could not be written to a subscriber", exc_info=exc)
        self._hold(gap_marker(WRITE_FAILED, None))

    def _write_eagerly(self, item: Message) -> None:
        coroutine = self._send(item)
        try:
            waiting = coroutine.send(None)
        except StopIteration:
            self._written(item)
            return
        except Exception as exc:
            self._failed(exc)
            return
        self._writing = asyncio.create_task(self._finish(item, coroutine, waiting), name="feed-member-write")

    async def _finish(self, item: Message, coroutine: Coroutine[Any, Any, None], waiting: Any) -> None:
        """Drive a send that suspended, as a Task would (wait for what it waits on, resume it), then the backlog."""
        try:
            while True:
                if waiting is None:  # a bare yield (asyncio.sleep(0))
                    await asyncio.sleep(0)
                else:  # the asyncio future the send yielded: take it over as a Task's step does
                    waiting._asyncio_future_blocking = False
                    await waiting
                try:
                    waiting = coroutine.send(None)
                except StopIteration:
                    break
        except Exception as exc:
            self._failed(exc)
            return
        finally:
            coroutine.close()  # a no-op once finished; on cancellation the send is abandoned with its socket
        self._written(item)
        await self._write_backlog()

    async def _write_backlog(self) -> None:
        try:
            while self._backlog and not self._held:
                item = self._backlog.popleft()
                if _needs_attention(item):
                    self._hold(item)
                    break
                await self._send(item)
                self._written(item)
        except Exception as exc:
            self._failed(exc)
        finally:
            if asyncio.current_task() is self._writing:
                self._writing = None


def _needs_attention(item: Message) -> bool:
    """A gap, or a message with nothing to send (the end marker): the subscriber's own task handles it."""
    return is_gap(item) or PAYLOAD not in item
