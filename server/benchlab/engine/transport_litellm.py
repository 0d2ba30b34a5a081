"""Requests through litellm, so every provider it supports works (Anthropic, Bedrock, Vertex, Azure, …).

Timestamps are taken as litellm yields each chunk, i.e. after its per-chunk processing (~0.4 ms CPU each);
at high concurrency that overhead queues up and inflates gaps, so OpenAI-compatible endpoints default to the
direct transport. `benchmarks/timing_accuracy.py` measures the difference.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import httpx

from benchlab.engine.response import ChunkAccumulator, ErrorType, ResponseRecord, error_type_for_status
from benchlab.engine.transport_direct import LLMRequest

# litellm's loggers; at import it gives them a handler that writes records below WARNING to stdout.
LITELLM_LOGGERS = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")


def import_litellm() -> ModuleType:
    """The litellm module, silenced: the way every benchlab module should import it."""
    import litellm  # imported lazily: ~2 s, and only runs that use this path need it

    litellm.disable_streaming_logging = True
    litellm.telemetry = False
    # Nothing from litellm may reach stdout, which carries `benchlab run --json`: without this it prints
    # "Give Feedback / Get Help" on every mapped error and "Provider List" on an unknown model (also from the
    # cost lookup), and with set_verbose its debug lines. Its log records go through our handlers, to stderr.
    litellm.suppress_debug_info = True
    litellm.set_verbose = False
    for name in LITELLM_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(max(logging.WARNING, logging.getLogger().getEffectiveLevel()))
    return litellm


class LiteLLMTransport:
    def __init__(self, provider_type: str, api_base: str | None, api_key: str | None, *, timeout_s: float,
                 warm_up_model: str | None = None) -> None:
        self.provider_type = provider_type
        self.warm_up_model = warm_up_model
        self.api_base = api_base
        # The OpenAI SDK underneath refuses to send without a key; self-hosted endpoints ignore it.
        self._api_key = api_key or ("not-needed" if api_base else None)
        self.timeout_s = timeout_s
        self._litellm = import_litellm()

    async def warm_up(self, connections: int) -> None:
        """Pay litellm's one-time set-up (lazy imports, client construction: 0.5-1.5 s) before measuring.

        Like vLLM's benchmark, this sends one real 1-token request to the provider (not recorded); without it the
        first measured request reads hundreds of milliseconds slow. Failures surface on the real requests.
        """
        if self.warm_up_model is None:
            return
        with contextlib.suppress(Exception):
            await self.send(LLMRequest(self.warm_up_model, messages=[{"role": "user", "content": "Hi"}],
                                       params={"max_tokens": 1}))

    async def close(self) -> None:
        """Connections belong to litellm's shared clients."""

    async def send(self, request: LLMRequest) -> ResponseRecord:
        litellm = self._litellm
        kwargs: dict[str, Any] = {
            "model": f"{self.provider_type}/{request.model}", "api_base": self.api_base, "api_key": self._api_key,
            "stream": request.stream, "timeout": self.timeout_s, "num_retries": 0, "extra_headers": request.headers,
            **request.params,
        }
        if request.stream:
            kwargs["stream_options"] = {"include_usage": True}
        record = ResponseRecord(send_ns=time.perf_counter_ns())
        accumulator = ChunkAccumulator(record)
        try:
            async with asyncio.timeout(self.timeout_s):
                if request.messages is not None:
                    response = await litellm.acompletion(messages=request.messages, **kwargs)
                else:
                    response = await litellm.atext_completion(prompt=request.prompt, **kwargs)
                record.http_status = 200
                if request.stream:
                    async for chunk in response:
                        _add_chunk(accumulator, time.perf_counter_ns(), chunk)
                else:
                    _add_chunk(accumulator, time.perf_counter_ns(), response, whole=True)
        except TimeoutError:
            record.error_type = ErrorType.TIMEOUT
            record.error_message = f"no complete answer within {self.timeout_s:g} s"
        except Exception as exc:  # litellm maps every provider failure onto its exception classes
            _classify(record, exc, litellm, self._api_key)
        return accumulator.finish(time.perf_counter_ns())


def _add_chunk(accumulator: ChunkAccumulator, t_ns: int, chunk: Any, whole: bool = False) -> None:
    choices = getattr(chunk, "choices", None) or []
    choice = choices[0] if choices else None
    delta = (getattr(choice, "message", None) if whole else getattr(choice, "delta", None)) if choice else None
    calls = []
    for index, call in enumerate(getattr(delta, "tool_calls", None) or []):
        function = getattr(call, "function", None)
        calls.append({"index": getattr(call, "index", index), "id": getattr(call, "id", None),
                      "function": {"name": getattr(function, "name", None),
                                   "arguments": getattr(function, "arguments", None)}})
    usage = getattr(chunk, "usage", None)
    accumulator.add(
        t_ns,
        content=getattr(delta, "content", None) or (getattr(choice, "text", None) if choice else None),
        reasoning=getattr(delta, "reasoning_content", None),
        tool_calls=calls,
        finish_reason=getattr(choice, "finish_reason", None) if choice else None,
        usage=usage.model_dump() if usage is not None and hasattr(usage, "model_dump") else None,
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and what it wraps, outermost first: litellm keeps the provider SDK's error in `original_exception`,
    the SDK chains httpx's, httpx chains the socket's."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = (getattr(current, "original_exception", None) or current.__cause__
                   or (None if current.__suppress_context__ else current.__context__))


def _connection_failure(exc: BaseException, streaming: bool) -> tuple[ErrorType, str] | None:
    """(error type, message) when the connection failed, reported as the direct transport reports it.

    litellm labels these HTTP 500 (`InternalServerError: Connection error.`, `MidStreamFallbackError`), which
    would read as the server's fault; the cause underneath tells a refused or unreachable endpoint, a
    connection closed mid-response, and a client-side timeout apart.
    """
    for cause in _chain(exc):
        if isinstance(cause, httpx.TimeoutException | TimeoutError):
            return ErrorType.TIMEOUT, f"timed out: {_first_line(cause) or type(cause).__name__}"
        if isinstance(cause, httpx.ConnectError | ConnectionRefusedError):
            reasons = [c.strerror for c in _chain(cause) if isinstance(c, OSError) and c.strerror]
            return ErrorType.CONNECT_ERROR, f"cannot connect: {reasons[-1] if reasons else _first_line(cause)}"
        if isinstance(cause, httpx.TransportError | ConnectionError):
            where = "mid-response" if streaming else "before the response was complete"
            return ErrorType.DISCONNECTED, f"the server closed the connection {where}"
    return None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [""])[0]


def _classify(record: ResponseRecord, exc: Exception, litellm: ModuleType, api_key: str | None) -> None:
    failure = _connection_failure(exc, streaming=record.http_status == 200)
    if failure is not None:  # no HTTP status of its own: a stream that had started keeps its 200
        record.error_type, record.error_message = failure
        return
    status = getattr(exc, "status_code", 0) or 0
    record.http_status = int(status) if isinstance(status, int) else 0
    if isinstance(exc, litellm.Timeout):
        record.error_type = ErrorType.TIMEOUT
    elif isinstance(exc, litellm.RateLimitError):
        record.error_type = ErrorType.RATE_LIMITED
    elif isinstance(exc, (litellm.AuthenticationError, litellm.PermissionDeniedError)):
        record.error_type = ErrorType.AUTH
    elif isinstance(exc, (litellm.BadRequestError, litellm.NotFoundError)):
        record.error_type = ErrorType.BAD_REQUEST
    elif isinstance(exc, litellm.APIConnectionError) and not record.http_status:
        record.error_type = ErrorType.DISCONNECTED
    elif record.http_status:
        record.error_type = error_type_for_status(record.http_status)
    else:
        record.error_type = ErrorType.OTHER
    response = getattr(exc, "response", None)
    retry_after = getattr(response, "headers", {}).get("retry-after") if response is not None else None
    if retry_after:
        with contextlib.suppress(ValueError):
            record.retry_after_s = float(retry_after)
    detail = _first_line(exc)
    if api_key:
        detail = detail.replace(api_key, "***")
    status = f" (HTTP {record.http_status})" if record.http_status else ""
    record.error_message = f"{type(exc).__name__}{status}: {detail[:300]}"
