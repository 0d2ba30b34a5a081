"""The mock's Anthropic Messages API (`POST /v1/messages`): the same plans, pacing, faults and ground truth as
the OpenAI routes, sent in Anthropic's JSON, so a client of Anthropic's format is timed against the same truth.

A plan's events map one to one onto writes (one HTTP chunk each, possibly holding several SSE events), so the
schedule and the ground-truth log are exactly the OpenAI route's:
- role (due at arrival): `message_start` (usage.input_tokens) and a `ping`; with `role_first_event: false`,
  message_start opens the first token event's write instead;
- a token event: its block's delta (`thinking_delta`, `text_delta`, `input_json_delta`), preceded in the same
  write by `content_block_stop` of the previous block and `content_block_start` of its own when a new block
  begins; a tool call's opening event (its id and name, one token) is its `content_block_start` (`tool_use`);
- finish: `content_block_stop` and `message_delta` (stop_reason end_turn, max_tokens or tool_use;
  usage.output_tokens, and output_tokens_details.thinking_tokens when the answer reasoned);
- done: `message_stop` and the end of the chunked body.
Usage is always sent (Anthropic has no include_usage: `send_usage` applies to the OpenAI routes only), and
`max_tokens` is required, as Anthropic requires it. Errors have Anthropic's body
`{"type": "error", "error": {"type": ..., "message": ...}}`, the type following the status (429
rate_limit_error, 500 api_error, 529 overloaded_error, ...). The `overloaded` fault is, in a stream, an `error`
event (overloaded_error) in place of event `fault_after_events`, the 200 having been sent (Anthropic's mid-stream
failure), and otherwise an HTTP 529.
"""

from __future__ import annotations

import json
from typing import Any

from benchlab.mockllm.behaviour import Event, Plan
from benchlab.mockllm.wire import Wire, token_words

MESSAGES_PATH = "/v1/messages"
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
               529: "overloaded_error"}
OVERLOADED_STATUS = 529
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}
_BLOCKS = {"reasoning": ("thinking", "thinking_delta", "thinking"), "content": ("text", "text_delta", "text")}
_END_OF_BODY = b"0\r\n\r\n"


def error_body(status: int, message: str) -> bytes:
    kind = ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


def _sse(kind: str, payload: str) -> str:
    return f"event: {kind}\ndata: {payload}\n\n"


def _chunk(text: str) -> bytes:
    data = text.encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


_PING = _sse("ping", '{"type":"ping"}')
_MESSAGE_STOP = _sse("message_stop", '{"type":"message_stop"}')


class AnthropicWire(Wire):
    """The Anthropic JSON of one response; token events reuse the OpenAI wire's token text and tool-call
    fragments, so both routes carry the same tokens."""

    def __init__(self, plan: Plan, number: int) -> None:
        super().__init__(plan, number)
        self.id = f"msg_mock_{number}"
        self.tool_call_id = f"toolu_mock_{number}"
        self._started = False
        self._block = -1                 # index of the open content block, -1 before the first
        self._open: str | None = None    # the kind of event that opened it

    def event(self, event: Event) -> bytes:
        parts: list[str] = []
        if not self._started:
            self._started = True
            parts.append(self._message_start())
            if event.kind == "role":
                parts.append(_PING)
        kind = event.kind
        if kind == "tool_call":
            index, opens, fragments = self._tool_part(event)
            if opens:
                parts += self._new_block(kind, {"type": "tool_use", "id": self._call_id(index),
                                                "name": self.plan.tool_calls[index].name, "input": {}})
            if fragments:
                parts.append(self._json_delta({"type": "input_json_delta", "partial_json": fragments}))
        elif kind in _BLOCKS:
            block, delta, field = _BLOCKS[kind]
            if kind != self._open:
                parts += self._new_block(kind, {"type": block, field: ""})
            text = token_words("think", event.start, event.tokens) if kind == "reasoning" else self._content(event)
            parts.append(_sse("content_block_delta", f'{{"type":"content_block_delta","index":{self._block},'
                                                     f'"delta":{{"type":"{delta}","{field}":"{text}"}}}}'))
        elif kind == "finish":
            parts += self._close_block()
            parts.append(_sse("message_delta", json.dumps({
                "type": "message_delta", "delta": {"stop_reason": self._stop_reason(), "stop_sequence": None},
                "usage": self.usage()}, separators=(",", ":"))))
        elif kind == "done":
            return _chunk("".join([*parts, _MESSAGE_STOP])) + _END_OF_BODY
        return _chunk("".join(parts or [_PING]))  # never an empty chunk: that would end the body

    def error_event(self, message: str) -> bytes:
        """An `error` event ending the stream (the `overloaded` fault), and the end of the chunked body."""
        payload = json.dumps({"type": "error", "error": {"type": "overloaded_error", "message": message}})
        parts = [] if self._started else [self._message_start()]
        self._started = True
        return _chunk("".join([*parts, _sse("error", payload)])) + _END_OF_BODY

    def _message_start(self) -> str:
        message: dict[str, object] = {
            "id": self.id, "type": "message", "role": "assistant", "model": self.params.model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": self.params.prompt_tokens, "output_tokens": 1}}
        return _sse("message_start", json.dumps({"type": "message_start", "message": message}, separators=(",", ":")))

    def _new_block(self, kind: str, block: dict[str, Any]) -> list[str]:
        parts = self._close_block()
        self._block += 1
        self._open = kind
        parts.append(_sse("content_block_start", json.dumps(
            {"type": "content_block_start", "index": self._block, "content_block": block}, separators=(",", ":"))))
        return parts

    def _close_block(self) -> list[str]:
        if self._open is None:
            return []
        self._open = None
        return [_sse("content_block_stop", f'{{"type":"content_block_stop","index":{self._block}}}')]

    def _json_delta(self, delta: dict[str, str]) -> str:
        return _sse("content_block_delta", json.dumps({"type": "content_block_delta", "index": self._block,
                                                       "delta": delta}, separators=(",", ":")))

    def _stop_reason(self) -> str:
        return STOP_REASONS[self.plan.finish_reason]

    def usage(self) -> dict[str, object]:
        usage: dict[str, object] = {"output_tokens": self.plan.completion_tokens}
        if self.plan.reasoning_tokens:
            usage["output_tokens_details"] = {"thinking_tokens": self.plan.reasoning_tokens}
        return usage

    def body(self) -> bytes:
        """The whole non-streaming message."""
        plan = self.plan
        content: list[dict[str, object]] = []
        if plan.reasoning_tokens:
            content.append({"type": "thinking", "thinking": token_words("think", 0, plan.reasoning_tokens),
                            "signature": "mock"})
        for index, call in enumerate(plan.tool_calls):
            content.append({"type": "tool_use", "id": self._call_id(index), "name": call.name,
                            "input": _input_object(call.arguments)})
        if not plan.tool_calls:
            content.append({"type": "text", "text": self.answer_text()})
        return json.dumps({"id": self.id, "type": "message", "role": "assistant", "model": self.params.model,
                           "content": content, "stop_reason": self._stop_reason(), "stop_sequence": None,
                           "usage": {"input_tokens": self.params.prompt_tokens, **self.usage()}}).encode()


def _input_object(arguments: str) -> object:
    """A tool call's input as an object (Anthropic sends objects; a key's arguments given as a plain string that
    is no JSON object are sent as that string)."""
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments
