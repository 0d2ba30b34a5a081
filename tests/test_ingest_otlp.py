"""`POST /v1/traces` (docs/ingest.md, "Production traffic: OTLP traces") on the real app, PostgreSQL and chDB:
exports built with the official opentelemetry-proto classes, as protobuf and as OTLP/JSON (gzip too), with the
attribute sets OpenLIT, OpenLLMetry and the current GenAI semantic conventions emit; each LLM span read back from
ClickHouse as a production row of the key's project; other spans reported in `partial_success`; a re-sent export
written once; credentials, content types, bad payloads and limits answered per the OTLP/HTTP specification.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from cryptography.fernet import Fernet
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from starlette.testclient import TestClient

from benchlab.app import create_app
from benchlab.catalog import register_experiment
from benchlab.config import Settings
from benchlab.ingest.otlp import EVENT_NAMESPACE, decode_status
from benchlab.secrets import SecretBox, load_secret_box, mint_worker_token
from benchlab.spec import load_spec
from tests.helpers.access import make_key
from tests.helpers.engine import mock_spec

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
NIL = "00000000-0000-0000-0000-000000000000"
T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
DOCS = Path(__file__).resolve().parents[1] / "docs" / "ingest.md"


@pytest.fixture
async def project(pg: asyncpg.Connection) -> dict[str, Any]:
    mine = await register_experiment(pg, load_spec(mock_spec("http://127.0.0.1:9/v1", project="prod")),
                                     SecretBox(Fernet.generate_key()))
    other = await register_experiment(pg, load_spec(mock_spec("http://127.0.0.1:9/v1", project="elsewhere")),
                                      SecretBox(Fernet.generate_key()))
    return {"id": mine.project_id, "other": other.project_id,
            "member": await make_key(pg, mine.project_id, "member"),
            "viewer": await make_key(pg, mine.project_id, "viewer"),
            "other_member": await make_key(pg, other.project_id, "member")}


def value(v: Any) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, list):
        return AnyValue(array_value=ArrayValue(values=[value(x) for x in v]))
    return AnyValue(string_value=v)


def kvs(attrs: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=value(v)) for k, v in attrs.items()]


def span(name: str, attrs: dict[str, Any], start_ms: float = 0, end_ms: float = 1000, *,
         error: str | None = None, events: list[tuple[str, float, dict[str, Any]]] = (),  # type: ignore[assignment]
         trace_id: bytes | None = None) -> Span:
    status = Status(code=Status.STATUS_CODE_ERROR, message=error) if error else Status(code=Status.STATUS_CODE_OK)
    return Span(trace_id=trace_id or os.urandom(16), span_id=os.urandom(8), name=name, kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=T0 + int(start_ms * 1e6), end_time_unix_nano=T0 + int(end_ms * 1e6),
                attributes=kvs(attrs), status=status,
                events=[Span.Event(name=n, time_unix_nano=T0 + int(at * 1e6), attributes=kvs(a))
                        for n, at, a in events])


def export(*spans: Span, scope: str = "app", resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(
        resource=Resource(attributes=kvs({"service.name": "shop-assistant", **(resource or {})})),
        scope_spans=[ScopeSpans(scope=InstrumentationScope(name=scope), spans=list(spans))])])


def otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON as an exporter writes it: the protobuf JSON mapping, but hex trace and span ids."""
    document = json_format.MessageToDict(request)
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for s in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = __import__("base64").b64decode(s[key]).hex()
    return json.dumps(document).encode()


def post(client: TestClient, key: str | None, body: bytes, content_type: str = PROTOBUF,
         path: str = "/v1/traces", **headers: str) -> Any:
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    return client.post(path, content=body, headers={"Content-Type": content_type, **auth, **headers})


def response_of(answer: Any, content_type: str = PROTOBUF) -> ExportTraceServiceResponse:
    assert answer.status_code == 200, answer.content
    assert answer.headers["content-type"].startswith(content_type)
    if content_type == PROTOBUF:
        return ExportTraceServiceResponse.FromString(answer.content)
    return json_format.Parse(answer.content, ExportTraceServiceResponse())


def status_of(answer: Any, content_type: str = PROTOBUF) -> tuple[int, str]:
    assert answer.headers["content-type"].startswith(content_type)
    return decode_status(answer.content, content_type)


def rows(client: TestClient, project_id: UUID) -> dict[str, dict[str, Any]]:
    """The project's stored request_events rows, by item_id (the trace id)."""
    store = client.app.state.runtime.clickhouse  # type: ignore[attr-defined]
    result = client.portal.call(lambda: store.query(  # type: ignore[union-attr]
        "SELECT * FROM request_events WHERE project_id = {p:UUID} ORDER BY ts", {"p": project_id}, caller="tests"))
    return {row["item_id"]: row for row in (dict(zip(result.column_names, r, strict=True)) for r in result.rows)}


# What the three producer families put on a chat span (names as each emits them).
OPENLIT = {"gen_ai.system": "openai", "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini",
           "gen_ai.response.model": "gpt-4o-mini-2024-07-18", "gen_ai.usage.input_tokens": 21,
           "gen_ai.usage.output_tokens": 11, "gen_ai.usage.reasoning_tokens": 3, "gen_ai.usage.cost": 0.00042,
           "gen_ai.server.time_to_first_token": 0.25, "gen_ai.response.finish_reasons": ["stop"],
           "gen_ai.request.is_stream": True}
OPENLLMETRY = {"gen_ai.system": "Anthropic", "llm.request.type": "chat", "gen_ai.request.model": "claude-x",
               "gen_ai.usage.prompt_tokens": 30, "gen_ai.usage.completion_tokens": 5, "llm.usage.total_tokens": 35,
               "gen_ai.usage.cache_read_input_tokens": 16, "gen_ai.prompt.0.role": "system",
               "gen_ai.prompt.0.content": "Be brief.", "gen_ai.prompt.1.role": "user",
               "gen_ai.prompt.1.content": "Capital of France?", "gen_ai.completion.0.role": "assistant",
               "gen_ai.completion.0.content": "Paris.", "gen_ai.completion.0.finish_reason": "end_turn",
               "http.response.status_code": 200}
SEMCONV = {"gen_ai.provider.name": "gcp.gemini", "gen_ai.operation.name": "generate_content",
           "gen_ai.request.model": "gemini-x", "gen_ai.usage.input_tokens": 40, "gen_ai.usage.output_tokens": 9,
           "gen_ai.usage.cache_read.input_tokens": 8, "gen_ai.usage.reasoning.output_tokens": 2,
           "gen_ai.response.time_to_first_chunk": 0.1, "gen_ai.response.finish_reasons": ["length"],
           "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [{"type": "text", "content": "Hi"}]}]),
           "gen_ai.output.messages": json.dumps([{"role": "assistant", "finish_reason": "length", "parts": [
               {"type": "text", "content": "Hello"}, {"type": "text", "content": " there"},
               {"type": "tool_call", "id": "c1", "name": "lookup", "arguments": {"q": "x"}}]}])}


def test_llm_spans_of_each_producer_become_production_rows_of_the_keys_project(
        client: TestClient, project: dict[str, Any]) -> None:
    openlit = span("chat gpt-4o-mini", OPENLIT, 0, 1250, events=[
        ("gen_ai.content.prompt", 1, {"gen_ai.prompt": "user: What is 2+2?"}),
        ("gen_ai.content.completion", 1249, {"gen_ai.completion": "4"})])
    openllmetry = span("anthropic.chat", OPENLLMETRY, 10, 810, events=[
        ("llm.content.completion.chunk", 310, {}), ("llm.content.completion.chunk", 400, {})])
    semconv = span("generate_content gemini-x", SEMCONV, 20, 520)
    failed = span("chat gpt-4o", {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
                                  "gen_ai.request.model": "gpt-4o", "error.type": "RateLimitError",
                                  "http.response.status_code": 429}, 30, 95, error="Rate limit reached")
    http = span("GET /search", {"http.request.method": "GET", "url.path": "/search"}, 0, 2000)
    embedding = span("embeddings text-embedding-3", {"gen_ai.operation.name": "embeddings",
                                                     "gen_ai.provider.name": "openai",
                                                     "gen_ai.request.model": "text-embedding-3-small"}, 5, 50)
    request = export(openlit, openllmetry, semconv, failed, http, embedding, scope="mixed")

    answer = response_of(post(client, project["member"], request.SerializeToString()))
    assert answer.partial_success.rejected_spans == 2
    assert "2 span(s) are not LLM calls" in answer.partial_success.error_message

    stored = rows(client, project["id"])
    assert set(stored) == {s.trace_id.hex() for s in (openlit, openllmetry, semconv, failed)}
    for s in (openlit, openllmetry, semconv, failed):
        row = stored[s.trace_id.hex()]
        assert row["source"] == "production" and row["load_phase"] == "main" and row["in_window"] is True
        assert str(row["run_id"]) == NIL and str(row["experiment_id"]) == NIL
        assert row["event_id"] == uuid.uuid5(EVENT_NAMESPACE, f"{s.trace_id.hex()}:{s.span_id.hex()}")
        assert row["ts"].timestamp() == pytest.approx((s.start_time_unix_nano) / 1e9, abs=1e-6)
        assert row["e2e_ms"] == pytest.approx((s.end_time_unix_nano - s.start_time_unix_nano) / 1e6, abs=0.01)

    lit = stored[openlit.trace_id.hex()]
    assert (lit["provider"], lit["model"], lit["status"]) == ("openai", "gpt-4o-mini-2024-07-18", "ok")
    assert (lit["prompt_tokens"], lit["completion_tokens"], lit["reasoning_tokens"]) == (21, 11, 3)
    assert lit["ttft_ms"] == pytest.approx(250) and lit["tpot_ms"] == pytest.approx((1250 - 250) / 10)
    assert lit["cost_known"] is True and lit["cost_usd"] == pytest.approx(0.00042)
    assert lit["finish_reason"] == "stop" and lit["output"] == "4"
    assert json.loads(lit["input"]) == [{"role": "user", "content": "user: What is 2+2?"}]

    llmetry = stored[openllmetry.trace_id.hex()]
    assert (llmetry["provider"], llmetry["model"]) == ("Anthropic", "claude-x")
    assert (llmetry["prompt_tokens"], llmetry["completion_tokens"], llmetry["cached_tokens"]) == (30, 5, 16)
    assert llmetry["ttft_ms"] == pytest.approx(300)  # the first chunk event, 300 ms after the start
    assert llmetry["cost_known"] is False and llmetry["cost_usd"] == 0
    assert llmetry["finish_reason"] == "end_turn" and llmetry["output"] == "Paris." and llmetry["http_status"] == 200
    assert json.loads(llmetry["input"]) == [{"role": "system", "content": "Be brief."},
                                            {"role": "user", "content": "Capital of France?"}]

    sem = stored[semconv.trace_id.hex()]
    assert (sem["provider"], sem["model"], sem["finish_reason"]) == ("gcp.gemini", "gemini-x", "length")
    assert (sem["prompt_tokens"], sem["completion_tokens"], sem["cached_tokens"], sem["reasoning_tokens"]) == \
        (40, 9, 8, 2)
    assert sem["ttft_ms"] == pytest.approx(100) and sem["tpot_ms"] == pytest.approx((500 - 100) / 8)
    assert sem["output"] == "Hello there" and json.loads(sem["tool_calls"]) == [
        {"id": "c1", "name": "lookup", "arguments": {"q": "x"}}]
    assert json.loads(sem["input"]) == [{"role": "user", "content": "Hi"}]

    err = stored[failed.trace_id.hex()]
    assert (err["status"], err["error_type"], err["error_message"]) == ("error", "RateLimitError",
                                                                        "Rate limit reached")
    assert err["http_status"] == 429 and err["ttft_ms"] == 0 and err["tpot_ms"] == 0


def test_otlp_json_gzip_and_a_resent_export_is_written_once(client: TestClient, project: dict[str, Any]) -> None:
    spans = [span(f"chat {n}", {**SEMCONV, "gen_ai.usage.output_tokens": n + 2}, n, n + 300) for n in range(3)]
    request = export(*spans)
    body = gzip.compress(otlp_json(request))
    answer = response_of(post(client, project["member"], body, JSON, **{"Content-Encoding": "gzip"}), JSON)
    assert not answer.HasField("partial_success")
    first = rows(client, project["id"])
    assert sorted(first) == sorted(s.trace_id.hex() for s in spans)
    assert [first[s.trace_id.hex()]["completion_tokens"] for s in spans] == [2, 3, 4]

    # The exporter retries (same spans), once as JSON and once as protobuf through the alias path.
    response_of(post(client, project["member"], body, JSON, **{"Content-Encoding": "gzip"}), JSON)
    response_of(post(client, project["member"], gzip.compress(request.SerializeToString()),
                     path="/ingest/otlp/v1/traces", **{"Content-Encoding": "gzip"}))
    store = client.app.state.runtime.clickhouse  # type: ignore[attr-defined]
    count = client.portal.call(lambda: store.query(  # type: ignore[union-attr]
        "SELECT count() FROM request_events WHERE project_id = {p:UUID}", {"p": project["id"]}, caller="tests"))
    assert count.rows[0][0] == 3

    # An export of only non-LLM spans stores nothing and says so.
    answer = response_of(post(client, project["member"], otlp_json(export(span("GET /", {}))), JSON), JSON)
    assert answer.partial_success.rejected_spans == 1 and "not LLM calls" in answer.partial_success.error_message
    # An empty export is a success.
    assert response_of(post(client, project["member"], b"{}", JSON), JSON) == ExportTraceServiceResponse()


def test_credentials_are_the_ingest_endpoints_and_rows_stay_in_the_keys_project(
        client: TestClient, settings: Settings, project: dict[str, Any]) -> None:
    body = export(span("chat", OPENLIT)).SerializeToString()
    assert status_of(post(client, None, body))[0] == 16 and post(client, None, body).status_code == 401
    assert post(client, "blk_000000000000_wrong", body).status_code == 401
    refused = post(client, project["viewer"], body)
    assert refused.status_code == 403 and "viewer" in status_of(refused)[1]
    token = mint_worker_token(load_secret_box(settings.secret_key, settings.data_dir), "w1")
    refused = post(client, token, body)
    assert refused.status_code == 403 and "API key" in status_of(refused)[1]
    assert project["member"] not in refused.text and token not in refused.text

    # Another project's key writes into its own project, never into this one...
    response_of(post(client, project["other_member"], body))
    assert rows(client, project["id"]) == {} and len(rows(client, project["other"])) == 1
    # ...and spans whose resource names another project are refused, the others kept.
    mixed = ExportTraceServiceRequest(resource_spans=[
        *export(span("chat", OPENLIT), resource={"benchlab.project_id": str(project["id"])}).resource_spans,
        *export(span("chat", OPENLIT), resource={"benchlab.project_id": str(project["other"])}).resource_spans])
    answer = response_of(post(client, project["member"], mixed.SerializeToString()))
    assert answer.partial_success.rejected_spans == 1
    assert "is not this API key's project" in answer.partial_success.error_message
    assert len(rows(client, project["id"])) == 1


def test_bad_payloads_get_clear_400s_and_limits_413(settings: Settings, project: dict[str, Any]) -> None:
    small = replace(settings, ingest_max_bytes=4096, ingest_max_rows=2)
    with TestClient(create_app(small)) as client:
        key = project["member"]
        answer = post(client, key, b"not a protobuf")
        assert answer.status_code == 400 and "not an OTLP ExportTraceServiceRequest in protobuf" in status_of(answer)[1]
        answer = post(client, key, b"{resourceSpans", JSON)
        assert answer.status_code == 400 and "not JSON" in status_of(answer, JSON)[1]
        bad_id = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "00f067aa0ba902b7"}]}]}]}
        answer = post(client, key, json.dumps(bad_id).encode(), JSON)
        code, message = status_of(answer, JSON)
        assert answer.status_code == 400 and code == 3
        assert "resourceSpans[0].scopeSpans[0].spans[0].traceId: 'zz' is not hex" in message
        wrong_type = {"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}
        answer = post(client, key, json.dumps(wrong_type).encode(), JSON)
        assert answer.status_code == 400 and "startTimeUnixNano" in status_of(answer, JSON)[1]
        answer = post(client, key, b"\x1f\x8b\x08garbage", **{"Content-Encoding": "gzip"})
        assert answer.status_code == 400 and "not valid gzip" in status_of(answer)[1]
        answer = post(client, key, b"{}", "text/plain")
        assert answer.status_code == 415 and "application/x-protobuf or application/json" in answer.text

        too_many = export(*(span("chat", OPENLIT) for _ in range(3))).SerializeToString()
        answer = post(client, key, too_many)
        assert answer.status_code == 413 and "limit of 2 rows" in status_of(answer)[1]
        huge = export(span("chat", {**OPENLIT, "gen_ai.completion": "x" * 5000})).SerializeToString()
        answer = post(client, key, huge)
        assert answer.status_code == 413 and "4096 bytes" in status_of(answer)[1]

        # An LLM span that cannot be stored is rejected on its own, with the reason.
        backwards = span("chat", OPENLIT, 500, 100)
        no_id = span("chat", OPENLIT, trace_id=bytes(16))
        answer = response_of(post(client, key, export(backwards, no_id, span("chat", OPENLIT)).SerializeToString()))
        assert answer.partial_success.rejected_spans == 2
        assert "end_time_unix_nano is before start_time_unix_nano" in answer.partial_success.error_message
        assert "trace_id must be 16 bytes, not all zero" in answer.partial_success.error_message
        assert len(rows(client, project["id"])) == 1


def test_the_documented_curl_example_works(client: TestClient, project: dict[str, Any]) -> None:
    """docs/ingest.md's OTLP/JSON body, sent as written; the answer is the one the page shows."""
    text = DOCS.read_text()
    section = text[text.index("## Production traffic: OTLP traces"):]
    body = re.search(r"--data-binary @- <<'EOF'\n(.*?)\nEOF", section, re.S)
    shown = re.search(r"<!-- otlp-example-answer -->\n```json\n(.*?)\n```", section, re.S)
    assert body and shown
    answer = post(client, project["member"], body.group(1).encode(), JSON)
    assert answer.status_code == 200 and answer.json() == json.loads(shown.group(1))
    (row,) = rows(client, project["id"]).values()
    assert (row["model"], row["ttft_ms"], row["prompt_tokens"], row["status"]) == ("gpt-4o-mini", 182.0, 12, "ok")
