"""What a transport hands back for one request attempt, whichever path (direct HTTP or litellm) it took.

`ChunkAccumulator` turns OpenAI-shaped chunk fields into timestamped `StreamEvent`s and assembles the output
text, reasoning, tool calls, usage and finish reason, so both transports produce the identical record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from benchlab.engine.timing import StreamEvent


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

    def finish(self, end_ns: int) -> ResponseRecord:
        self.record.end_ns = end_ns
        self.record.output_text = "".join(self._content)
        self.record.reasoning_text = "".join(self._reasoning)
        self.record.tool_calls = [self._calls[i] for i in sorted(self._calls)]
        return self.record
