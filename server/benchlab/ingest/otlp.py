"""OTLP traces → `request_events` rows: decoding an OTLP/HTTP export and mapping its LLM spans (pure, no I/O).

Any OpenTelemetry-instrumented application (OpenLIT, OpenLLMetry/Traceloop, the OpenTelemetry GenAI
instrumentations, ...) can export its traces to Benchlab; every span that is one LLM call becomes one row with
`source = 'production'` and the nil run and experiment ids, the contract production readers rely on. The
instrumentations disagree on names (older and newer GenAI semantic conventions, each library's own extensions),
so each column is read from the first of several attributes that is present; docs/ingest.md tabulates them.

Decoding uses the official `opentelemetry-proto` classes for both encodings: protobuf with `FromString`, and
OTLP/JSON with `google.protobuf.json_format` into the same classes. The one thing hand-written is the id
conversion before `json_format`: OTLP/JSON encodes trace and span ids as hex, where the protobuf JSON mapping
(and so `json_format`) expects base64; the OTLP specification mandates this deviation, no library undoes it.
The error body of a refused export is a `google.rpc.Status` (the OTLP/HTTP specification); its class is built
from a three-field descriptor here rather than pulling in googleapis-common-protos for it.
"""

from __future__ import annotations

import base64
import json
import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# No stubs for protobuf in the environment (types-protobuf is not a dependency); the generated OTLP classes
# carry their own .pyi files.
from google.protobuf import (  # type: ignore[import-untyped]
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    json_format,
    message_factory,
)
from google.protobuf.message import DecodeError, Message  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from benchlab.stores.request_events import RequestEvent

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
NIL = uuid.UUID(int=0)
SOURCE = "production"
# Optional resource attribute: the project an application means its spans for; spans of a resource naming
# another project than the API key's are refused (a key sends into its own project only).
PROJECT_ATTRIBUTE = "benchlab.project_id"
# event_id = uuid5(EVENT_NAMESPACE, "<trace id hex>:<span id hex>"): a span exported again gets the same id.
EVENT_NAMESPACE = uuid.UUID("5b0e7d52-8f0c-4c55-9d3f-6a1e2b7c9d40")

# gen_ai.operation.name values that are one call to a model (semantic conventions; OpenLLMetry's
# llm.request.type says "chat" or "completion"). Other operations (embeddings, execute_tool, invoke_agent,
# OpenLIT's "framework", ...) are not LLM calls and are skipped.
LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content", "completion"})
_FIRST_CHUNK_EVENTS = ("gen_ai.response.first_chunk", "llm.content.completion.chunk", "gen_ai.completion.chunk")
_MIN_NANOS = int((datetime(1900, 1, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 10**9
_MAX_NANOS = int((datetime(2299, 12, 31, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 10**9
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class OtlpPayloadError(ValueError):
    """The export as a whole cannot be read (answered 400)."""


@dataclass
class Mapped:
    """What became of an export's spans."""

    events: list[RequestEvent] = field(default_factory=list)
    not_llm: int = 0                                     # spans that are not LLM calls: skipped, not errors
    invalid: list[str] = field(default_factory=list)     # spans that are LLM calls but cannot be stored, why

    @property
    def rejected(self) -> int:
        return self.not_llm + len(self.invalid)

    def error_message(self) -> str:
        """The `partial_success.error_message`: what was not stored and why ("" when everything was)."""
        parts = []
        if self.not_llm:
            parts.append(f"{self.not_llm} span(s) are not LLM calls (no gen_ai.operation.name chat, "
                         "text_completion or generate_content, nor gen_ai.provider.name/gen_ai.system with a "
                         "model) and were not stored")
        if self.invalid:
            shown = "; ".join(self.invalid[:5]) + ("; ..." if len(self.invalid) > 5 else "")
            parts.append(f"{len(self.invalid)} LLM span(s) are invalid and were not stored: {shown}")
        return ". ".join(parts)


def decode_request(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """The export, from OTLP protobuf or OTLP/JSON; OtlpPayloadError says what is wrong."""
    if content_type == PROTOBUF:
        try:
            return ExportTraceServiceRequest.FromString(body)
        except (DecodeError, RuntimeError, ValueError) as exc:
            raise OtlpPayloadError(f"the body is not an OTLP ExportTraceServiceRequest in protobuf ({exc})") from None
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise OtlpPayloadError(f"the body is not JSON ({exc})") from None
    if not isinstance(document, dict):
        raise OtlpPayloadError("the body must be a JSON object: {\"resourceSpans\": [...]}")
    _hex_ids_to_base64(document)
    try:
        return json_format.ParseDict(document, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise OtlpPayloadError(f"the body is not an OTLP/JSON ExportTraceServiceRequest: {exc}") from None


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    """OTLP/JSON's hex trace and span ids, rewritten in place as the base64 the protobuf JSON mapping reads."""
    for r, resource_spans in enumerate(_list(document, "resourceSpans", "resource_spans")):
        for s, scope_spans in enumerate(_list(resource_spans, "scopeSpans", "scope_spans")):
            for n, span in enumerate(_list(scope_spans, "spans")):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{n}]"
                _convert_ids(span, where)
                for k, link in enumerate(_list(span, "links")):
                    _convert_ids(link, f"{where}.links[{k}]")


def _list(parent: Any, *names: str) -> list[Any]:
    if not isinstance(parent, dict):
        return []
    for name in names:
        value = parent.get(name)
        if isinstance(value, list):
            return value
    return []


def _convert_ids(obj: Any, where: str) -> None:
    if not isinstance(obj, dict):
        return
    for camel, snake in (("traceId", "trace_id"), ("spanId", "span_id"), ("parentSpanId", "parent_span_id")):
        for name in (camel, snake):
            value = obj.get(name)
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise OtlpPayloadError(f"{where}.{camel}: expected a hex string, got {type(value).__name__}")
            try:
                obj[name] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise OtlpPayloadError(f"{where}.{camel}: '{value[:40]}' is not hex (OTLP/JSON sends trace and span "
                                       "ids as hex strings)") from None


def map_request(request: ExportTraceServiceRequest, project_id: uuid.UUID) -> Mapped:
    """Every span of the export: an LLM call becomes a row of `project_id`, anything else is counted."""
    mapped = Mapped()
    for resource_spans in request.resource_spans:
        named = attributes(resource_spans.resource.attributes).get(PROJECT_ATTRIBUTE)
        foreign = named is not None and str(named).lower() != str(project_id)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                attrs = attributes(span.attributes)
                if not is_llm_call(attrs):
                    mapped.not_llm += 1
                    continue
                if foreign:
                    mapped.invalid.append(f"span '{span.name[:60]}' ({span.span_id.hex() or 'no id'}): its resource's "
                                          f"{PROJECT_ATTRIBUTE} {str(named)[:40]} is not this API key's project "
                                          f"({project_id}); send it with that project's key")
                    continue
                try:
                    mapped.events.append(span_event(span, attrs, project_id))
                except ValueError as exc:
                    mapped.invalid.append(f"span '{span.name[:60]}' ({span.span_id.hex() or 'no id'}): {exc}")
    return mapped


def attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    """OTLP key-values as Python values (the first of a repeated key wins)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        out.setdefault(pair.key, any_value(pair.value))
    return out


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind is None:
        return None
    return getattr(value, kind)


def is_llm_call(attrs: dict[str, Any]) -> bool:
    """One call to a model: a GenAI operation that calls one, or (instrumentations that set no operation) a
    provider with a model, unless OpenLLMetry's request type says it is something else (e.g. embedding)."""
    operation = attrs.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation:
        return operation in LLM_OPERATIONS
    request_type = attrs.get("llm.request.type")
    if isinstance(request_type, str) and request_type and request_type not in LLM_OPERATIONS:
        return False
    return bool(_text(attrs, "gen_ai.provider.name", "gen_ai.system")
                and _text(attrs, "gen_ai.response.model", "gen_ai.request.model"))


def span_event(span: Span, attrs: dict[str, Any], project_id: uuid.UUID) -> RequestEvent:
    """The row of one LLM span; ValueError when its ids or times are unusable."""
    trace_id, span_id = span.trace_id, span.span_id
    if len(trace_id) != 16 or not any(trace_id):
        raise ValueError("trace_id must be 16 bytes, not all zero")
    if len(span_id) != 8 or not any(span_id):
        raise ValueError("span_id must be 8 bytes, not all zero")
    start, end = span.start_time_unix_nano, span.end_time_unix_nano
    if start == 0:
        raise ValueError("start_time_unix_nano is not set")
    if not _MIN_NANOS <= start <= _MAX_NANOS:
        raise ValueError("start_time_unix_nano must be a time between 1900 and 2299")
    if end < start:
        raise ValueError("end_time_unix_nano is before start_time_unix_nano")
    e2e_ms = (end - start) / 1e6
    ttft_ms = _ttft_ms(span, attrs)
    prompt = _count(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
    completion = _count(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
    cost = _number(attrs, "gen_ai.usage.cost")
    failed = span.status.code == Status.STATUS_CODE_ERROR
    exception = _event_attributes(span, "exception")
    output_text, tool_calls = _output(span, attrs)
    return RequestEvent(
        project_id=project_id, run_id=NIL, experiment_id=NIL,
        event_id=uuid.uuid5(EVENT_NAMESPACE, f"{trace_id.hex()}:{span_id.hex()}"),
        item_id=trace_id.hex(), repetition=0, attempt=1,
        provider=_text(attrs, "gen_ai.provider.name", "gen_ai.system")[:200],
        model=_text(attrs, "gen_ai.response.model", "gen_ai.request.model")[:200],
        prompt_version="", params_hash="", source=SOURCE, load_phase="main",
        ts=_EPOCH + timedelta(microseconds=start // 1000), in_window=True, run_offset_s=0.0,
        first_on_connection=False, queue_delay_ms=0.0, ttft_ms=ttft_ms, ttfot_ms=ttft_ms, e2e_ms=e2e_ms,
        e2e_from_intended_ms=e2e_ms, stream_end_ms=e2e_ms,
        tpot_ms=(e2e_ms - ttft_ms) / (completion - 1) if ttft_ms > 0 and completion >= 2 else 0.0,
        inter_event_ms=[], tokens_per_event=[], prompt_tokens=prompt, completion_tokens=completion,
        reasoning_tokens=_count(attrs, "gen_ai.usage.reasoning.output_tokens", "gen_ai.usage.reasoning_tokens",
                                "llm.usage.reasoning_tokens"),
        cached_tokens=_count(attrs, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens",
                             "gen_ai.usage.cached_tokens"),
        tokens_estimated=False, cost_usd=cost if cost is not None and cost >= 0 else 0.0,
        cost_known=cost is not None and cost >= 0,
        status="error" if failed else "ok",
        error_type=(_text(attrs, "error.type") or str(exception.get("exception.type") or "error"))[:200]
        if failed else "",
        http_status=min(_count(attrs, "http.response.status_code", "http.status_code"), 65535),
        finish_reason=_finish_reason(attrs)[:200],
        output=output_text, tool_calls=tool_calls,
        error_message=(span.status.message or str(exception.get("exception.message") or "")) if failed else "",
        input=_input(span, attrs),
    )


def _text(attrs: dict[str, Any], *names: str) -> str:
    for name in names:
        value = attrs.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def _number(attrs: dict[str, Any], *names: str) -> float | None:
    for name in names:
        value = attrs.get(name)
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                continue
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def _count(attrs: dict[str, Any], *names: str) -> int:
    value = _number(attrs, *names)
    return int(min(max(value, 0), 2**32 - 1)) if value is not None else 0


def _ttft_ms(span: Span, attrs: dict[str, Any]) -> float:
    """Time to first token: the conventions' attribute (seconds), OpenLIT's, or the first chunk event."""
    seconds = _number(attrs, "gen_ai.response.time_to_first_chunk", "gen_ai.server.time_to_first_token")
    if seconds is not None and seconds > 0:
        return seconds * 1000
    firsts = [e.time_unix_nano for e in span.events if e.name in _FIRST_CHUNK_EVENTS and e.time_unix_nano]
    if firsts and min(firsts) >= span.start_time_unix_nano:
        return (min(firsts) - span.start_time_unix_nano) / 1e6
    return 0.0


def _event_attributes(span: Span, *names: str) -> dict[str, Any]:
    for event in span.events:
        if event.name in names:
            return attributes(event.attributes)
    return {}


def _finish_reason(attrs: dict[str, Any]) -> str:
    reasons = attrs.get("gen_ai.response.finish_reasons")
    if isinstance(reasons, list) and reasons and isinstance(reasons[0], str):
        return reasons[0]
    if isinstance(reasons, str):
        return reasons
    return _text(attrs, "gen_ai.response.finish_reason", "gen_ai.completion.0.finish_reason")


def _messages(value: Any) -> Any:
    """A messages attribute: a JSON text (the conventions) or already structured."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def _input(span: Span, attrs: dict[str, Any]) -> str:
    """The input messages as a JSON text in the chat format (`[{"role": ..., "content": ...}]`): from the
    conventions' `gen_ai.input.messages`, OpenLLMetry's `gen_ai.prompt.N.role/content`, or OpenLIT's
    `gen_ai.content.prompt` event (one user message)."""
    value = attrs.get("gen_ai.input.messages")
    if value is not None:
        parsed = _messages(value)
        if isinstance(parsed, list):
            return json.dumps([_chat_message(m) for m in parsed])
        return json.dumps([{"role": "user", "content": str(value)}])
    indexed = _indexed(attrs, "gen_ai.prompt")
    if indexed:
        return json.dumps([{"role": m.get("role", "user"), "content": m.get("content", "")} for m in indexed])
    prompt = _event_attributes(span, "gen_ai.content.prompt").get("gen_ai.prompt") or attrs.get("gen_ai.prompt")
    if isinstance(prompt, str) and prompt:
        parsed = _messages(prompt)
        if isinstance(parsed, list):
            return json.dumps(parsed)
        return json.dumps([{"role": "user", "content": prompt}])
    return ""


def _chat_message(message: Any) -> Any:
    """A conventions message (`role`, `parts`) in the chat format every other producer uses (`role`, `content`):
    the text parts joined; other parts (tool calls, ...) kept under `parts`."""
    if not isinstance(message, dict) or "parts" not in message or "content" in message:
        return message
    parts = [p for p in message["parts"] if isinstance(p, dict)] if isinstance(message["parts"], list) else []
    text = "".join(p["content"] for p in parts if p.get("type") == "text" and isinstance(p.get("content"), str))
    out: dict[str, Any] = {"role": message.get("role", "user"), "content": text}
    others = [p for p in parts if p.get("type") != "text"]
    if others:
        out["parts"] = others
    return out


def _indexed(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """OpenLLMetry's flattened messages: `<prefix>.0.role`, `<prefix>.0.content`, `<prefix>.1.role`, ..."""
    messages: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if not key.startswith(prefix + "."):
            continue
        index, _, name = key[len(prefix) + 1:].partition(".")
        if index.isdigit() and name in ("role", "content"):
            messages.setdefault(int(index), {})[name] = value
    return [messages[i] for i in sorted(messages)]


def _output(span: Span, attrs: dict[str, Any]) -> tuple[str, str]:
    """The answer's text and its tool calls (a JSON text, "" when none)."""
    value = attrs.get("gen_ai.output.messages")
    if value is not None:
        parsed = _messages(value)
        texts: list[str] = []
        calls: list[Any] = []
        for message in parsed if isinstance(parsed, list) else []:
            for part in message.get("parts", []) if isinstance(message, dict) else []:
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "text" and isinstance(part.get("content"), str):
                    texts.append(part["content"])
                elif part.get("type") == "tool_call":
                    calls.append({k: part[k] for k in ("id", "name", "arguments") if k in part})
        return "".join(texts), json.dumps(calls) if calls else ""
    indexed = _indexed(attrs, "gen_ai.completion")
    if indexed:
        return str(indexed[0].get("content") or ""), ""
    completion = (_event_attributes(span, "gen_ai.content.completion").get("gen_ai.completion")
                  or attrs.get("gen_ai.completion"))
    return (completion, "") if isinstance(completion, str) else ("", "")


# -- answers -------------------------------------------------------------------------------------------------------

def _status_class() -> type[Message]:
    """google.rpc.Status (code, message, details), the body of OTLP/HTTP's error answers."""
    proto = descriptor_pb2.FileDescriptorProto(name="benchlab/google_rpc_status.proto", package="google.rpc",
                                               syntax="proto3")
    proto.dependency.append("google/protobuf/any.proto")
    status = proto.message_type.add(name="Status")
    field_type = descriptor_pb2.FieldDescriptorProto
    status.field.add(name="code", number=1, type=field_type.TYPE_INT32, label=field_type.LABEL_OPTIONAL,
                     json_name="code")
    status.field.add(name="message", number=2, type=field_type.TYPE_STRING, label=field_type.LABEL_OPTIONAL,
                     json_name="message")
    status.field.add(name="details", number=3, type=field_type.TYPE_MESSAGE, type_name=".google.protobuf.Any",
                     label=field_type.LABEL_REPEATED, json_name="details")
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(any_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("google.rpc.Status"))


RpcStatus = _status_class()
# gRPC codes of the statuses OTLP/HTTP answers with (https://grpc.github.io/grpc/core/md_doc_statuscodes.html).
_GRPC_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 10, 413: 8, 415: 3, 422: 3, 429: 8, 503: 14}


def encode(message: Message, content_type: str) -> bytes:
    if content_type == PROTOBUF:
        return message.SerializeToString()
    return json_format.MessageToJson(message, indent=None).encode()


def success_body(mapped: Mapped, content_type: str) -> bytes:
    response = ExportTraceServiceResponse()
    if mapped.rejected:
        response.partial_success.rejected_spans = mapped.rejected
        response.partial_success.error_message = mapped.error_message()
    return encode(response, content_type)


def error_body(status: int, message: str, content_type: str) -> bytes:
    return encode(RpcStatus(code=_GRPC_CODES.get(status, 2), message=message), content_type)


def decode_status(body: bytes, content_type: str) -> tuple[int, str]:
    """(gRPC code, message) of an error answer: for clients and tests."""
    status = RpcStatus.FromString(body) if content_type == PROTOBUF else json_format.Parse(body, RpcStatus())
    return int(status.code), str(status.message)
