"""A shared feed's member (api/feed_member.py): frames written in order from the feed's task, the subscriber's
own task woken only for gaps, the final message and the end marker, each after everything before it."""

from __future__ import annotations

import asyncio
from typing import Any

from benchlab.api.feed_member import PAYLOAD, FeedKind, FeedMember
from benchlab.realtime.subscription import gap_marker, is_gap


class Socket:
    """A send that completes at once while `open`, and waits (as uvicorn's does on a full socket) while not."""

    def __init__(self) -> None:
        self.frames: list[int] = []
        self.writable = asyncio.Event()
        self.writable.set()
        self.tasks_at_send: list[asyncio.Task[Any] | None] = []

    async def send(self, item: dict[str, Any]) -> None:
        await self.writable.wait()
        self.tasks_at_send.append(asyncio.current_task())
        self.frames.append(item["n"])


def item(n: int, **extra: Any) -> dict[str, Any]:
    return {"n": n, PAYLOAD: f'{{"n":{n}}}', **extra}


def member(socket: Socket, max_queued: int = 4, **kind: Any) -> FeedMember:
    released = FeedMember("c", socket.send, max_queued, FeedKind(lambda m: m, **kind))
    released.release()  # the subscriber's own snapshot is out
    return released


async def test_frames_are_written_from_the_feeds_own_task_without_waking_anyone() -> None:
    socket = Socket()
    m = member(socket)
    m.offer(item(1))
    m.offer(item(2))
    assert socket.frames == [1, 2]  # written inside offer(), synchronously
    assert socket.tasks_at_send == [asyncio.current_task()] * 2
    assert m.attention.qsize() == 0


async def test_nothing_is_written_before_the_subscriber_released_its_snapshot() -> None:
    socket = Socket()
    m = FeedMember("c", socket.send, 4, FeedKind(lambda x: x))
    m.offer(item(1))
    assert socket.frames == []
    m.release()
    await asyncio.sleep(0.01)
    assert socket.frames == [1]


async def test_a_socket_that_pushes_back_gets_its_frames_later_in_order() -> None:
    socket = Socket()
    m = member(socket, max_queued=10)
    socket.writable.clear()
    for n in range(1, 6):
        m.offer(item(n))
    assert socket.frames == []
    socket.writable.set()
    await asyncio.sleep(0.01)
    assert socket.frames == [1, 2, 3, 4, 5]
    m.offer(item(6))  # idle again: written at once
    assert socket.frames[-1] == 6


async def test_overflow_is_a_gap_told_after_the_frames_before_it_counting_what_was_lost() -> None:
    socket = Socket()
    m = member(socket, max_queued=3, weigh=lambda msg: 10)
    socket.writable.clear()
    for n in range(1, 9):  # 1 in flight, 2..4 queued, 5..8 lost
        m.offer(item(n))
    socket.writable.set()
    gap = await asyncio.wait_for(m.attention.get(), 1)
    assert is_gap(gap) and gap["dropped"] == 40
    assert socket.frames == [1, 2, 3, 4]
    m.offer(item(9))  # held until the subscriber has re-read the state
    await asyncio.sleep(0.01)
    assert socket.frames == [1, 2, 3, 4]
    m.release()
    await asyncio.sleep(0.01)
    assert socket.frames == [1, 2, 3, 4, 9]


async def test_progress_waiting_behind_a_slow_socket_is_superseded_by_newer_progress() -> None:
    socket = Socket()
    m = member(socket, max_queued=2, supersedes=True, is_final=lambda msg: msg.get("final", False))
    socket.writable.clear()
    for n in range(1, 7):
        m.offer(item(n))
    m.offer(item(7, final=True))
    socket.writable.set()
    final = await asyncio.wait_for(m.attention.get(), 1)
    assert final["n"] == 7 and socket.frames == [1, 6, 7]  # never a gap: stale progress is worthless


async def test_the_final_message_and_the_end_marker_reach_the_subscriber_after_their_frames() -> None:
    socket = Socket()
    m = member(socket, is_final=lambda msg: msg.get("final", False))
    socket.writable.clear()
    m.offer(item(1))
    m.offer(item(2, final=True))
    assert m.attention.qsize() == 0
    socket.writable.set()
    assert (await asyncio.wait_for(m.attention.get(), 1))["n"] == 2 and socket.frames == [1, 2]

    ended = Socket()
    e = member(ended)
    ended.writable.clear()
    e.offer(item(1))
    e.offer({"type": "end"})
    assert e.attention.qsize() == 0
    ended.writable.set()
    assert (await asyncio.wait_for(e.attention.get(), 1)) == {"type": "end"} and ended.frames == [1]


async def test_a_gap_from_the_hub_keeps_its_place_and_a_failed_write_becomes_a_gap() -> None:
    socket = Socket()
    m = member(socket)
    socket.writable.clear()
    m.offer(item(1))
    m.offer(gap_marker("redis restarted", None))
    socket.writable.set()
    gap = await asyncio.wait_for(m.attention.get(), 1)
    assert gap["reason"] == "redis restarted" and socket.frames == [1]

    async def broken(message: dict[str, Any]) -> None:
        raise ValueError("cannot encode")

    b = FeedMember("c", broken, 4, FeedKind(lambda x: x))
    b.release()
    b.offer(item(1))
    lost = await asyncio.wait_for(b.attention.get(), 1)
    assert is_gap(lost) and "could not write" in lost["reason"]


async def test_closing_a_member_abandons_its_pending_write() -> None:
    socket = Socket()
    m = member(socket)
    socket.writable.clear()
    m.offer(item(1))
    m.offer(item(2))
    m.close()
    socket.writable.set()
    await asyncio.sleep(0.01)
    m.offer(item(3))
    assert socket.frames == []
