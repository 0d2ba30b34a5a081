"""What a transport hands back for one request attempt, whichever path (direct HTTP or litellm) it took.

`ChunkAccumulator` turns OpenAI-shaped chunk fields into timestamped `StreamEvent`s and assembles the output
text, reasoning, tool calls, usage and finish reason, so every transport produces the identical record.
Anthropic's Messages API events are read into the same fields, the way litellm reads them, so the direct
Anthropic transport records what the litellm path records for the same answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from benchlab.engine.timing import StreamEvent, estimate_tokens

# Anthropic's stop reasons under OpenAI's finish reasons, as litellm maps them (anything else reads "stop").
ANTHROPIC_FINISH_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
                            "tool_use": "tool_calls", "refusal": "content_filter"}


class ErrorType(StrEnum):
    """Why a request failed: the `error_type` column (which holds "" for a success) and `retries.retry_on`."""

    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    CONNECT_ERROR = "connect_error"  # no connection could be made (refused, unreachable): the server saw nothing
    DISCONNECTED = "disconnected"    # the connection was lost before the answer was complete
    BAD_REQUEST = "bad_request"
    AUTH = "auth"
    OTHER = "other"


def error_type_for_status(status: int) -> ErrorType:
    if status == 429:
        return ErrorType.RATE_LIMITED
    if status == 408:
        return ErrorType.TIMEOUT
    if status in (401, 403):
        return ErrorType.AUTH
    if status >= 500:
        return ErrorType.SERVER_ERROR
    if status >= 400:
        return ErrorType.BAD_REQUEST
    return ErrorType.OTHER


@dataclass
class ResponseRecord:
    send_ns: int
    end_ns: int = 0
    events: list[StreamEvent] = field(default_factory=list)
    error_type: ErrorType | None = None  # None when the request succeeded
    error_message: str = ""         # short, never containing credentials
    http_status: int = 0
    usage: dict[str, Any] | None = None
    finish_reason: str = ""
    output_text: str = ""
    reasoning_text: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    first_on_connection: bool = False
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.error_type is None

    @property
    def error_column(self) -> str:
        """`error_type` as stored: the value, or "" for a success."""
        return "" if self.error_type is None else self.error_type.value


class ChunkAccumulator:
    """Feed chunk fields in arrival order; read the assembled response from `finish()`."""

    def __init__(self, record: ResponseRecord) -> None:
        self.record = record
        self._content: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, dict[str, Any]] = {}
        self._anthropic_tools: dict[int, int] = {}  # Anthropic content block index -> tool call index
        self._anthropic_usage: dict[str, Any] = {}  # message_start's usage, updated by message_delta's

    def add(self, t_ns: int, *, content: str | None = None, reasoning: str | None = None,
            tool_calls: list[dict[str, Any]] | None = None, finish_reason: str | None = None,
            usage: dict[str, Any] | None = None) -> None:
        tool_chars = 0
        for delta in tool_calls or ():
            call = self._calls.setdefault(int(delta.get("index") or 0), {"id": "", "name": "", "arguments": ""})
            function = delta.get("function") or {}
            if delta.get("id"):
                call["id"] = delta["id"]
            if function.get("name"):
                call["name"] += function["name"]
                tool_chars += len(function["name"])
            if function.get("arguments"):
                call["arguments"] += function["arguments"]
                tool_chars += len(function["arguments"])
        if content:
            self._content.append(content)
        if reasoning:
            self._reasoning.append(reasoning)
        self.record.events.append(StreamEvent(t_ns, content or "", reasoning or "", tool_chars))
        if finish_reason:
            self.record.finish_reason = finish_reason
        if usage:
            self.record.usage = usage

    def add_openai_chunk(self, t_ns: int, chunk: dict[str, Any]) -> None:
        """One decoded `chat.completion.chunk` (or text completion chunk) from an OpenAI-compatible server."""
        choices = chunk.get("choices") or []
        choice = choices[0] if choices else {}
        delta = choice.get("delta") or {}
        self.add(t_ns, content=delta.get("content") or choice.get("text"),
                 reasoning=delta.get("reasoning_content") or delta.get("reasoning"),
                 tool_calls=delta.get("tool_calls"), finish_reason=choice.get("finish_reason"),
                 usage=chunk.get("usage"))

    def add_anthropic_event(self, t_ns: int, kind: str, event: dict[str, Any]) -> None:
        """One decoded Messages API stream event of type `kind` (`error` is the transport's to classify).

        Text and thinking deltas are content and reasoning; a tool_use block's start (id, name) and its
        input_json deltas are one tool call; message_delta brings the finish reason and the usage, which is
        recorded then, merged with message_start's, so a stream cut before its end has none (tokens estimated).
        """
        if kind == "content_block_delta":
            delta = event.get("delta") or {}
            delta_kind = delta.get("type")
            if delta_kind == "text_delta":
                self.add(t_ns, content=delta.get("text"))
            elif delta_kind == "thinking_delta":
                self.add(t_ns, reasoning=delta.get("thinking"))
            elif delta_kind == "input_json_delta" and event.get("index", 0) in self._anthropic_tools:
                self.add(t_ns, tool_calls=[{"index": self._anthropic_tools[event.get("index", 0)],
                                            "function": {"arguments": delta.get("partial_json")}}])
            else:
                self.add(t_ns)  # signature and citation deltas carry no tokens
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = self._anthropic_tools[event.get("index", 0)] = len(self._anthropic_tools)
                self.add(t_ns, tool_calls=[{"index": index, "id": block.get("id"),
                                            "function": {"name": block.get("name")}}])
            else:
                self.add(t_ns, content=block.get("text") if block.get("type") == "text" else None)
        elif kind == "content_block_stop":
            call = self._calls.get(self._anthropic_tools.get(event.get("index", 0), -1))
            if call is not None and not call["arguments"]:
                call["arguments"] = "{}"  # a call without input reads "{}", as litellm gives it (not a token)
            self.add(t_ns)
        elif kind == "message_start":
            self._anthropic_usage = dict((event.get("message") or {}).get("usage") or {})
            self.add(t_ns)
        elif kind == "message_delta":
            self._anthropic_usage.update(event.get("usage") or {})
            self.add(t_ns, finish_reason=anthropic_finish_reason((event.get("delta") or {}).get("stop_reason")),
                     usage=anthropic_usage(self._anthropic_usage, "".join(self._reasoning)))
        else:
            self.add(t_ns)  # ping, message_stop

    def add_anthropic_message(self, t_ns: int, message: dict[str, Any]) -> None:
        """A whole (non-streamed) Messages API answer: its content blocks, stop reason and usage."""
        content: list[str] = []
        reasoning: list[str] = []
        calls: list[dict[str, Any]] = []
        for block in message.get("content") or []:
            kind = block.get("type")
            if kind == "text":
                content.append(block.get("text") or "")
            elif kind == "thinking":
                reasoning.append(block.get("thinking") or "")
            elif kind == "tool_use":
                calls.append({"index": len(calls), "id": block.get("id"), "function": {
                    "name": block.get("name"), "arguments": json.dumps(block.get("input") or {})}})
        self.add(t_ns, content="".join(content), reasoning="".join(reasoning), tool_calls=calls,
                 finish_reason=anthropic_finish_reason(message.get("stop_reason")),
                 usage=anthropic_usage(message.get("usage") or {}, "".join(reasoning)))

    def finish(self, end_ns: int) -> ResponseRecord:
        self.record.end_ns = end_ns
        self.record.output_text = "".join(self._content)
        self.record.reasoning_text = "".join(self._reasoning)
        self.record.tool_calls = [self._calls[i] for i in sorted(self._calls)]
        return self.record


def anthropic_finish_reason(stop_reason: str | None) -> str:
    return ANTHROPIC_FINISH_REASONS.get(stop_reason or "", "stop")


def anthropic_usage(usage: Mapping[str, Any], reasoning_text: str) -> dict[str, Any] | None:
    """Anthropic's usage under OpenAI's names, as litellm converts it; None when the answer reported none.

    Prompt tokens include cache reads and writes (`cached_tokens` are the reads); reasoning tokens are the
    reported `output_tokens_details.thinking_tokens`, else estimated from the thinking text (~4 characters per
    token, where litellm runs a tokenizer), never more than the output tokens.
    """
    if "output_tokens" not in usage:
        return None
    cache_read = int(usage.get("cache_read_input_tokens") or 0)
    cache_write = int(usage.get("cache_creation_input_tokens") or 0)
    prompt = int(usage.get("input_tokens") or 0) + cache_read + cache_write
    completion = int(usage.get("output_tokens") or 0)
    thinking = (usage.get("output_tokens_details") or {}).get("thinking_tokens")
    reasoning = int(thinking) if thinking is not None else estimate_tokens(len(reasoning_text))
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cache_read, "cache_creation_tokens": cache_write},
            "completion_tokens_details": {"reasoning_tokens": min(reasoning, completion)},
            "cache_read_input_tokens": cache_read, "cache_creation_input_tokens": cache_write}
