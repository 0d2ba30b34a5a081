"""A litellm callback that records an application's LLM calls in Benchlab as production traffic.

    import litellm
    from benchlab.client.litellm_callback import BenchlabCallback
    litellm.callbacks = [BenchlabCallback(url="https://benchlab.example.com", api_key="blk_...")]

(or `BenchlabCallback()` with `BENCHLAB_URL` and `BENCHLAB_API_KEY` set; in the litellm proxy's config,
`litellm_settings: callbacks: ["benchlab.client.litellm_callback.proxy_handler"]`, configured from the same
variables). Every chat or text completion, sync or async, streamed or not, succeeded or failed, becomes one
span following the OpenTelemetry GenAI semantic conventions (times, TTFT from litellm's `completion_start_time`
for streams, tokens, `response_cost`, model and provider, status, input messages and output text), sent as
OTLP/JSON to the server's `/v1/traces`: the same mapping as any other OTel producer (ingest/otlp.py), so
production rows mean one thing whoever sent them.

The application's latency is not touched: the hook only copies a few values into a bounded in-memory queue
(never blocking; a full queue drops the call and counts it in `dropped`), and a daemon thread batches the queue
and POSTs it, retrying 429/5xx and connection errors with exponential backoff (honouring Retry-After). A batch
sent twice is written once: each span's ids derive from litellm's call id, and the server deduplicates a batch
by its span ids, so no Idempotency-Key is needed. At exit the queue is flushed for at most `exit_timeout_s`.
The API key is only ever in the Authorization header: never in logs, exceptions or `repr`.

This module is client side: it imports httpx, the standard library and litellm only, never the server.
"""

from __future__ import annotations

import atexit
import contextlib
import gzip
import hashlib
import json
import logging
import os
import queue
import random
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from litellm.integrations.custom_logger import CustomLogger

log = logging.getLogger(__name__)

TRACES_PATH = "/v1/traces"
SCOPE = "benchlab.client.litellm_callback"
# litellm call types that are one completion (chat or text); embeddings, images, ... are not recorded.
_CHAT_CALLS = frozenset({"completion", "acompletion"})
_TEXT_CALLS = frozenset({"text_completion", "atext_completion"})
_RETRYABLE = frozenset({429, 502, 503, 504})
_MAX_TEXT = 1_000_000  # characters of input or output kept per call


@dataclass(frozen=True)
class _Call:
    """What one call left behind, copied on the caller's path (cheap); the span is built on the sender thread."""

    call_id: str
    operation: str
    start_s: float
    end_s: float
    first_chunk_s: float | None
    provider: str
    request_model: str
    response_model: str
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    cached_tokens: int
    cost_usd: float | None
    error_type: str
    error_message: str
    http_status: int
    finish_reason: str
    messages: Any
    output: str


class BenchlabCallback(CustomLogger):
    """Sends each litellm completion to Benchlab (`/v1/traces`) from a background thread.

    `dropped` counts calls lost to a full queue, `sent` the spans the server took, `failed` those given up after
    `max_retries` or refused by the server (its reason is logged), `rejected` those it did not store (not
    valid as LLM calls; the reason is logged).
    """

    def __init__(self, url: str | None = None, api_key: str | None = None, *, max_queue: int = 10_000,
                 batch_size: int = 256, flush_interval_s: float = 1.0, timeout_s: float = 10.0,
                 max_retries: int = 5, exit_timeout_s: float = 5.0, record_content: bool = True,
                 service_name: str | None = None) -> None:
        super().__init__()
        url = url or os.environ.get("BENCHLAB_URL", "")
        api_key = api_key or os.environ.get("BENCHLAB_API_KEY", "")
        if not url or not api_key:
            raise ValueError("BenchlabCallback needs the server's URL and an API key (role member or above): pass "
                             "url= and api_key=, or set BENCHLAB_URL and BENCHLAB_API_KEY")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"BenchlabCallback: url must start with http:// or https://, not '{url[:60]}'")
        base = url.rstrip("/")
        self.endpoint = base if base.endswith(TRACES_PATH) else base + TRACES_PATH
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json",
                         "Content-Encoding": "gzip"}
        self.batch_size, self.flush_interval_s, self.timeout_s = batch_size, flush_interval_s, timeout_s
        self.max_retries, self.exit_timeout_s, self.record_content = max_retries, exit_timeout_s, record_content
        self.service_name = service_name or os.environ.get("OTEL_SERVICE_NAME") or "litellm-app"
        self.dropped = self.sent = self.failed = self.rejected = 0
        self._queue: queue.Queue[_Call | None] = queue.Queue(maxsize=max_queue)
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, None] = OrderedDict()  # call ids already queued (a call is logged once)
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._deadline: float | None = None   # monotonic time the exit flush must end by
        self._closed = False
        self._wake = threading.Event()         # set by close(): a retry waits no longer
        atexit.register(_close_at_exit, weakref.ref(self))

    @property
    def queued(self) -> int:
        """Calls waiting to be sent."""
        return self._queue.qsize()

    def __repr__(self) -> str:
        return f"BenchlabCallback(endpoint={self.endpoint!r})"

    # -- litellm's hooks: copy, enqueue, return ---------------------------------------------------------------------

    def log_success_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: datetime,
                          end_time: datetime) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=False)

    def log_failure_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: datetime,
                          end_time: datetime) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=True)

    async def async_log_success_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: datetime,
                                      end_time: datetime) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=False)

    async def async_log_failure_event(self, kwargs: dict[str, Any], response_obj: Any, start_time: datetime,
                                      end_time: datetime) -> None:
        self._record(kwargs, response_obj, start_time, end_time, failed=True)

    def _record(self, kwargs: dict[str, Any], response_obj: Any, start_time: datetime, end_time: datetime, *,
                failed: bool) -> None:
        """Never raises: a logging problem must not reach the application."""
        try:
            call = self._call(kwargs, response_obj, start_time, end_time, failed)
        except Exception as exc:  # a shape of kwargs this litellm version does not have: skip the call, say so
            log.warning("benchlab callback: could not read a litellm call (%s: %s)", type(exc).__name__, exc)
            return
        if call is None or self._closed:
            return
        with self._lock:
            if call.call_id in self._recent:
                return
            self._recent[call.call_id] = None
            if len(self._recent) > 10_000:
                self._recent.popitem(last=False)
        self._ensure_thread()
        try:
            self._queue.put_nowait(call)
        except queue.Full:
            with self._lock:
                self.dropped += 1
                dropped = self.dropped
            if dropped == 1 or dropped % 1000 == 0:
                log.warning("benchlab callback: the queue is full (%d calls); %d call(s) dropped so far",
                            self._queue.maxsize, dropped)

    def _call(self, kwargs: dict[str, Any], response_obj: Any, start_time: datetime, end_time: datetime,
              failed: bool) -> _Call | None:
        call_type = str(kwargs.get("call_type") or "")
        if call_type not in _CHAT_CALLS | _TEXT_CALLS:
            return None
        payload = kwargs.get("standard_logging_object") or {}
        params = kwargs.get("litellm_params") or {}
        start_s = payload.get("startTime") or _epoch(start_time)
        end_s = payload.get("endTime") or _epoch(end_time)
        first = kwargs.get("completion_start_time")
        streamed = bool(kwargs.get("stream") or payload.get("stream"))
        usage = getattr(response_obj, "usage", None) if not failed else None
        exception = kwargs.get("exception") if failed else None
        choice = _first_choice(response_obj) if not failed else None
        cost = kwargs.get("response_cost")
        cost_known = (cost is not None and not failed and not payload.get("response_cost_failure_debug_info"))
        return _Call(
            call_id=str(kwargs.get("litellm_call_id") or payload.get("id") or uuid.uuid4()),
            operation="chat" if call_type in _CHAT_CALLS else "text_completion",
            start_s=float(start_s), end_s=float(end_s),
            first_chunk_s=_epoch(first) if streamed and isinstance(first, datetime) and not failed else None,
            provider=str(payload.get("custom_llm_provider") or params.get("custom_llm_provider") or ""),
            request_model=str(kwargs.get("model") or payload.get("model") or ""),
            response_model=str(getattr(response_obj, "model", "") or "") if not failed else "",
            prompt_tokens=_int(getattr(usage, "prompt_tokens", 0)),
            completion_tokens=_int(getattr(usage, "completion_tokens", 0)),
            reasoning_tokens=_int(getattr(getattr(usage, "completion_tokens_details", None), "reasoning_tokens", 0)),
            cached_tokens=_int(getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", 0)),
            cost_usd=float(cost) if cost_known and cost is not None else None,
            error_type=type(exception).__name__ if exception is not None else ("error" if failed else ""),
            error_message=str(exception)[:2000] if exception is not None else "",
            http_status=_int(getattr(exception, "status_code", 0)) if failed else 200,
            finish_reason=str(getattr(choice, "finish_reason", "") or ""),
            messages=(kwargs.get("messages") if call_type in _CHAT_CALLS else kwargs.get("prompt"))
            if self.record_content else None,
            output=_text_of(choice) if self.record_content else "",
        )

    # -- the sender thread ------------------------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        """Start the sender on first use, and again in a child process after a fork (threads do not survive it)."""
        if self._thread is not None and self._pid == os.getpid():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="benchlab-litellm-callback", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=self.timeout_s) as client:
            stopping = False
            while not stopping:
                try:
                    first = self._queue.get(timeout=1.0)
                except queue.Empty:
                    if self._closed:  # closed while the queue was too full for the end marker
                        break
                    continue
                if first is None:
                    self._queue.task_done()
                    break
                batch = [first]
                flush_by = time.monotonic() + self.flush_interval_s
                while len(batch) < self.batch_size:
                    try:
                        item = self._queue.get(timeout=max(0.0, flush_by - time.monotonic()))
                    except queue.Empty:
                        break
                    if item is None:
                        self._queue.task_done()
                        stopping = True
                        break
                    batch.append(item)
                try:
                    self._send(client, batch)
                except Exception as exc:  # the thread must survive anything a batch does
                    self._give_up(batch, f"{type(exc).__name__}: {exc}")
                finally:
                    for _ in batch:
                        self._queue.task_done()

    def _send(self, client: httpx.Client, batch: list[_Call]) -> None:
        body = gzip.compress(json.dumps(self._export(batch), default=str).encode())
        for attempt in range(self.max_retries + 1):
            delay = min(30.0, 0.5 * 2 ** attempt) * random.uniform(0.8, 1.2)
            try:
                response = client.post(self.endpoint, content=body, headers=self._headers,
                                       timeout=self._timeout())
            except httpx.HTTPError as exc:
                reason = f"{type(exc).__name__}"
            else:
                if response.status_code == 200:
                    self._accepted(batch, response)
                    return
                reason = f"HTTP {response.status_code}: {_server_message(response)}"
                if response.status_code not in _RETRYABLE:
                    self._give_up(batch, reason)
                    return
                delay = max(delay, min(30.0, _retry_after(response)))
            if attempt == self.max_retries or not self._wait(delay):
                break
            log.info("benchlab callback: sending %d span(s) failed (%s); retrying in %.1f s", len(batch), reason,
                     delay)
        self._give_up(batch, reason)

    def _timeout(self) -> float:
        if self._deadline is None:
            return self.timeout_s
        return max(0.05, min(self.timeout_s, self._deadline - time.monotonic()))

    def _wait(self, delay: float) -> bool:
        """Sleep before a retry (cut short by close()); False when the exit flush's time is up."""
        self._wake.wait(delay)
        return self._deadline is None or time.monotonic() < self._deadline

    def _accepted(self, batch: list[_Call], response: httpx.Response) -> None:
        partial: dict[str, Any] = {}
        with contextlib.suppress(ValueError):
            partial = response.json().get("partialSuccess") or {}
        rejected = int(partial.get("rejectedSpans") or 0)
        with self._lock:
            self.sent += len(batch) - rejected
            self.rejected += rejected
        if rejected:
            log.warning("benchlab callback: the server did not store %d span(s): %s", rejected,
                        partial.get("errorMessage", ""))

    def _give_up(self, batch: list[_Call], reason: str) -> None:
        with self._lock:
            self.failed += len(batch)
        log.warning("benchlab callback: %d span(s) not sent to %s (%s)", len(batch), self.endpoint, reason)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every queued call is sent (or given up); False if `timeout_s` passed first. For tests and
        for applications that want their calls recorded before they go on."""
        deadline = time.monotonic() + (timeout_s if timeout_s is not None else self.exit_timeout_s)
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0 or self._thread is None:
                return True
            time.sleep(0.01)
        return self._queue.unfinished_tasks == 0

    def close(self, timeout_s: float | None = None) -> None:
        """Send what is queued, within `timeout_s` (default `exit_timeout_s`), then stop; run at exit."""
        if self._closed:
            return
        self._closed = True
        timeout = self.exit_timeout_s if timeout_s is None else timeout_s
        self._deadline = time.monotonic() + timeout
        self._wake.set()
        thread = self._thread
        if thread is None or self._pid != os.getpid() or not thread.is_alive():
            return
        with contextlib.suppress(queue.Full):  # a full queue: the sender works through it until the deadline
            self._queue.put_nowait(None)
        thread.join(max(0.0, self._deadline - time.monotonic()))
        unsent = self._queue.qsize()
        if thread.is_alive() or unsent:
            log.warning("benchlab callback: stopped with about %d call(s) unsent after %.1f s", unsent, timeout)

    # -- OTLP/JSON --------------------------------------------------------------------------------------------------

    def _export(self, batch: list[_Call]) -> dict[str, Any]:
        return {"resourceSpans": [{
            "resource": {"attributes": _attributes({"service.name": self.service_name})},
            "scopeSpans": [{"scope": {"name": SCOPE}, "spans": [_span(call) for call in batch]}],
        }]}


def _span(call: _Call) -> dict[str, Any]:
    """One call as an OTLP/JSON span with the GenAI semantic conventions' attributes."""
    try:
        trace_id = uuid.UUID(call.call_id).hex
    except ValueError:
        trace_id = hashlib.sha256(call.call_id.encode()).hexdigest()[:32]
    span_id = hashlib.sha256(f"{call.call_id}:span".encode()).hexdigest()[:16]
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": call.operation, "gen_ai.provider.name": call.provider,
        "gen_ai.request.model": call.request_model, "gen_ai.response.model": call.response_model,
        "gen_ai.usage.input_tokens": call.prompt_tokens, "gen_ai.usage.output_tokens": call.completion_tokens,
        "gen_ai.usage.reasoning.output_tokens": call.reasoning_tokens,
        "gen_ai.usage.cache_read.input_tokens": call.cached_tokens, "litellm.call_id": call.call_id,
    }
    if call.http_status:
        attrs["http.response.status_code"] = call.http_status
    if call.first_chunk_s is not None and call.first_chunk_s >= call.start_s:
        attrs["gen_ai.response.time_to_first_chunk"] = call.first_chunk_s - call.start_s
    if call.cost_usd is not None:
        attrs["gen_ai.usage.cost"] = call.cost_usd
    if call.finish_reason:
        attrs["gen_ai.response.finish_reasons"] = [call.finish_reason]
    if call.error_type:
        attrs["error.type"] = call.error_type
    if call.messages is not None:
        messages = call.messages if isinstance(call.messages, list) else [{"role": "user", "content": call.messages}]
        attrs["gen_ai.input.messages"] = json.dumps(messages, default=str)[:_MAX_TEXT]
    if call.output:
        attrs["gen_ai.output.messages"] = json.dumps([{"role": "assistant", "parts": [
            {"type": "text", "content": call.output[:_MAX_TEXT]}], "finish_reason": call.finish_reason}])
    start_ns, end_ns = int(call.start_s * 1e9), int(max(call.end_s, call.start_s) * 1e9)
    return {"traceId": trace_id, "spanId": span_id, "name": f"{call.operation} {call.request_model}".strip(),
            "kind": 3, "startTimeUnixNano": str(start_ns), "endTimeUnixNano": str(end_ns),
            "attributes": _attributes(attrs),
            "status": {"code": 2, "message": call.error_message} if call.error_type else {"code": 1}}


def _attributes(attrs: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in attrs.items() if value not in ("", None)]


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, list):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    return {"stringValue": str(value)}


def _epoch(moment: Any) -> float:
    """litellm's times are naive local datetimes (datetime.now()); `timestamp()` reads them as local time."""
    return moment.timestamp() if isinstance(moment, datetime) else float(moment or 0)


def _int(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def _first_choice(response_obj: Any) -> Any:
    choices = getattr(response_obj, "choices", None)
    return choices[0] if choices else None


def _text_of(choice: Any) -> str:
    message = getattr(choice, "message", None)
    content = getattr(message, "content", None) if message is not None else getattr(choice, "text", None)
    return content[:_MAX_TEXT] if isinstance(content, str) else ""


def _server_message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", ""))[:300]
    except ValueError:
        return response.text[:300]


def _retry_after(response: httpx.Response) -> float:
    try:
        return float(response.headers.get("retry-after", 0))
    except ValueError:
        return 0.0


def _close_at_exit(ref: weakref.ReferenceType[BenchlabCallback]) -> None:
    callback = ref()
    if callback is not None:
        callback.close()


_proxy_handler: BenchlabCallback | None = None


def __getattr__(name: str) -> BenchlabCallback:
    """`proxy_handler`: the instance the litellm proxy's config names (`litellm_settings: callbacks:
    ["benchlab.client.litellm_callback.proxy_handler"]`), made on first use from BENCHLAB_URL and
    BENCHLAB_API_KEY, so importing this module alone creates nothing."""
    global _proxy_handler
    if name != "proxy_handler":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _proxy_handler is None:
        _proxy_handler = BenchlabCallback()
    return _proxy_handler
