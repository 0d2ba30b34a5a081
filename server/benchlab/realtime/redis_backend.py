"""A broadcaster backend on `redis.asyncio` pub/sub that survives Redis restarts.

broadcaster 0.3.1's own Redis backend delivers nothing with redis-py 8 and hangs forever after a Redis
restart (observed with redis 8.1.0). This one keeps the set of wanted channels itself and runs
one supervised pub/sub session at a time: when the connection drops it tells every affected channel
(a `gap` marker: messages may be missing), reconnects with capped exponential backoff, SUBSCRIBEs to every
wanted channel again and sends a second marker, since whatever was published in between is gone.

The listening connection has redis-py's retries turned off on purpose: a silent internal reconnect would
resubscribe without anyone learning that messages were lost. Publishing uses its own client, with a short
retry (a pooled connection may be stale after a restart) inside a hard time limit, so a publisher sees a
clear `RealtimeUnavailableError` quickly during an outage instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable
from typing import Any

import redis.asyncio as aioredis
from broadcaster import Event
from broadcaster._backends.base import BroadcastBackend
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff

from benchlab.errors import BenchlabError
from benchlab.realtime.subscription import gap_marker

log = logging.getLogger(__name__)

CONNECTION_LOST = "realtime connection to redis lost; messages may be missing"
RESUBSCRIBED = "realtime connection to redis restored; messages published while it was down are missing"
GAP_CONNECTION_LOST = json.dumps(gap_marker(CONNECTION_LOST, None))
GAP_RESUBSCRIBED = json.dumps(gap_marker(RESUBSCRIBED, None))

_FIRST_BACKOFF_S = 0.1
_MAX_BACKOFF_S = 5.0
_POLL_S = 1.0  # each idle poll lets redis-py's health check PING a silent (half-open) connection
_HEALTH_CHECK_INTERVAL_S = 10
_CONNECTION_ERRORS = (aioredis.ConnectionError, aioredis.TimeoutError, OSError, TimeoutError)


class RealtimeUnavailableError(BenchlabError):
    """Redis did not take a publish or ping in time; the message is safe to show (it carries no URL)."""


class ResilientRedisBackend(BroadcastBackend):
    def __init__(self, url: str, *, timeout_s: float = 2.0, max_pending: int = 1024) -> None:
        self._url = url
        self._timeout_s = timeout_s
        self._channels: set[str] = set()
        self._events: asyncio.Queue[Event] = asyncio.Queue(maxsize=max_pending)
        self._publisher: aioredis.Redis | None = None
        self._listener: aioredis.Redis | None = None
        self._pubsub: PubSub | None = None  # the live session's, None while disconnected
        self._confirmations: dict[str, asyncio.Future[None]] = {}
        self._live = asyncio.Event()
        self._in_outage = False
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._channels)

    async def connect(self) -> None:
        common: dict[str, Any] = {"socket_connect_timeout": self._timeout_s, "socket_timeout": self._timeout_s,
                                  "socket_keepalive": True}
        self._publisher = aioredis.from_url(self._url, retry=Retry(ExponentialBackoff(cap=0.2, base=0.02), 2),
                                            **common)
        self._listener = aioredis.from_url(self._url, retry=Retry(NoBackoff(), 0),
                                           health_check_interval=_HEALTH_CHECK_INTERVAL_S, **common)
        try:
            await self.ping()
            self._supervisor = asyncio.create_task(self._supervise(), name="redis-pubsub-supervisor")
            try:
                async with asyncio.timeout(self._timeout_s):
                    await self._live.wait()
            except TimeoutError:
                raise RealtimeUnavailableError(
                    f"redis pub/sub connection not ready within {self._timeout_s:g}s") from None
        except BaseException:
            await self.disconnect()  # no half-open clients or orphan supervisor after a failed start
            raise

    async def disconnect(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        for client in (self._publisher, self._listener):
            if client is not None:
                await client.aclose()
        self._publisher = self._listener = None

    async def subscribe(self, channel: str) -> None:
        """Return once Redis confirmed the SUBSCRIBE, so a message published after this call is delivered.

        During an outage the channel is only recorded (the next session subscribes to it) and its
        subscribers get a gap marker at once; a SUBSCRIBE that fails or times out is left to the session
        supervisor, which marks the gap and resubscribes.
        """
        self._channels.add(channel)
        pubsub = self._pubsub
        if pubsub is None:
            await self._events.put(Event(channel, GAP_CONNECTION_LOST))
            return
        confirmed = asyncio.get_running_loop().create_future()
        self._confirmations[channel] = confirmed
        try:
            async with asyncio.timeout(self._timeout_s):
                await pubsub.subscribe(channel)
                await confirmed
        except _CONNECTION_ERRORS as exc:
            log.warning("SUBSCRIBE %r not confirmed (%s); the pub/sub supervisor takes over", channel, _why(exc))
        finally:
            self._confirmations.pop(channel, None)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        pubsub = self._pubsub
        if pubsub is None:
            return  # the next session will not subscribe to it
        try:
            async with asyncio.timeout(self._timeout_s):
                await pubsub.unsubscribe(channel)
        except _CONNECTION_ERRORS as exc:
            log.warning("UNSUBSCRIBE %r failed (%s); the next session will not include it", channel, _why(exc))

    async def publish(self, channel: str, message: Any) -> None:
        assert self._publisher is not None, "connect() first"
        await self._bounded(self._publisher.publish(channel, message), f"publish to {channel!r}")

    async def ping(self) -> None:
        assert self._publisher is not None, "connect() first"
        await self._bounded(self._publisher.ping(), "ping")

    async def next_published(self) -> Event:
        return await self._events.get()

    async def _bounded(self, command: Awaitable[object], what: str) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                await command
        except TimeoutError:
            raise RealtimeUnavailableError(f"redis {what} got no answer within {self._timeout_s:g}s") from None
        except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
            raise RealtimeUnavailableError(f"redis {what} failed: {_why(exc)}") from None

    async def _supervise(self) -> None:
        backoff = _FIRST_BACKOFF_S
        while True:
            assert self._listener is not None
            pubsub = self._listener.pubsub()
            try:
                await pubsub.connect()
                self._pubsub = pubsub  # from here on subscribe()/unsubscribe() talk to this session directly
                if self._channels:
                    await pubsub.subscribe(*self._channels)
                if self._in_outage:
                    log.info("redis pub/sub reconnected; resubscribed to %d channel(s)", len(self._channels))
                    await self._mark_gap(GAP_RESUBSCRIBED)
                    self._in_outage = False
                self._live.set()
                backoff = _FIRST_BACKOFF_S
                await self._read(pubsub)
            except _CONNECTION_ERRORS as exc:
                await self._lost(_why(exc))
            except Exception:  # a bug or an unexpected reply must not end realtime delivery for good
                log.exception("redis pub/sub session failed")
                await self._lost("unexpected error")
            finally:
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_S)

    async def _read(self, pubsub: PubSub) -> None:
        while True:
            message = await pubsub.get_message(timeout=_POLL_S)
            if message is None:
                continue
            if message["type"] == "message":
                await self._events.put(Event(_text(message["channel"]), _text(message["data"])))
            elif message["type"] == "subscribe":
                confirmed = self._confirmations.get(_text(message["channel"]))
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)

    async def _lost(self, why: str) -> None:
        self._live.clear()
        for confirmed in self._confirmations.values():  # nobody waits out a timeout for a dead session
            if not confirmed.done():
                confirmed.set_result(None)
        if self._in_outage:
            return  # one marker per outage, not one per failed reconnect attempt
        self._in_outage = True
        log.warning("redis pub/sub connection lost (%s); reconnecting", why)
        await self._mark_gap(GAP_CONNECTION_LOST)

    async def _mark_gap(self, marker: str) -> None:
        for channel in list(self._channels):
            await self._events.put(Event(channel, marker))


def _why(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value
