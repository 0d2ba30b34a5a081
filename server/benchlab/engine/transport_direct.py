"""Our own streaming client for OpenAI-compatible endpoints (vLLM, SGLang, TGI, Ollama, llama.cpp, the mock).

Accurate load generators time requests at the transport: litellm spends ~0.4 ms of CPU per chunk, which at
concurrency turns into queueing that reads as server latency (docs/architecture.md §10). Here
(see http_client.py):
- connections are opened before measuring (`warm_up`) and reused; a request that had to open one is flagged
  `first_on_connection`, so connection set-up never hides inside TTFT unnoticed;
- the send is stamped as the request bytes are handed to the socket (one write call);
- each SSE event is stamped with the arrival time of the bytes that complete it, before any JSON decoding.
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


class DirectTransport:
    def __init__(self, api_base: str, api_key: str | None, *, max_connections: int, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._pool = ConnectionPool(api_base, max_connections, connect_timeout_s=min(10.0, timeout_s))
        self._headers = [("Content-Type", "application/json"), ("Accept", "text/event-stream, application/json")]
        if api_key:
            self._headers.append(("Authorization", f"Bearer {api_key}"))

    async def warm_up(self, connections: int) -> None:
        """Open `connections` kept-alive connections before measuring (GET /models on each, concurrently)."""
        async def touch() -> None:
            # An unreachable endpoint shows up as errors on the real requests.
            with contextlib.suppress(OSError, ConnectionLost, TimeoutError):
                response = await self._pool.request("GET", "/models", self._headers, b"")
                try:
                    await response.read()
                finally:
                    response.release()

        await asyncio.gather(*(touch() for _ in range(connections)))

    async def close(self) -> None:
        await self._pool.close()

    async def send(self, request: LLMRequest) -> ResponseRecord:
        path = "/chat/completions" if request.messages is not None else "/completions"
        body: dict[str, Any] = {"model": request.model, **request.params, "stream": request.stream}
        if request.messages is not None:
            body["messages"] = request.messages
        else:
            body["prompt"] = request.prompt
        if request.stream:
            body["stream_options"] = {"include_usage": True}
        payload = json.dumps(body, separators=(",", ":")).encode()
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
                    await _read_stream(response, accumulator)
                else:
                    await _read_whole(response, accumulator)
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


async def _read_stream(response: Response, accumulator: ChunkAccumulator) -> None:
    """Split the byte stream into SSE events; each event gets the arrival time of its terminating bytes."""
    buffer = b""
    done = False
    async for t_ns, chunk in response.body_chunks():
        buffer += chunk
        while True:
            end = buffer.find(b"\n\n")
            if end < 0:
                break
            raw_event, buffer = buffer[:end], buffer[end + 2:]
            data = b"".join(line[5:].strip() for line in raw_event.split(b"\n") if line.startswith(b"data:"))
            if not data:
                continue  # comments and keep-alives carry no tokens
            if data == b"[DONE]":
                done = True
                continue
            accumulator.add_openai_chunk(t_ns, json.loads(data))
    if not done:
        accumulator.record.error_type = ErrorType.DISCONNECTED
        accumulator.record.error_message = "the stream ended without [DONE]"


async def _read_whole(response: Response, accumulator: ChunkAccumulator) -> None:
    body = await response.read()
    t_ns = time.perf_counter_ns()
    payload = json.loads(body)
    choice = (payload.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    calls = [{"index": i, **call} for i, call in enumerate(message.get("tool_calls") or [])]
    accumulator.add(t_ns, content=message.get("content") or choice.get("text"),
                    reasoning=message.get("reasoning_content"), tool_calls=calls,
                    finish_reason=choice.get("finish_reason"), usage=payload.get("usage"))


async def _read_error(response: Response, record: ResponseRecord) -> None:
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
