"""The OpenAI JSON of responses: streamed SSE events (each one HTTP chunk), whole bodies and error bodies.

It exists apart from the server so the payload format lives in one place, free of sockets and timing:
rendering is plain string work on a `Plan`, cheap enough to do per event (requirement 5).
"""

from __future__ import annotations

import bisect
import json
import time
from itertools import accumulate

from benchlab.mockllm.behaviour import Event, Plan


def error_body(message: str, kind: str, code: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}}).encode()


def _chunk(payload: str) -> bytes:
    """One SSE event as one HTTP chunk."""
    data = f"data: {payload}\n\n".encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


_DONE = _chunk("[DONE]") + b"0\r\n\r\n"  # the last event and the end of the chunked body, in one write
_FIRST_CALL = [0]  # where each tool call starts among the tool-call tokens: one call


def token_words(prefix: str, start: int, count: int) -> str:
    """Tokens `prefix{start}` ... of the default answer (`tok`) or reasoning (`think`), each with its space."""
    return "".join(f"{prefix}{i} " for i in range(start, start + count))


class Wire:
    """The OpenAI JSON of one response. Streamed chunks are joined from per-request prefixes, so an event
    costs a few string operations instead of a json.dumps (precomputed where possible, requirement 5)."""

    def __init__(self, plan: Plan, number: int) -> None:
        params = self.params = plan.params
        self.plan = plan
        self.id = f"{'chatcmpl' if params.chat else 'cmpl'}-mock-{number}"
        self.tool_call_id = f"call_mock_{number}"
        self.created = int(time.time())
        kind = "chat.completion.chunk" if params.chat else "text_completion"
        self._prefix = f'{{"id":"{self.id}","object":"{kind}","created":{self.created},' \
                       f'"model":{json.dumps(params.model)},"choices":'
        self._suffix = ',"usage":null}' if plan.sends_usage else "}"
        self._role_pending = params.chat
        self._escaped = plan.text.escaped if plan.text else None
        calls = plan.tool_calls
        self._call_starts = [*accumulate((call.tokens for call in calls[:-1]), initial=0)] if len(calls) > 1 \
            else _FIRST_CALL

    def event(self, event: Event) -> bytes:
        if event.kind == "done":
            return _DONE
        if event.kind == "usage":
            return _chunk(f"{self._prefix}[],\"usage\":{json.dumps(self.usage())}}}")
        finish = f'"{self.plan.finish_reason}"' if event.kind == "finish" else "null"
        if self.params.chat:
            choice = f'{{"index":0,"delta":{self._delta(event)},"logprobs":null,"finish_reason":{finish}}}'
        else:
            text = self._content(event) if event.kind == "content" else ""
            choice = f'{{"text":"{text}","index":0,"logprobs":null,"finish_reason":{finish}}}'
        return _chunk(f"{self._prefix}[{choice}]{self._suffix}")

    def _delta(self, event: Event) -> str:
        if event.kind == "reasoning":
            fields = f'"reasoning_content":"{token_words("think", event.start, event.tokens)}"'
        elif event.kind == "content":
            fields = f'"content":"{self._content(event)}"'
        elif event.kind == "tool_call":
            fields = json.dumps({"tool_calls": [self._tool_delta(event)]})[1:-1]
        else:
            fields = ""
        if self._role_pending:
            self._role_pending = False
            fields = '"role":"assistant"' + ("," + fields if fields else "")
        return "{" + fields + "}"

    def _content(self, event: Event) -> str:
        """The event's content tokens as the inside of a JSON string."""
        if self._escaped is None:
            return token_words("tok", event.start, event.tokens)
        return "".join(self._escaped[event.start:event.start + event.tokens])

    def _call_id(self, index: int) -> str:
        return self.tool_call_id if index == 0 else f"{self.tool_call_id}_{index}"

    def _tool_part(self, event: Event) -> tuple[int, bool, str]:
        """Which call a tool-call event belongs to, whether it opens that call (id and name), and the arguments
        fragments it carries."""
        index = bisect.bisect_right(self._call_starts, event.start) - 1  # 0 unless several calls
        call, start = self.plan.tool_calls[index], event.start - self._call_starts[index]
        fragments = "".join(call.fragment(i - 1) for i in range(max(start, 1), start + event.tokens))
        return index, not start, fragments

    def _tool_delta(self, event: Event) -> dict[str, object]:
        index, opens, fragments = self._tool_part(event)
        if not opens:
            return {"index": index, "function": {"arguments": fragments}}
        return {"index": index, "id": self._call_id(index), "type": "function",
                "function": {"name": self.plan.tool_calls[index].name, "arguments": fragments}}

    def usage(self) -> dict[str, object]:
        prompt, completion = self.params.prompt_tokens, self.plan.completion_tokens
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "completion_tokens_details": {"reasoning_tokens": self.plan.reasoning_tokens}}

    def answer_text(self) -> str:
        """The whole content of the answer (its known text, or the `tok{i}` words)."""
        if self.plan.text is None:
            return token_words("tok", 0, self.plan.content_tokens)
        return "".join(self.plan.text.tokens[:self.plan.content_tokens])

    def body(self) -> bytes:
        """The whole non-streaming response."""
        plan = self.plan
        content = self.answer_text()
        if not self.params.chat:
            choice: dict[str, object] = {"text": content, "index": 0, "logprobs": None}
        else:
            message: dict[str, object] = {"role": "assistant", "content": None if plan.tool_calls else content}
            if plan.reasoning_tokens:
                message["reasoning_content"] = token_words("think", 0, plan.reasoning_tokens)
            if plan.tool_calls:
                message["tool_calls"] = [{"id": self._call_id(i), "type": "function", "function": {
                    "name": call.name, "arguments": call.arguments}} for i, call in enumerate(plan.tool_calls)]
            choice = {"index": 0, "message": message, "logprobs": None}
        choice["finish_reason"] = plan.finish_reason
        kind = "chat.completion" if self.params.chat else "text_completion"
        return json.dumps({"id": self.id, "object": kind, "created": self.created, "model": self.params.model,
                           "choices": [choice], "usage": self.usage()}).encode()
