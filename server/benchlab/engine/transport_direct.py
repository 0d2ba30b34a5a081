"""Our own streaming client for OpenAI-compatible endpoints (vLLM, SGLang, TGI, Ollama, llama.cpp, the mock).

Accurate load generators time requests at the transport: litellm spends ~0.4 ms of CPU per chunk, which at
concurrency turns into queueing that reads as server latency (docs/architecture.md §10). How the timing is
taken (warmed connections, send and event stamps) is shared with the Anthropic transport: transport_http.py.
"""

from __future__ import annotations

import json
from typing import Any

from benchlab.engine.http_client import Response
from benchlab.engine.response import ChunkAccumulator, ErrorType
from benchlab.engine.transport_http import LLMRequest, PooledTransport, SseSplitter, encode_json

__all__ = ["DirectTransport", "LLMRequest"]  # LLMRequest is imported from here throughout the engine


class DirectTransport(PooledTransport):
    def __init__(self, api_base: str, api_key: str | None, *, max_connections: int, timeout_s: float) -> None:
        headers = [("Content-Type", "application/json"), ("Accept", "text/event-stream, application/json")]
        if api_key:
            headers.append(("Authorization", f"Bearer {api_key}"))
        super().__init__(api_base, headers, max_connections=max_connections, timeout_s=timeout_s)

    def encode(self, request: LLMRequest) -> tuple[str, bytes]:
        path = "/chat/completions" if request.messages is not None else "/completions"
        body: dict[str, Any] = {"model": request.model, **request.params, "stream": request.stream}
        if request.messages is not None:
            body["messages"] = request.messages
        else:
            body["prompt"] = request.prompt
        if request.stream:
            body["stream_options"] = {"include_usage": True}
        return path, encode_json(body)

    async def read_stream(self, response: Response, accumulator: ChunkAccumulator) -> None:
        sse = SseSplitter()
        done = False

        def on_chunk(t_ns: int, chunk: bytes) -> None:
            nonlocal done
            for data in sse.feed(chunk):
                if data == b"[DONE]":
                    done = True
                else:
                    accumulator.add_openai_chunk(t_ns, json.loads(data))

        await response.stream(on_chunk)
        if not done:
            accumulator.record.error_type = ErrorType.DISCONNECTED
            accumulator.record.error_message = "the stream ended without [DONE]"

    def read_whole(self, t_ns: int, payload: dict[str, Any], accumulator: ChunkAccumulator) -> None:
        choice = (payload.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        calls = [{"index": i, **call} for i, call in enumerate(message.get("tool_calls") or [])]
        accumulator.add(t_ns, content=message.get("content") or choice.get("text"),
                        reasoning=message.get("reasoning_content"), tool_calls=calls,
                        finish_reason=choice.get("finish_reason"), usage=payload.get("usage"))
