"""A minimal HTTP/1.1 client for timing: bytes are stamped in `data_received`, the send right after the write.

General-purpose clients cost ~1 ms of CPU per request on these machines (httpx measured here), which at
concurrency becomes send lag, and they hand the body over after their own buffering. This client is an
`asyncio.Protocol` over a pool of kept-alive connections, with h11 for the protocol details (chunked bodies,
keep-alive rules): the loop calls `data_received` as soon as bytes are read from the socket, and that moment
is the timestamp every event carried by those bytes gets. The send is stamped as the request bytes are handed
to the socket.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import h11

_EOF = object()


class ConnectionLost(Exception):
    """The server closed the connection before the response was complete."""


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.h11 = h11.Connection(h11.CLIENT)
        self.transport: asyncio.Transport | None = None
        self._events: collections.deque[tuple[int, object]] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses

    def data_received(self, data: bytes) -> None:
        t_ns = time.perf_counter_ns()
        self.h11.receive_data(data)
        self._drain(t_ns)

    def eof_received(self) -> bool:
        self.h11.receive_data(b"")
        self._drain(time.perf_counter_ns())
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._events.append((time.perf_counter_ns(), _EOF))
        self._wake()

    def _drain(self, t_ns: int) -> None:
        while True:
            event: object
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError:
                event = _EOF
            if event is h11.NEED_DATA or event is h11.PAUSED:
                break
            self._events.append((t_ns, event))
            if event is _EOF or isinstance(event, h11.ConnectionClosed):
                break
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def next_event(self) -> tuple[int, object]:
        while not self._events:
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter
        return self._events.popleft()

    def send(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> int:
        """Write the whole request in one call; returns the perf_counter_ns stamp of the write.

        The stamp is taken as the bytes are handed to the kernel. On loopback the kernel delivers them and
        wakes the server inside the write call, which can keep this process off the CPU for a while (0.1-1 ms
        measured on 2 cores); a stamp after the call would move the send later than the server's arrival.
        """
        assert self.transport is not None
        data = (self.h11.send(h11.Request(method=method, target=target, headers=headers))
                + self.h11.send(h11.Data(data=body)) + self.h11.send(h11.EndOfMessage()))
        sent_ns = time.perf_counter_ns()
        self.transport.write(data)
        return sent_ns

    def reusable(self) -> bool:
        if self.closed or self.h11.our_state is not h11.DONE or self.h11.their_state is not h11.DONE:
            return False
        self.h11.start_next_cycle()
        return True

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    send_ns: int
    new_connection: bool
    _connection: _Connection = field(repr=False)
    _pool: ConnectionPool = field(repr=False)
    _done: bool = False

    async def body_chunks(self) -> AsyncIterator[tuple[int, bytes]]:
        """Body bytes with the time they arrived; raises ConnectionLost if the server drops the connection."""
        while True:
            t_ns, event = await self._connection.next_event()
            if isinstance(event, h11.Data):
                yield t_ns, bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._done = True
                return
            else:
                raise ConnectionLost("the server closed the connection mid-response")

    async def read(self) -> bytes:
        return b"".join([chunk async for _, chunk in self.body_chunks()])

    def release(self) -> None:
        """Return the connection to the pool if the response was read to the end, else close it."""
        if self._done and self._connection.reusable():
            self._pool.put_back(self._connection)
        else:
            self._connection.close()
            self._pool.forget()


class ConnectionPool:
    """Kept-alive connections to one origin, at most `max_connections` at a time."""

    def __init__(self, base_url: str, max_connections: int, connect_timeout_s: float = 10.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme in {base_url!r}")
        self.scheme = parts.scheme
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.authority = parts.netloc.rsplit("@", 1)[-1]
        self.base_path = parts.path.rstrip("/")
        self.connect_timeout_s = connect_timeout_s
        self._slots = asyncio.Semaphore(max_connections)
        self._idle: list[_Connection] = []
        self._open = 0

    async def request(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes) -> Response:
        """Send a request and wait for the response head; the caller reads the body, then `release()`s."""
        await self._slots.acquire()
        connection: _Connection | None = None
        try:
            connection, new = await self._connection()
            send_ns = connection.send(method, self.base_path + path,
                                      [("Host", self.authority), ("Content-Length", str(len(body))), *headers], body)
            while True:
                _, event = await connection.next_event()
                if isinstance(event, h11.Response):
                    break
                if not isinstance(event, h11.InformationalResponse):
                    raise ConnectionLost("the server closed the connection before answering")
        except BaseException:
            if connection is not None:
                connection.close()
                self._open -= 1
            self._slots.release()
            raise
        headers_out = {k.decode().lower(): v.decode("latin-1") for k, v in event.headers}
        return Response(event.status_code, headers_out, send_ns, new, connection, self)

    async def _connection(self) -> tuple[_Connection, bool]:
        while self._idle:
            connection = self._idle.pop()
            if not connection.closed:
                return connection, False
            self._open -= 1
        loop = asyncio.get_running_loop()
        _, connection = await asyncio.wait_for(
            loop.create_connection(_Connection, self.host, self.port, ssl=self.scheme == "https" or None),
            self.connect_timeout_s)
        self._open += 1
        return connection, True

    def put_back(self, connection: _Connection) -> None:
        self._idle.append(connection)
        self._slots.release()

    def forget(self) -> None:
        self._open -= 1
        self._slots.release()

    async def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
