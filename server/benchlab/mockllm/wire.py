"""The OpenAI JSON of responses: streamed SSE events (each one HTTP chunk), whole bodies and error bodies.

It exists apart from the server so the payload format lives in one place, free of sockets and timing:
rendering is plain string work on a `Plan`, cheap enough to do per event (requirement 5).
"""

from __future__ import annotations

import json
import time

from benchlab.mockllm.behaviour import Event, Plan


def error_body(message: str, kind: str, code: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}}).encode()


def _chunk(payload: str) -> bytes:
    """One SSE event as one HTTP chunk."""
    data = f"data: {payload}\n\n".encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


_DONE = _chunk("[DONE]") + b"0\r\n\r\n"  # the last event and the end of the chunked body, in one write


def _words(prefix: str, start: int, count: int) -> str:
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

    def event(self, event: Event) -> bytes:
        if event.kind == "done":
            return _DONE
        if event.kind == "usage":
            return _chunk(f"{self._prefix}[],\"usage\":{json.dumps(self.usage())}}}")
        finish = f'"{self.plan.finish_reason}"' if event.kind == "finish" else "null"
        if self.params.chat:
            choice = f'{{"index":0,"delta":{self._delta(event)},"logprobs":null,"finish_reason":{finish}}}'
        else:
            text = _words("tok", event.start, event.tokens) if event.kind == "content" else ""
            choice = f'{{"text":"{text}","index":0,"logprobs":null,"finish_reason":{finish}}}'
        return _chunk(f"{self._prefix}[{choice}]{self._suffix}")

    def _delta(self, event: Event) -> str:
        if event.kind == "reasoning":
            fields = f'"reasoning_content":"{_words("think", event.start, event.tokens)}"'
        elif event.kind == "content":
            fields = f'"content":"{_words("tok", event.start, event.tokens)}"'
        elif event.kind == "tool_call":
            fields = json.dumps({"tool_calls": [self._tool_delta(event)]})[1:-1]
        else:
            fields = ""
        if self._role_pending:
            self._role_pending = False
            fields = '"role":"assistant"' + ("," + fields if fields else "")
        return "{" + fields + "}"

    def _tool_delta(self, event: Event) -> dict[str, object]:
        call = self.plan.tool_call
        assert call is not None
        fragments = "".join(call.fragment(i - 1) for i in range(max(event.start, 1), event.start + event.tokens))
        if event.start:
            return {"index": 0, "function": {"arguments": fragments}}
        return {"index": 0, "id": self.tool_call_id, "type": "function",
                "function": {"name": call.name, "arguments": fragments}}

    def usage(self) -> dict[str, object]:
        prompt, completion = self.params.prompt_tokens, self.plan.completion_tokens
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "completion_tokens_details": {"reasoning_tokens": self.plan.reasoning_tokens}}

    def body(self) -> bytes:
        """The whole non-streaming response."""
        plan = self.plan
        content = _words("tok", 0, plan.content_tokens)
        if not self.params.chat:
            choice: dict[str, object] = {"text": content, "index": 0, "logprobs": None}
        else:
            message: dict[str, object] = {"role": "assistant", "content": None if plan.tool_call else content}
            if plan.reasoning_tokens:
                message["reasoning_content"] = _words("think", 0, plan.reasoning_tokens)
            if plan.tool_call:
                message["tool_calls"] = [{"id": self.tool_call_id, "type": "function", "function": {
                    "name": plan.tool_call.name, "arguments": plan.tool_call.arguments}}]
            choice = {"index": 0, "message": message, "logprobs": None}
        choice["finish_reason"] = plan.finish_reason
        kind = "chat.completion" if self.params.chat else "text_completion"
        return json.dumps({"id": self.id, "object": kind, "created": self.created, "model": self.params.model,
                           "choices": [choice], "usage": self.usage()}).encode()
