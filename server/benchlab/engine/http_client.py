"""A minimal HTTP/1.1 client for timing: bytes are stamped in `data_received`, the send as it is written.

Why hand-written: general-purpose clients cost ~1 ms of CPU per request on these machines (httpx measured
here), which at concurrency becomes send lag, and they hand the body over after their own buffering. This
client is an `asyncio.Protocol` over a pool of kept-alive connections: the loop calls `data_received` as soon
as bytes are read from the socket, and that moment is the timestamp every event carried by those bytes gets.
The body is handed to the reader's callback right there, with that stamp, so no coroutine wakes per chunk;
the reader awaits only the response head and the body's end. The send is stamped as the request bytes are
handed to the socket.

Why httptools: the protocol details (chunked bodies, Content-Length, keep-alive rules, 1xx responses) are
llhttp's, the C parser uvicorn and aiohttp use, through httptools. They were h11's until issue 15, measured at
64 streams x ~6,200 SSE events/s against the mock (benchmarks/client_cpu.py, medians of 6 rounds): h11's
pure-Python state machine cost 6.7 us per event (llhttp 0.2 us) and waking the reading coroutine per chunk
another ~4 us, so the client used 47 us of CPU per event (0.30 core) where a minimal aiohttp client used 37;
with llhttp and the body handed over in `data_received`, 25 us (0.15 core) against aiohttp's 35.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import urlsplit

import httptools

BodySink = Callable[[int, bytes], None]  # (perf_counter_ns when the bytes arrived, the bytes)


class ConnectionLost(Exception):
    """The server closed the connection before the response was complete."""


class ProtocolError(ConnectionLost):
    """The server's bytes are not a valid HTTP/1.1 response; the connection is closed."""


class _Connection(asyncio.Protocol):
    """One kept-alive connection with at most one request in flight; llhttp calls the `on_*` methods."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None
        self._arrived_ns = 0
        self._start_response()

    def _start_response(self) -> None:
        self.in_flight = False
        self.status = 0
        self.headers: dict[str, str] = {}
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.failure: BaseException | None = None
        self._until_eof = False  # no Content-Length and not chunked: the body ends with the connection
        self._body: list[tuple[int, bytes]] = []  # arrived, not yet handed to the sink
        self._sink: BodySink | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses

    def data_received(self, data: bytes) -> None:
        self._arrived_ns = time.perf_counter_ns()
        if not self.in_flight:
            self.close()  # bytes nobody asked for: the connection cannot be trusted
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolError("malformed HTTP response: a protocol switch nobody asked for"))
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(f"malformed HTTP response: {exc}"))
        if self._sink is not None and self._body:
            self._deliver()
        # Wake the reader only for what it waits for: the head (before it has a sink), the end, a failure.
        if self.complete or self.failure is not None or (self.head_done and self._sink is None):
            self._wake()

    def eof_received(self) -> bool:
        if self.in_flight and self.head_done and self._until_eof:
            self.complete, self.in_flight = True, False
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.in_flight and self.failure is None:
            where = "mid-response" if self.head_done else "before answering"
            self.failure = ConnectionLost(f"the server closed the connection {where}")
        self._wake()

    # httptools callbacks

    def on_message_begin(self) -> None:
        if not self.in_flight:  # a second response after the one we asked for
            self.keep_alive = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self.headers = {}  # informational (100 Continue, 103 Early Hints): the real response follows
            return
        self.status, self.head_done = status, True
        self._until_eof = ("content-length" not in self.headers and status not in (204, 304)
                           and "chunked" not in self.headers.get("transfer-encoding", "").lower())

    def on_body(self, body: bytes) -> None:
        self._body.append((self._arrived_ns, body))

    def on_message_complete(self) -> None:
        if self.head_done and self.in_flight:
            self.keep_alive = self.parser.should_keep_alive()
            self.complete, self.in_flight = True, False

    # the request's side

    def send(self, method: str, target: str, headers: list[tuple[str, str]], body: bytes) -> int:
        """Write the whole request in one call; returns the perf_counter_ns stamp of the write.

        The stamp is taken as the bytes are handed to the kernel. On loopback the kernel delivers them and
        wakes the server inside the write call, which can keep this process off the CPU for a while (0.1-1 ms
        measured on 2 cores); a stamp after the call would move the send later than the server's arrival.
        """
        assert self.transport is not None
        lines = [f"{method} {target} HTTP/1.1"]
        for name, value in headers:
            if "\r" in name or "\n" in name or ":" in name or "\r" in value or "\n" in value:
                raise ValueError(f"invalid HTTP header {name!r}")  # no request smuggling through a header
            lines.append(f"{name}: {value}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        self._start_response()
        self.in_flight = True
        sent_ns = time.perf_counter_ns()
        self.transport.write(data)
        return sent_ns

    async def read_head(self) -> None:
        """Wait for the final response's head (1xx responses are skipped)."""
        while not self.head_done:
            if self.failure is not None:
                raise self.failure
            await self._wait()

    async def read_body(self, sink: BodySink) -> None:
        """Hand every body chunk to `sink` (from `data_received`, as it arrives) until the body is complete."""
        self._sink = sink
        try:
            self._deliver()  # what arrived with the head, or before the reader asked
            while True:
                if self.failure is not None:
                    raise self.failure
                if self.complete:
                    return
                await self._wait()
        finally:
            self._sink = None

    def _deliver(self) -> None:
        assert self._sink is not None
        body, self._body = self._body, []
        try:
            for arrived_ns, chunk in body:
                self._sink(arrived_ns, chunk)
        except Exception as exc:  # the reader's own error (e.g. a payload that is not JSON): raised by read_body
            self._fail(exc)

    def _fail(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = exc
        self._sink = None
        self.close()

    async def _wait(self) -> None:
        self._waiter = asyncio.get_running_loop().create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def reusable(self) -> bool:
        return not self.closed and self.complete and self.keep_alive and self.failure is None

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

    async def stream(self, sink: BodySink) -> None:
        """Hand the body to `sink` chunk by chunk, each with the time its bytes arrived, as they arrive (the sink
        runs inside `data_received`: keep it short); returns once the body is complete. Raises ConnectionLost if
        the server drops the connection first, or what the sink raised."""
        await self._connection.read_body(sink)
        self._done = True

    async def read(self) -> bytes:
        chunks: list[bytes] = []
        await self.stream(lambda _, chunk: chunks.append(chunk))
        return b"".join(chunks)

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
            await connection.read_head()
        except BaseException:
            if connection is not None:
                connection.close()
                self._open -= 1
            self._slots.release()
            raise
        return Response(connection.status, connection.headers, send_ns, new, connection, self)

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
