"""The timing client's HTTP/1.1 layer (engine/http_client.py) against real local sockets.

Responses are cut at every byte, heads come in pieces, bodies are chunked, Content-Length or ended by the
connection, 1xx responses precede the answer, connections are kept alive or not, lost mid-response, or
answered with bytes that are not HTTP. The server is an asyncio server in the test's own event loop that writes
scripted parts with a pause between them, so the client reads each part before the next is written, and the
client's arrival stamps can be held against the server's write times (one clock, one process).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from types import TracebackType

import pytest

from benchlab.engine.http_client import ConnectionLost, ConnectionPool, ProtocolError, Response
from benchlab.engine.response import ErrorType
from benchlab.engine.transport_direct import DirectTransport, LLMRequest

Script = Callable[["ScriptedServer", bytes, asyncio.StreamWriter], Awaitable[None]]
REQUEST = LLMRequest("m", messages=[{"role": "user", "content": "hi"}])


class ScriptedServer:
    """Answers each request by its script; counts connections and stamps every part it writes."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.connections = 0
        self.requests: list[bytes] = []
        self.writes_ns: list[int] = []
        self.url = ""
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}/v1"
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def write(self, writer: asyncio.StreamWriter, *parts: bytes, close: bool = False) -> None:
        for part in parts:
            self.writes_ns.append(time.perf_counter_ns())
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(0.002)  # the client's read of this part runs now, before the next write
        if close:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while not writer.is_closing():
                head = await reader.readuntil(b"\r\n\r\n")
                match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                request = head + await reader.readexactly(int(match[1]) if match else 0)
                self.requests.append(request)
                await self.script(self, request, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def chunked(*pieces: bytes, headers: bytes = b"Content-Type: text/event-stream\r\n") -> bytes:
    return (b"HTTP/1.1 200 OK\r\n" + headers + b"Transfer-Encoding: chunked\r\n\r\n"
            + b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n")


def sized(body: bytes, status: bytes = b"200 OK", headers: bytes = b"") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n%s" % (status, len(body), headers, body)


async def fetch(pool: ConnectionPool) -> tuple[Response, list[tuple[int, bytes]]]:
    """POST, read the body piece by piece with the stamps the client gave them, release the connection."""
    response = await pool.request("POST", "/x", [("Content-Type", "application/json")], b"{}")
    pieces: list[tuple[int, bytes]] = []
    try:
        await response.stream(lambda t_ns, piece: pieces.append((t_ns, piece)))
    finally:
        response.release()
    return response, pieces


ROLE = b'data: {"choices":[{"delta":{"role":"assistant"}}]}\n\n'
TOKEN = b'data: {"choices":[{"delta":{"content":"hi"}}]}\n\n'
FINISH = b'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n'
USAGE = b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}\n\n'
STREAM = chunked(ROLE, TOKEN, FINISH + USAGE, b"data: [DONE]\n\n")


async def test_a_stream_cut_at_every_byte_gives_the_same_events_each_stamped_when_its_last_byte_arrived() -> None:
    cut = 0

    async def answer(server: ScriptedServer, request: bytes, writer: asyncio.StreamWriter) -> None:
        await server.write(writer, STREAM[:cut], STREAM[cut:])

    # where each event's last byte (the second "\n" of its terminator) lies in the response
    last_bytes = [STREAM.index(event) + len(event) - 1 for event in (ROLE, TOKEN, FINISH, USAGE)]
    async with ScriptedServer(answer) as server:
        transport = DirectTransport(server.url, None, max_connections=1, timeout_s=10)
        for cut in range(1, len(STREAM)):
            server.writes_ns.clear()
            record = await transport.send(REQUEST)
            assert record.ok, (cut, record.error_message)
            assert (record.output_text, record.finish_reason, record.usage and record.usage["total_tokens"]) == (
                "hi", "stop", 2), cut
            second_write = server.writes_ns[1]
            came_first = [t_ns < second_write for t_ns in (event.t_ns for event in record.events)]
            assert came_first == [last < cut for last in last_bytes], cut
            assert record.send_ns < server.writes_ns[0]
        await transport.close()
    assert server.connections == 1  # every one of those requests reused the one kept-alive connection


async def test_a_head_arriving_in_several_packets_is_read_whole() -> None:
    async def answer(server: ScriptedServer, request: bytes, writer: asyncio.StreamWriter) -> None:
        await server.write(writer, b"HTTP/1.1 2", b"01 Created\r\nX-Request-", b"ID: abc\r\nContent-Le",
                           b"ngth: 5\r\n", b"Retry-After: 3\r\n\r", b"\nhe", b"llo")

    async with ScriptedServer(answer) as server:
        pool = ConnectionPool(server.url, 1)
        response, pieces = await fetch(pool)
        assert response.status == 201
        assert response.headers == {"x-request-id": "abc", "content-length": "5", "retry-after": "3"}
        assert [piece for _, piece in pieces] == [b"he", b"llo"]
        assert pieces[0][0] < server.writes_ns[-1] <= pieces[1][0]
        await pool.close()


async def test_content_length_bodies_on_one_kept_alive_connection() -> None:
    bodies = [b"first answer", b"", b"x" * 100_000]

    async def answer(server: ScriptedServer, request: bytes, writer: asyncio.StreamWriter) -> None:
        await server.write(writer, sized(bodies[len(server.requests) - 1]))

    async with ScriptedServer(answer) as server:
        pool = ConnectionPool(server.url, 1)
        results = [await fetch(pool) for _ in bodies]
        assert [b"".join(piece for _, piece in pieces) for _, pieces in results] == bodies
        assert [response.new_connection for response, _ in results] == [True, False, False]
        assert server.connections == 1
        assert server.requests[0].startswith(b"POST /v1/x HTTP/1.1\r\nHost: 127.0.0.1:")
        assert server.requests[0].endswith(b"\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}")
        await pool.close()


@pytest.mark.parametrize("response", [
    sized(b"bye", headers=b"Connection: close\r\n"),
    b"HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nbye",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbye",  # no length, not chunked: the body ends with the connection
])
async def test_a_connection_the_server_does_not_keep_is_not_reused(response: bytes) -> None:
    async def answer(server: ScriptedServer, request: bytes, writer: asyncio.StreamWriter) -> None:
        await server.write(writer, response, close=True)

    async with ScriptedServer(answer) as server:
        pool = ConnectionPool(server.url, 1)
        for _ in range(2):
            _, pieces = await fetch(pool)
            assert b"".join(piece for _, piece in pieces) == b"bye"
        assert server.connections == 2
        await pool.close()


async def test_informational_responses_are_skipped_before_the_answer() -> None:
    async def answer(server: ScriptedServer, request: bytes, writer: asyncio.StreamWriter) -> None:
        await server.write(writer, b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
                           + sized(b"ok", headers=b"X-Final: 1\r\n")[:20], sized(b"ok", headers=b"X-Final: 1\r\n")[20:])

    async with ScriptedServer(answer) as server:
        pool = ConnectionPool(server.url, 1)
        for _ in range(2):  # and the connection is ready for the next request afterwards
            response, pieces = await fetch(pool)
            assert (response.status, response.headers) == (200, {"content-length": "2", "x-final": "1"})
            assert b"".join(piece for _, piece in pieces) == b"ok"
        assert server.connections == 1
        await pool.close()


@pytest.mark.parametrize(("parts", "where"), [
    ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"], "mid-response"),
    ([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"], "mid-response"),
    ([b"HTTP/1.1 200 OK\r\nContent-"], "before answering"),
    ([], "before answering"),
])
async def test_a_connection_lost_before_the_end_is_connection_lost(parts: list[bytes], where: str) -> None:
    async def answer(server: ScriptedServer, request: bytes, writer: asyncio.StreamWriter) -> None:
        if len(server.requests) == 1:
            await server.write(writer, *parts, close=True)
        else:
            await server.write(writer, sized(b"fine"))

    async with ScriptedServer(answer) as server:
        pool = ConnectionPool(server.url, 1)
        with pytest.raises(ConnectionLost, match=f"^the server closed the connection {where}$"):
            await fetch(pool)
        response, pieces = await fetch(pool)  # the pool opens a new connection for the next request
        assert response.new_connection and b"".join(piece for _, piece in pieces) == b"fine"
        await pool.close()


@pytest.mark.parametrize(("reply", "reason"), [
    (b"HTTX/1.1 200 OK\r\n\r\n", "Expected HTTP/"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", "chunk size"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi", "Duplicate Content-Length"),
])
async def test_a_malformed_response_is_a_clear_disconnected_error(reply: bytes, reason: str) -> None:
    async def answer(server: ScriptedServer, request: bytes, writer: asyncio.StreamWriter) -> None:
        await server.write(writer, reply)

    async with ScriptedServer(answer) as server:
        pool = ConnectionPool(server.url, 1)
        with pytest.raises(ProtocolError, match=f"^malformed HTTP response: .*{reason}"):
            await fetch(pool)
        transport = DirectTransport(server.url, None, max_connections=1, timeout_s=10)
        record = await transport.send(REQUEST)
        assert record.error_type is ErrorType.DISCONNECTED
        assert record.error_message.startswith("malformed HTTP response: "), record.error_message
        await transport.close()
        await pool.close()


async def test_what_the_reader_raises_reaches_it_and_the_connection_is_dropped() -> None:
    async def answer(server: ScriptedServer, request: bytes, writer: asyncio.StreamWriter) -> None:
        await server.write(writer, chunked(b"one", b"two"))

    def refuse(t_ns: int, piece: bytes) -> None:
        raise ValueError(f"cannot read {piece!r}")

    async with ScriptedServer(answer) as server:
        pool = ConnectionPool(server.url, 1)
        response = await pool.request("GET", "/x", [], b"")
        with pytest.raises(ValueError, match="cannot read b'one'"):
            await response.stream(refuse)
        response.release()
        response, _ = await fetch(pool)
        assert response.new_connection and server.connections == 2
        await pool.close()


async def test_bytes_after_the_response_end_the_connection() -> None:
    async def answer(server: ScriptedServer, request: bytes, writer: asyncio.StreamWriter) -> None:
        await server.write(writer, sized(b"ok") + b"HTTP/1.1 200 OK\r\n")

    async with ScriptedServer(answer) as server:
        pool = ConnectionPool(server.url, 1)
        for _ in range(2):
            _, pieces = await fetch(pool)
            assert b"".join(piece for _, piece in pieces) == b"ok"
        assert server.connections == 2  # the first connection was not trusted with the second request
        await pool.close()


async def test_bytes_on_an_idle_connection_end_it() -> None:
    async def answer(server: ScriptedServer, request: bytes, writer: asyncio.StreamWriter) -> None:
        await server.write(writer, sized(b"ok"), b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")

    async with ScriptedServer(answer) as server:
        pool = ConnectionPool(server.url, 1)
        await fetch(pool)
        await asyncio.sleep(0.02)  # the stray head arrives while the connection waits in the pool
        response, pieces = await fetch(pool)
        assert response.new_connection and b"".join(piece for _, piece in pieces) == b"ok"
        await pool.close()


@pytest.mark.parametrize("header", [("X-Evil", "a\r\nX-Injected: 1"), ("X-Evil\r\nX", "1"), ("X:Y", "1")])
async def test_a_header_that_would_change_the_request_is_refused(header: tuple[str, str]) -> None:
    async def answer(server: ScriptedServer, request: bytes, writer: asyncio.StreamWriter) -> None:
        await server.write(writer, sized(b"ok"))

    async with ScriptedServer(answer) as server:
        pool = ConnectionPool(server.url, 1)
        with pytest.raises(ValueError, match="invalid HTTP header"):
            await pool.request("GET", "/x", [header], b"")
        _, pieces = await fetch(pool)
        assert b"".join(piece for _, piece in pieces) == b"ok"
        assert all(b"Injected" not in request for request in server.requests)
        await pool.close()
