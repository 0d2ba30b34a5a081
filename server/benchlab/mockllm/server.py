"""The mock server: a minimal HTTP/1.1 server on asyncio protocols that paces OpenAI (and Anthropic) responses
precisely.

Why not Starlette/uvicorn: every streamed event must leave at its due time with one write each, and the
server must stay cheap at hundreds of concurrent streams. A protocol-level server writes each SSE event as
one HTTP chunk straight to the transport (TCP_NODELAY, no buffering layers, no per-event coroutine switch),
and a single `Pacer` owns all due times. Supported HTTP: Content-Length request bodies, keep-alive,
pipelined requests answered in order, chunked responses for streams, Content-Length for the rest.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import itertools
import json
import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from benchlab.mockllm import anthropic
from benchlab.mockllm.answers import AnswerKey, answer_reply, load_answer_key, prompt_of
from benchlab.mockllm.anthropic import MESSAGES_PATH, OVERLOADED_STATUS, AnthropicWire
from benchlab.mockllm.behaviour import (
    Behaviour,
    InvalidRequest,
    Plan,
    Reply,
    RequestParams,
    parse_model_name,
    plan_response,
)
from benchlab.mockllm.ground_truth import GroundTruthLog, RequestRecord
from benchlab.mockllm.http11 import Connection, Request, http_head, json_response, response_headers
from benchlab.mockllm.judge import judge_reply
from benchlab.mockllm.pacer import Pacer, monotonic_ns
from benchlab.mockllm.wire import Wire, error_body

LOG_SLICE_EVERY_S, LOG_SLICE_NS = 0.005, 250_000  # ground-truth writing takes at most 5 % of a core
OVERLOADED = "Overloaded (mock fault overloaded)"


class Exchange:
    """Sends one planned response on the pacer's schedule, applies its fault, and records every write."""

    def __init__(self, server: MockLLMServer, conn: Connection, request: Request, plan: Plan,
                 record: RequestRecord) -> None:
        self.server, self.conn, self.request, self.plan, self.record = server, conn, request, plan, record
        self.anthropic = request.path == MESSAGES_PATH
        self.wire = (AnthropicWire if self.anthropic else Wire)(plan, record.request_index)
        self.index = self.shift_ns = self.due_ns = 0
        self.data = b""
        # Anthropic reports being overloaded mid-stream with an error event; everywhere else it is a status.
        self.overload_in_stream = plan.fault == "overloaded" and self.anthropic and plan.params.stream
        stops = plan.fault in ("disconnect", "stall") or self.overload_in_stream
        self.fault_at = min(plan.behaviour.fault_after_events, len(plan.events) - 1) if stops else -1
        self.done = False
        conn.on_close = self._client_closed

    def start(self) -> None:
        plan = self.plan
        if plan.fault == "429":
            retry = plan.behaviour.retry_after_s
            retry_headers = [("retry-after", str(math.ceil(retry))), ("retry-after-ms", str(round(retry * 1e3)))]
            self.server.send_error(self.conn, self.request, self.record, 429, "Rate limit reached (mock fault 429)",
                                   "requests", "rate_limit_exceeded", retry_headers)
        elif plan.fault == "500":
            self.server.send_error(self.conn, self.request, self.record, 500,
                                   "The server had an error while processing your request (mock fault 500)",
                                   "server_error")
        elif plan.fault == "overloaded" and not self.overload_in_stream:
            self.server.send_error(self.conn, self.request, self.record,
                                   OVERLOADED_STATUS if self.anthropic else 503, OVERLOADED, "server_error",
                                   "overloaded")
        else:
            if plan.params.stream:
                self.conn.write(http_head(200, [("content-type", "text/event-stream; charset=utf-8"),
                                                ("cache-control", "no-cache"), ("transfer-encoding", "chunked"),
                                                *response_headers(self.request, self.record.request_id)]))
                self.record.status = 200
            self._schedule()

    def _schedule(self) -> None:
        """Pick the next event's due time and render its bytes now, while this code is hot in the CPU cache:
        measured after a 10 ms idle gap, rendering at the due time made the write ~70 µs late."""
        event = self.plan.events[self.index]
        self.due_ns = self.request.arrival_ns + event.due_ns + self.shift_ns
        if self.index == self.fault_at:
            self.fault_at = -1
            if self.plan.fault == "disconnect":
                self.server.pacer.call_at(self.due_ns, self._disconnect)
                return
            if self.plan.fault == "overloaded":
                self.server.pacer.call_at(self.due_ns, self._overloaded)
                return
            stall_ms = self.plan.behaviour.stall_ms
            if stall_ms is None:
                return  # stalled until the client gives up
            self.shift_ns = round(stall_ms * 1e6)
            self.due_ns += self.shift_ns
        if self.plan.params.stream:
            self.data = self.wire.event(event)
        else:
            self.data = json_response(200, self.wire.body(), response_headers(self.request, self.record.request_id))
        self.server.pacer.call_at(self.due_ns, self._write)

    def _write(self) -> None:
        if self.done:
            return
        event = self.plan.events[self.index]
        sent = monotonic_ns()
        taken = self.conn.write(self.data)
        now = monotonic_ns()
        self.record.status = 200
        self.record.add_event(event.kind, event.tokens, self.due_ns, sent, now)
        self.record.buffered_writes += not taken
        self.index += 1
        if self.index < len(self.plan.events):
            self._schedule()
        else:
            self._end("completed", now, keep_alive=True)

    def _disconnect(self) -> None:
        if self.done:
            return
        sent = monotonic_ns()
        self.conn.abort()
        now = monotonic_ns()
        self.record.add_event("disconnect", 0, self.due_ns, sent, now)
        self._end("disconnected", now, keep_alive=False)

    def _overloaded(self) -> None:
        """The stream ends with Anthropic's overloaded_error event instead of this event and the rest."""
        if self.done:
            return
        assert isinstance(self.wire, AnthropicWire)
        data = self.wire.error_event(OVERLOADED)
        sent = monotonic_ns()
        taken = self.conn.write(data)
        now = monotonic_ns()
        self.record.add_event("error", 0, self.due_ns, sent, now)
        self.record.buffered_writes += not taken
        self.record.error = OVERLOADED
        self._end("error", now, keep_alive=True)

    def _client_closed(self) -> None:
        self._end("client_closed", monotonic_ns(), keep_alive=False)

    def _end(self, outcome: str, now: int, keep_alive: bool) -> None:
        if self.done:
            return
        self.done = True
        self.record.outcome, self.record.end_ns = outcome, now
        self.server.log(self.record)
        self.conn.end_response(keep_alive and self.request.keep_alive)


ROUTES = {"/v1/models": "GET", "/v1/chat/completions": "POST", "/v1/completions": "POST", MESSAGES_PATH: "POST"}


class UnknownModel(InvalidRequest):
    """The model name's base is not served (404, like OpenAI and Anthropic)."""


class MockLLMServer:
    """The synthetic OpenAI-compatible (and Anthropic) server (see the package docstring); one asyncio loop, one
    process.

    Request ordinals, fault_times counters and the ground-truth log live in this object, which is why the
    server does not fork workers: determinism and one exact log matter more here than throughput.
    `answer_key`: an AnswerKey or the path of its file (read here, once; AnswerKeyError when unusable).
    """

    def __init__(self, behaviour: Behaviour | None = None, *, models: Sequence[str] = ("mock-llm",), seed: int = 0,
                 ground_truth: Path | None = None, spin_us: float = 200,
                 answer_key: AnswerKey | Path | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self.answer_key = load_answer_key(answer_key) if isinstance(answer_key, Path) else answer_key
        self.models = tuple(models)
        self._models_body = json.dumps({"object": "list", "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": "benchlab-mockllm"} for m in self.models]}).encode()
        self.seed = seed
        self.spin_ns = round(spin_us * 1000)
        self._log = GroundTruthLog(ground_truth) if ground_truth else None
        self._log_slice: asyncio.TimerHandle | None = None
        self._requests = 0
        self._connections = itertools.count(1)
        self._attempts: Counter[str] = Counter()
        self._server: asyncio.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.loop = asyncio.get_running_loop()
        self.pacer = Pacer(self.loop, self.spin_ns)
        self._server = await self.loop.create_server(lambda: Connection(self, next(self._connections)), host, port,
                                                     backlog=4096)
        gc.freeze()  # start-up objects never need scanning again: shorter collector pauses while serving

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self.pacer.close()
        if self._log_slice is not None:
            self._log_slice.cancel()
        if self._log is not None:
            self._log.write_queued()
            self._log.close()
            self._log = None  # responses still ending during shutdown go unlogged

    def log(self, record: RequestRecord) -> None:
        if self._log is not None:
            self._log.add(record)
            if self._log_slice is None:
                self._log_slice = self.loop.call_later(LOG_SLICE_EVERY_S, self._write_log_slice)

    def _write_log_slice(self) -> None:
        assert self._log is not None
        self._log.write_queued(LOG_SLICE_NS)
        more = self._log.queued > 0
        self._log_slice = self.loop.call_later(LOG_SLICE_EVERY_S, self._write_log_slice) if more else None

    def handle(self, conn: Connection, request: Request) -> None:
        method = ROUTES.get(request.path)
        if method == request.method and request.path != "/v1/models":
            self._complete(conn, request, chat=request.path == "/v1/chat/completions")
            return
        if method == request.method:
            status, body = 200, self._models_body
            if self._log is not None:
                self._log.write_queued()  # the barrier readers of the ground truth rely on
        else:
            status = 405 if method else 404
            body = error_body(f"{request.method} {request.path} is not served here", "invalid_request_error")
        conn.write(json_response(status, body, response_headers(request, None)))
        conn.end_response(request.keep_alive)

    def _complete(self, conn: Connection, request: Request, chat: bool) -> None:
        self._requests += 1
        # Attempts of one logical request share a key: X-Mock-Request-Key, else X-Request-ID (a client that
        # retries with the same request id, as benchlab's engine does, needs no mock-specific header).
        key = request.headers.get("x-mock-request-key") or request.headers.get("x-request-id")
        record = RequestRecord(request.headers.get("x-request-id") or key or f"req-{self._requests}",
                               self._requests, conn.id, conn.requests, request.path, request.first_byte_ns,
                               request.arrival_ns)
        try:
            plan = self._plan(request, chat, key, record)
        except InvalidRequest as exc:
            status, code = (404, "model_not_found") if isinstance(exc, UnknownModel) else (400, None)
            self.send_error(conn, request, record, status, str(exc), "invalid_request_error", code)
            return
        record.plan = plan
        Exchange(self, conn, request, plan, record).start()

    def _plan(self, request: Request, chat: bool, key: str | None, record: RequestRecord) -> Plan:
        try:
            body = json.loads(request.body)
            header = json.loads(request.headers.get("x-mock-behaviour") or "{}")
        except ValueError as exc:
            raise InvalidRequest(f"the body and X-Mock-Behaviour must be JSON: {exc}") from None
        if not isinstance(header, dict):
            raise InvalidRequest("X-Mock-Behaviour must be a JSON object")
        if request.path == MESSAGES_PATH:
            params = RequestParams.from_anthropic_body(body)
        else:
            params = RequestParams.from_body(body, chat)
        record.model, record.stream, record.seed = params.model, params.stream, params.seed
        base, overrides = parse_model_name(params.model)
        if base not in self.models:
            raise UnknownModel(f"The model {base!r} does not exist; served: {list(self.models)}")
        behaviour = self.behaviour.with_overrides(overrides).with_overrides(header)
        if behaviour.fault and behaviour.fault_times is not None:
            self._attempts[key or ""] += 1
            record.attempt = self._attempts[key or ""]
            if record.attempt > behaviour.fault_times:
                behaviour = dataclasses.replace(behaviour, fault=None)
        reply = None
        if behaviour.judge or behaviour.answer is not None or self.answer_key is not None:  # off: no extra work
            reply = self._reply(body, params, behaviour)
        stream = f"seed={params.seed}" if params.seed is not None else str(record.request_index)
        return plan_response(behaviour, params, random.Random(f"{self.seed}:{stream}"), reply)

    def _reply(self, body: Mapping[str, object], params: RequestParams, behaviour: Behaviour) -> Reply | None:
        """The known output: a judge verdict (judge.py) or a known answer (answers.py), else None."""
        prompt = prompt_of(body, params.chat)
        if behaviour.judge:
            return judge_reply(behaviour, prompt)
        return answer_reply(behaviour, params, prompt, self.answer_key, self.seed)

    def send_error(self, conn: Connection, request: Request, record: RequestRecord, status: int, message: str,
                   kind: str, code: str | None = None, headers: Sequence[tuple[str, str]] = ()) -> None:
        """Answer a completion request with an error at once (in the format of its API), and log it."""
        record.error = message
        if request.path == MESSAGES_PATH:
            body = anthropic.error_body(status, message)
        else:
            body = error_body(message, kind, code)
        data = json_response(status, body, [*headers, *response_headers(request, record.request_id)])
        sent = monotonic_ns()
        taken = conn.write(data)
        now = monotonic_ns()
        record.add_event("response", 0, request.arrival_ns, sent, now)
        record.buffered_writes += not taken
        record.status, record.outcome, record.end_ns = status, "error", now
        self.log(record)
        conn.end_response(request.keep_alive)
