"""The mock server: a minimal HTTP/1.1 server on asyncio protocols that paces OpenAI responses precisely.

Why not Starlette/uvicorn: every streamed event must leave at its due time with one write each, and the
server must stay cheap at hundreds of concurrent streams. A protocol-level server writes each SSE event as
one HTTP chunk straight to the transport (TCP_NODELAY, no buffering layers, no per-event coroutine switch),
and a single `Pacer` owns all due times. Supported HTTP: Content-Length request bodies, keep-alive,
pipelined requests answered in order, chunked responses for streams, Content-Length for the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import gc
import heapq
import itertools
import json
import math
import os
import random
import socket
import time
from collections import Counter
from collections.abc import Callable, Sequence
from http import HTTPStatus
from pathlib import Path
from typing import cast

from benchlab.mockllm.behaviour import (
    Behaviour,
    Event,
    InvalidRequest,
    Plan,
    RequestParams,
    parse_model_name,
    plan_response,
)
from benchlab.mockllm.ground_truth import GroundTruthLog, RequestRecord

monotonic_ns = time.monotonic_ns
MAX_HEAD_BYTES = 64 * 1024
MAX_PASS_NS = 500_000  # the pacer yields to I/O at least this often, even when events are back to back
SPIN_SHARE = 50  # busy-waiting may use 1/50 (2 %) of wall time: precise when idle, no CPU theft under load
SPIN_CREDIT_CAP_NS = 2_000_000
LOG_SLICE_EVERY_S, LOG_SLICE_NS = 0.005, 250_000  # ground-truth writing takes at most 5 % of a core


class _TimerFd:
    """A CLOCK_MONOTONIC timerfd armed at absolute ns times (Linux; Python 3.11 has no os.timerfd_*)."""

    class _ITimerSpec(ctypes.Structure):  # two struct timespec {tv_sec, tv_nsec}
        _fields_ = [("it_interval", ctypes.c_long * 2), ("it_value", ctypes.c_long * 2)]

    def __init__(self) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        clock_monotonic, nonblock_cloexec = 1, os.O_NONBLOCK | os.O_CLOEXEC
        self.fd = self._libc.timerfd_create(clock_monotonic, nonblock_cloexec)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._spec = self._ITimerSpec()

    def arm(self, at_ns: int) -> None:
        self._spec.it_value[:] = divmod(max(at_ns, 1), 1_000_000_000)  # 0 would disarm; past times fire at once
        self._libc.timerfd_settime(self.fd, 1, ctypes.byref(self._spec), None)  # 1 = TFD_TIMER_ABSTIME

    def clear(self) -> None:
        with contextlib.suppress(BlockingIOError):
            os.read(self.fd, 8)

    def close(self) -> None:
        os.close(self.fd)


class Pacer:
    """Runs callbacks at absolute `time.monotonic_ns()` times, tens of µs late at most instead of ~1 ms.

    asyncio and uvloop timers have millisecond resolution (epoll_wait, libuv); measured on a 2-vCPU VM an
    `asyncio.sleep` woke 0.15-0.6 ms late. A timerfd has ns resolution, but waking an idle vCPU still took
    ~70 µs (p99 ~250 µs), so the timer is armed `spin_ns` early and the rest is busy-waited. Spinning is
    rationed to SPIN_SHARE of the time: under load, when events are dense and a loaded client needs the CPU,
    the pacer simply wakes at the due time. A pass yields to I/O after MAX_PASS_NS. Where timerfd does not
    exist (not Linux) the loop's own timer is used, with its millisecond error.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, spin_ns: int) -> None:
        self._loop = loop
        self._spin_ns = spin_ns
        self._heap: list[tuple[int, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._firing = False
        self._handle: asyncio.TimerHandle | None = None
        self._spin_credit_ns, self._credit_at = 0, monotonic_ns()
        try:
            self._timer: _TimerFd | None = _TimerFd()
        except (OSError, AttributeError):
            self._timer = None
        else:
            loop.add_reader(self._timer.fd, self._fire)

    def call_at(self, due_ns: int, callback: Callable[[], None]) -> None:
        entry = (due_ns, next(self._order), callback)
        heapq.heappush(self._heap, entry)
        if not self._firing and self._heap[0] is entry:
            self._arm()

    def _credit(self) -> int:
        """Nanoseconds of busy-waiting allowed right now (refilled at SPIN_SHARE of elapsed time)."""
        now = monotonic_ns()
        self._spin_credit_ns = min(SPIN_CREDIT_CAP_NS, self._spin_credit_ns + (now - self._credit_at) // SPIN_SHARE)
        self._credit_at = now
        return self._spin_credit_ns

    def _arm(self) -> None:
        early_ns = self._heap[0][0] - self._spin_ns
        credit_then = self._credit() + max(0, early_ns - self._credit_at) // SPIN_SHARE  # refills while asleep
        wake_ns = early_ns if credit_then >= self._spin_ns else early_ns + self._spin_ns
        if self._timer is not None:
            self._timer.arm(wake_ns)
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self._loop.call_later(max(0, wake_ns - monotonic_ns()) / 1e9, self._fire)

    def _fire(self) -> None:
        if self._timer is not None:
            self._timer.clear()
        heap, started = self._heap, monotonic_ns()
        self._firing = True
        try:
            while heap:
                now = monotonic_ns()
                wait = heap[0][0] - now
                if wait > 0:
                    if wait > self._spin_ns or now - started > MAX_PASS_NS or wait > self._credit():
                        break
                    while monotonic_ns() < heap[0][0]:
                        pass
                    self._spin_credit_ns -= monotonic_ns() - now
                heapq.heappop(heap)[2]()
        finally:
            self._firing = False
            if heap:
                self._arm()

    def close(self) -> None:
        if self._timer is not None:
            self._loop.remove_reader(self._timer.fd)
            self._timer.close()
        if self._handle is not None:
            self._handle.cancel()


@dataclasses.dataclass(slots=True)
class Request:
    """One parsed HTTP request and when it was read (time.monotonic_ns)."""

    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    keep_alive: bool
    first_byte_ns: int
    arrival_ns: int


class _BadHttp(Exception):
    """The bytes are not an HTTP/1.1 request we serve; answered once, then the connection closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def http_head(status: int, headers: Sequence[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", *(f"{k}: {v}" for k, v in headers), "", ""]
    return "\r\n".join(lines).encode("latin-1")


def json_response(status: int, body: bytes, headers: Sequence[tuple[str, str]]) -> bytes:
    head = [("content-type", "application/json"), ("content-length", str(len(body))), *headers]
    return http_head(status, head) + body


def error_body(message: str, kind: str, code: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}}).encode()


class Connection(asyncio.Protocol):
    """One client connection: reads requests, hands them to the server one at a time, writes what it's given."""

    def __init__(self, server: MockLLMServer, connection_id: int) -> None:
        self.server = server
        self.id = connection_id
        self.requests = 0
        self.closed = False
        self.on_close: Callable[[], None] | None = None  # the response in progress, told if the client leaves
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._first_byte_ns = self._read_ns = 0
        self._busy = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's transports are not its subclasses
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        self._read_ns = monotonic_ns()
        if not self._buffer:
            self._first_byte_ns = self._read_ns
        self._buffer += data
        self._serve_next()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.on_close is not None:
            self.on_close()

    def write(self, data: bytes) -> bool:
        """Write at once; False when the kernel did not take it all (the rest waits in the transport)."""
        assert self._transport is not None
        self._transport.write(data)
        return self._transport.get_write_buffer_size() == 0

    def abort(self) -> None:
        assert self._transport is not None
        self._transport.abort()

    def end_response(self, keep_alive: bool) -> None:
        self.on_close = None
        self._busy = False
        if self.closed:
            return
        if not keep_alive:
            assert self._transport is not None
            self._transport.close()
        elif self._buffer:
            self.server.loop.call_soon(self._serve_next)

    def _serve_next(self) -> None:
        while not self._busy and not self.closed:
            try:
                request = self._parse()
            except _BadHttp as exc:
                self._busy = True
                body = error_body(str(exc), "invalid_request_error")
                self.write(json_response(exc.status, body, [("connection", "close")]))
                self.end_response(keep_alive=False)
                return
            if request is None:
                return
            self._busy = True
            self.requests += 1
            self.server.handle(self, request)

    def _parse(self) -> Request | None:
        head_end = self._buffer.find(b"\r\n\r\n")
        if head_end < 0:
            if len(self._buffer) > MAX_HEAD_BYTES:
                raise _BadHttp(431, "request head too large")
            return None
        lines = self._buffer[:head_end].decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadHttp(400, "malformed request line")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", "").lower():
            raise _BadHttp(411, "send the body with Content-Length; chunked request bodies are not supported")
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            raise _BadHttp(400, "bad Content-Length") from None
        end = head_end + 4 + length
        if len(self._buffer) < end:
            return None
        connection = headers.get("connection", "").lower()
        keep_alive = "close" not in connection if parts[2] == "HTTP/1.1" else "keep-alive" in connection
        request = Request(parts[0], parts[1].split("?", 1)[0], headers, bytes(self._buffer[head_end + 4:end]),
                          keep_alive, self._first_byte_ns, self._read_ns)
        del self._buffer[:end]
        self._first_byte_ns = self._read_ns  # a pipelined next request was read with this one
        return request


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


class Exchange:
    """Sends one planned response on the pacer's schedule, applies its fault, and records every write."""

    def __init__(self, server: MockLLMServer, conn: Connection, request: Request, plan: Plan,
                 record: RequestRecord) -> None:
        self.server, self.conn, self.request, self.plan, self.record = server, conn, request, plan, record
        self.wire = Wire(plan, record.request_index)
        self.index = self.shift_ns = self.due_ns = 0
        self.data = b""
        stops = plan.fault in ("disconnect", "stall")
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
        if self.plan.params.stream:
            self.data = self.wire.event(event)
        else:
            self.data = json_response(200, self.wire.body(), response_headers(self.request, self.record.request_id))
        if self.index == self.fault_at:
            self.fault_at = -1
            if self.plan.fault == "disconnect":
                self.server.pacer.call_at(self.due_ns, self._disconnect)
                return
            stall_ms = self.plan.behaviour.stall_ms
            if stall_ms is None:
                return  # stalled until the client gives up
            self.shift_ns = round(stall_ms * 1e6)
            self.due_ns += self.shift_ns
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

    def _client_closed(self) -> None:
        self._end("client_closed", monotonic_ns(), keep_alive=False)

    def _end(self, outcome: str, now: int, keep_alive: bool) -> None:
        if self.done:
            return
        self.done = True
        self.record.outcome, self.record.end_ns = outcome, now
        self.server.log(self.record)
        self.conn.end_response(keep_alive and self.request.keep_alive)


ROUTES = {"/v1/models": "GET", "/v1/chat/completions": "POST", "/v1/completions": "POST"}


class UnknownModel(InvalidRequest):
    """The model name's base is not served (404, like OpenAI)."""


class MockLLMServer:
    """The synthetic OpenAI-compatible server (see the package docstring); one asyncio loop, one process.

    Request ordinals, fault_times counters and the ground-truth log live in this object, which is why the
    server does not fork workers: determinism and one exact log matter more here than throughput.
    """

    def __init__(self, behaviour: Behaviour | None = None, *, models: Sequence[str] = ("mock-llm",), seed: int = 0,
                 ground_truth: Path | None = None, spin_us: float = 200) -> None:
        self.behaviour = behaviour or Behaviour()
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
        stream = f"seed={params.seed}" if params.seed is not None else str(record.request_index)
        return plan_response(behaviour, params, random.Random(f"{self.seed}:{stream}"))

    def send_error(self, conn: Connection, request: Request, record: RequestRecord, status: int, message: str,
                   kind: str, code: str | None = None, headers: Sequence[tuple[str, str]] = ()) -> None:
        """Answer a completion request with an OpenAI-style error at once, and log it."""
        record.error = message
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


def response_headers(request: Request, request_id: str | None) -> list[tuple[str, str]]:
    headers = [("server", "benchlab-mockllm")]
    if request_id is not None:
        headers.append(("x-request-id", request_id))
    if not request.keep_alive:
        headers.append(("connection", "close"))
    return headers
