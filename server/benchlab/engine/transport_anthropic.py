"""Our own streaming client for Anthropic's Messages API (`POST {api_base}/v1/messages`).

Through litellm, Anthropic's timing collapses from about 16 concurrent streams (its per-chunk CPU queues up and
reads as server latency); this transport times it like the OpenAI-compatible one, with the same pool, stamps
and failure handling (transport_http.py), and reads the events into the same record as the litellm path
(response.py: `add_anthropic_event`): tokens, gaps, tool calls, reasoning, finish reason, usage.

Requests are mapped from our OpenAI-shaped `LLMRequest`:
- `system` (and `developer`) messages become the top-level `system` blocks, the others `messages`; an
  assistant's `tool_calls` become `tool_use` blocks and `tool` messages user `tool_result` blocks;
- `max_tokens` (or `max_completion_tokens`) is required by Anthropic: without one, DEFAULT_MAX_TOKENS (1024)
  is sent (benchlab's specs always set one);
- `stop` becomes `stop_sequences`, OpenAI function `tools` become Anthropic tools (`input_schema`) and
  `tool_choice` is translated; temperature and top_p keep their names, `n: 1` is dropped, and any other
  parameter is passed through as given (Anthropic refuses what it does not know, visibly, with a 400).
Text completions (`prompt`) are sent as one user message.
"""

from __future__ import annotations

import json
from typing import Any

from benchlab.engine.http_client import Response
from benchlab.engine.response import ChunkAccumulator, ErrorType, error_type_for_status
from benchlab.engine.transport_http import LLMRequest, PooledTransport, SseSplitter, encode_json

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024
MESSAGES_PATH = "/v1/messages"
# The HTTP status Anthropic documents for each error type: an `error` event in a stream is classified as that
# status would be (overloaded_error: 529, a server error, like the 503 of OpenAI-compatible servers).
ERROR_STATUS = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
                "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
                "overloaded_error": 529}
_SYSTEM_ROLES = ("system", "developer")


class AnthropicTransport(PooledTransport):
    models_path = "/v1/models"

    def __init__(self, api_base: str, api_key: str | None, *, max_connections: int, timeout_s: float) -> None:
        """`api_base` is the API's root (https://api.anthropic.com); like litellm, a trailing /v1/messages is
        accepted too."""
        base = api_base.rstrip("/")
        base = base.removesuffix(MESSAGES_PATH)
        headers = [("content-type", "application/json"), ("anthropic-version", ANTHROPIC_VERSION)]
        if api_key:
            headers.append(("x-api-key", api_key))
        super().__init__(base, headers, max_connections=max_connections, timeout_s=timeout_s)

    def encode(self, request: LLMRequest) -> tuple[str, bytes]:
        messages = request.messages if request.messages is not None else [
            {"role": "user", "content": request.prompt or ""}]
        system = [block for m in messages if m.get("role") in _SYSTEM_ROLES for block in _text_blocks(m)]
        body: dict[str, Any] = {"model": request.model,
                                "messages": [_message(m) for m in messages if m.get("role") not in _SYSTEM_ROLES]}
        if system:
            body["system"] = system
        body.update(_params(request.params))
        body["stream"] = request.stream
        return MESSAGES_PATH, encode_json(body)

    async def read_stream(self, response: Response, accumulator: ChunkAccumulator) -> None:
        """Events until message_stop; an `error` event is classified by its type, and the rest of the stream
        is still read so the connection can be reused."""
        record = accumulator.record
        sse = SseSplitter()
        stopped = False

        def on_chunk(t_ns: int, chunk: bytes) -> None:
            nonlocal stopped
            for data in sse.feed(chunk):
                event = json.loads(data)
                kind = event.get("type", "")
                if kind == "error":
                    if record.error_type is None:
                        error = event.get("error") or {}
                        error_kind = str(error.get("type") or "error")
                        record.error_type = error_type_for_status(ERROR_STATUS.get(error_kind, 500))
                        record.error_message = f"{error_kind}: {str(error.get('message') or '')[:200]}"
                    continue
                if kind == "message_stop":
                    stopped = True
                accumulator.add_anthropic_event(t_ns, kind, event)

        await response.stream(on_chunk)
        if not stopped and record.error_type is None:
            record.error_type = ErrorType.DISCONNECTED
            record.error_message = "the stream ended without message_stop"

    def read_whole(self, t_ns: int, payload: dict[str, Any], accumulator: ChunkAccumulator) -> None:
        accumulator.add_anthropic_message(t_ns, payload)


def _text_blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, list):
        return [part for part in content if isinstance(part, dict)]
    return [{"type": "text", "text": content}] if content else []


def _message(message: dict[str, Any]) -> dict[str, Any]:
    """One OpenAI chat message as an Anthropic one (user and assistant pass as they are)."""
    role = message.get("role")
    if role == "tool":
        return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": message.get("tool_call_id"),
                                             "content": message.get("content") or ""}]}
    if role == "assistant" and message.get("tool_calls"):
        blocks = _text_blocks(message)
        for call in message["tool_calls"]:
            function = call.get("function") or {}
            arguments = function.get("arguments") or "{}"
            blocks.append({"type": "tool_use", "id": call.get("id"), "name": function.get("name"),
                           "input": json.loads(arguments) if isinstance(arguments, str) else arguments})
        return {"role": "assistant", "content": blocks}
    return {"role": role, "content": message.get("content")}


def _params(params: dict[str, Any]) -> dict[str, Any]:
    """Our (OpenAI-named) parameters under Anthropic's names; see the module docstring."""
    out = dict(params)
    out["max_tokens"] = out.pop("max_completion_tokens", None) or out.get("max_tokens") or DEFAULT_MAX_TOKENS
    if out.get("n") == 1:
        del out["n"]
    if "stop" in out:
        stop = out.pop("stop")
        out["stop_sequences"] = [stop] if isinstance(stop, str) else stop
    if "tools" in out:
        out["tools"] = [_tool(tool) for tool in out["tools"]]
    if "tool_choice" in out:
        out["tool_choice"] = _tool_choice(out["tool_choice"])
    return out


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function" or "function" not in tool:
        return tool  # already Anthropic's shape, or a server tool
    function = tool["function"]
    converted = {"name": function.get("name"),
                 "input_schema": function.get("parameters") or {"type": "object", "properties": {}}}
    if function.get("description"):
        converted["description"] = function["description"]
    return converted


def _tool_choice(choice: object) -> object:
    if choice in ("auto", "none"):
        return {"type": choice}
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    return choice
