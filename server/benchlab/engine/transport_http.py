"""What benchlab's own HTTP transports share, whichever API they speak (transport_direct.py for OpenAI-compatible
endpoints, transport_anthropic.py for Anthropic's Messages API).

Timing is the reason they exist (docs/architecture.md §10), and timing lives here once (see http_client.py):
- connections are opened before measuring (`warm_up`) and reused; a request that had to open one is flagged
  `first_on_connection`, so connection set-up never hides inside TTFT unnoticed;
- the send is stamped as the request bytes are handed to the socket (one write call);
- each SSE event is stamped with the arrival time of the bytes that complete it, before any JSON decoding.
A subclass only says how a request is encoded and how an answer's payloads become chunk fields.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from benchlab.engine.http_client import ConnectionLost, ConnectionPool, Response
from benchlab.engine.response import ChunkAccumulator, ErrorType, ResponseRecord, error_type_for_status


@dataclass(frozen=True)
class LLMRequest:
    model: str                                  # the provider's model id
    messages: list[dict[str, Any]] | None = None
    prompt: str | None = None                   # text completion instead of chat
    params: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = True


class SseSplitter:
    """Cuts a byte stream into the `data` payloads of its server-sent events, in order.

    Fed one received chunk at a time, so every payload it returns was completed by that chunk and takes its
    arrival time. Events without data (comments, keep-alives) are dropped; `event:` lines are not needed by
    either API (the JSON says its type).
    """

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[bytes]:
        buffer = self._buffer + chunk
        payloads = []
        while True:
            end = buffer.find(b"\n\n")
            if end < 0:
                break
            raw_event, buffer = buffer[:end], buffer[end + 2:]
            data = b"".join(line[5:].strip() for line in raw_event.split(b"\n") if line.startswith(b"data:"))
            if data:
                payloads.append(data)
        self._buffer = buffer
        return payloads


class PooledTransport:
    """One provider API over a pool of kept-alive connections; subclasses encode requests and read answers."""

    models_path = "/models"  # what `warm_up` GETs on each connection (cheap, and harmless if it 404s)

    def __init__(self, api_base: str, headers: list[tuple[str, str]], *, max_connections: int,
                 timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._pool = ConnectionPool(api_base, max_connections, connect_timeout_s=min(10.0, timeout_s))
        self._headers = headers

    async def warm_up(self, connections: int) -> None:
        """Open `connections` kept-alive connections before measuring (GET `models_path` on each, concurrently)."""
        async def touch() -> None:
            # An unreachable endpoint shows up as errors on the real requests.
            with contextlib.suppress(OSError, ConnectionLost, TimeoutError):
                response = await self._pool.request("GET", self.models_path, self._headers, b"")
                try:
                    await response.read()
                finally:
                    response.release()

        await asyncio.gather(*(touch() for _ in range(connections)))

    async def close(self) -> None:
        await self._pool.close()

    async def send(self, request: LLMRequest) -> ResponseRecord:
        path, payload = self.encode(request)
        headers = self._headers + list(request.headers.items())
        record = ResponseRecord(send_ns=time.perf_counter_ns())
        accumulator = ChunkAccumulator(record)
        response: Response | None = None
        try:
            async with asyncio.timeout(self.timeout_s):
                response = await self._pool.request("POST", path, headers, payload)
                record.send_ns, record.first_on_connection = response.send_ns, response.new_connection
                record.http_status = response.status
                if response.status >= 400:
                    await _read_error(response, record)
                elif request.stream:
                    await self.read_stream(response, accumulator)
                else:
                    body = await response.read()
                    self.read_whole(time.perf_counter_ns(), json.loads(body), accumulator)
        except TimeoutError:
            record.error_type = ErrorType.TIMEOUT
            record.error_message = f"no complete answer within {self.timeout_s:g} s"
        except ConnectionLost as exc:
            record.error_type, record.error_message = ErrorType.DISCONNECTED, str(exc)
        except OSError as exc:
            record.error_type = ErrorType.CONNECT_ERROR
            record.error_message = f"cannot connect: {exc.strerror or exc}"
        finally:
            if response is not None:
                response.release()
        return accumulator.finish(time.perf_counter_ns())

    def encode(self, request: LLMRequest) -> tuple[str, bytes]:
        """The request's path (under the api_base) and JSON body."""
        raise NotImplementedError

    async def read_stream(self, response: Response, accumulator: ChunkAccumulator) -> None:
        """Feed a streamed answer's events to the accumulator, each stamped when its bytes arrived."""
        raise NotImplementedError

    def read_whole(self, t_ns: int, payload: dict[str, Any], accumulator: ChunkAccumulator) -> None:
        """Feed a non-streamed answer (its decoded body) to the accumulator."""
        raise NotImplementedError


def encode_json(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


async def _read_error(response: Response, record: ResponseRecord) -> None:
    """An HTTP error: classified by status, Retry-After kept, the message of the error body (`error.message` in
    both OpenAI's and Anthropic's format) shortened into the record."""
    body = await response.read()
    record.error_type = error_type_for_status(response.status)
    retry_after = response.headers.get("retry-after")
    if retry_after:
        with contextlib.suppress(ValueError):
            record.retry_after_s = float(retry_after)
    try:
        message = json.loads(body).get("error", {}).get("message", "")
    except (ValueError, AttributeError):
        message = ""
    record.error_message = f"HTTP {response.status}" + (f": {message[:200]}" if message else "")
