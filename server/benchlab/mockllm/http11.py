"""The HTTP/1.1 side of the mock server: one `Connection` per client, request parsing and response heads.

It exists apart from the server so the wire protocol (Content-Length bodies, keep-alive, pipelining, one
request at a time per connection) stays separate from what is answered; see server.py for why the server
speaks HTTP on asyncio protocols itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Callable, Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING, cast

from benchlab.mockllm.pacer import monotonic_ns
from benchlab.mockllm.wire import error_body

if TYPE_CHECKING:
    from benchlab.mockllm.server import MockLLMServer

MAX_HEAD_BYTES = 64 * 1024


@dataclasses.dataclass(slots=True)
class Request:
    """One parsed HTTP request and when it was read (time.monotonic_ns)."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    keep_alive: bool
    first_byte_ns: int
    arrival_ns: int


class _BadHttp(Exception):
    """The bytes are not an HTTP/1.1 request we serve; answered once, then the connection closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


_PHRASES = {**{status.value: status.phrase for status in HTTPStatus}, 529: "Site Overloaded"}  # 529: Anthropic's


def http_head(status: int, headers: Sequence[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_PHRASES[status]}", *(f"{k}: {v}" for k, v in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def json_response(status: int, body: bytes, headers: Sequence[tuple[str, str]]) -> bytes:
    head = [("content-type", "application/json"), ("content-length", str(len(body))), *headers]
    return http_head(status, head) + body


class Connection(asyncio.Protocol):
    """One client connection: reads requests, hands them to the server one at a time, writes what it's given."""

    def __init__(self, server: MockLLMServer, connection_id: int) -> None:
        self.server = server
        self.id = connection_id
        self.requests = 0
        self.closed = False
        self.on_close: Callable[[], None] | None = None  # the response in progress, told if the client leaves
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._first_byte_ns = self._read_ns = 0
        self._busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._read_ns = monotonic_ns()
        if not self._buffer:
            self._first_byte_ns = self._read_ns
        self._buffer += data
        self._serve_next()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.on_close is not None:
            self.on_close()

    def write(self, data: bytes) -> bool:
        """Write at once; False when the kernel did not take it all (the rest waits in the transport)."""
        assert self._transport is not None
        self._transport.write(data)
        return self._transport.get_write_buffer_size() == 0

    def abort(self) -> None:
        assert self._transport is not None
        self._transport.abort()

    def end_response(self, keep_alive: bool) -> None:
        self.on_close = None
        self._busy = False
        if self.closed:
            return
        if not keep_alive:
            assert self._transport is not None
            self._transport.close()
        elif self._buffer:
            self.server.loop.call_soon(self._serve_next)

    def _serve_next(self) -> None:
        while not self._busy and not self.closed:
            try:
                request = self._parse()
            except _BadHttp as exc:
                self._busy = True
                body = error_body(str(exc), "invalid_request_error")
                self.write(json_response(exc.status, body, [("connection", "close")]))
                self.end_response(keep_alive=False)
                return
            if request is None:
                return
            self._busy = True
            self.requests += 1
            self.server.handle(self, request)

    def _parse(self) -> Request | None:
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise _BadHttp(431, "request head too large")
            return None
        lines = self._buffer[:head_end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadHttp(400, "malformed request line")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise _BadHttp(411, "send the body with Content-Length; chunked request bodies are not supported")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise _BadHttp(400, "bad Content-Length") from None
        end = head_end + 4 + length
        if len(self._buffer) < end:
            return None
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection if parts[2] == "HTTP/1.1" else "keep-alive" in connection
        request = Request(parts[0], parts[1].split("?", 1)[0], headers, bytes(self._buffer[head_end + 4:end]),
                          keep_alive, self._first_byte_ns, self._read_ns)
        del self._buffer[:end]
        self._first_byte_ns = self._read_ns  # a pipelined next request was read with this one
        return request


def response_headers(request: Request, request_id: str | None) -> list[tuple[str, str]]:
    headers = [("server", "benchlab-mockllm")]
    if request_id is not None:
        headers.append(("x-request-id", request_id))
    if not request.keep_alive:
        headers.append(("connection", "close"))
    return headers
