"""`POST /v1/traces` (and its alias `/ingest/otlp/v1/traces`): an OTLP/HTTP traces receiver for production traffic.

The standard OTLP/HTTP path, so an application's exporter needs only `OTEL_EXPORTER_OTLP_ENDPOINT=<benchlab URL>`
and `OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer <API key>`. Credentials, the size limit, gzip and the write
path are the ingest endpoint's (routes.py); the spans are mapped by otlp.py. The answer follows the OTLP/HTTP
specification: an `ExportTraceServiceResponse` (with `partial_success` when spans were not stored) or a
`google.rpc.Status`, in the request's encoding; 429/503 are the retryable statuses.

A re-sent export is written once: each span's event id derives from its trace and span ids, and the batch's
deduplication token from the set of those ids, so ClickHouse drops a batch of the same spans sent again (in
either encoding).
"""

from __future__ import annotations

import asyncio
import hashlib
from uuid import UUID

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from benchlab.ingest.otlp import (
    JSON,
    PROTOBUF,
    Mapped,
    OtlpPayloadError,
    decode_request,
    error_body,
    map_request,
    success_body,
)
from benchlab.ingest.routes import Refused, authenticate, read_body, write_rows
from benchlab.runtime import Runtime
from benchlab.stores import request_events
from benchlab.telemetry import count_ingest_rows

PATHS = ("/v1/traces", "/ingest/otlp/v1/traces")
RETRY_AFTER_S = 5


def otlp_routes() -> list[BaseRoute]:
    return [Route(path, _traces, methods=["POST"]) for path in PATHS]


async def _traces(request: Request) -> Response:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    reply_type = PROTOBUF if content_type == PROTOBUF else JSON
    try:
        mapped = await _export(request, content_type)
    except Refused as refused:
        headers = {"Retry-After": str(RETRY_AFTER_S)} if refused.status in (429, 503) else None
        return Response(error_body(refused.status, str(refused), reply_type), refused.status, headers=headers,
                        media_type=reply_type)
    return Response(success_body(mapped, reply_type), 200, media_type=reply_type)


async def _export(request: Request, content_type: str) -> Mapped:
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    caller = await authenticate(request, workers_only=False)
    if caller.project_id is None:
        raise Refused(403, "OTLP traces are stored in the project of the API key that sends them: send an API key "
                            "(member or above), not a worker token")
    if content_type not in (PROTOBUF, JSON):
        raise Refused(415, f"Content-Type must be {PROTOBUF} or {JSON} (OTLP/HTTP), not '{content_type or 'none'}'")
    body = await read_body(request, settings.ingest_max_bytes)
    try:  # off the loop: a large export takes a while to decode, and subscribers are served meanwhile
        mapped = await asyncio.to_thread(_decode, body, content_type, caller.project_id)
    except OtlpPayloadError as exc:
        raise Refused(400, str(exc)) from None
    if len(mapped.events) > settings.ingest_max_rows:
        raise Refused(413, f"the export holds {len(mapped.events)} LLM spans, more than the limit of "
                            f"{settings.ingest_max_rows} rows (BENCHLAB_INGEST_MAX_ROWS); export smaller batches")
    count_ingest_rows(request_events.TABLE, accepted=0, rejected=len(mapped.invalid))  # /metrics; accepted: write_rows
    if mapped.events:
        ids = "\n".join(sorted(str(event.event_id) for event in mapped.events))
        token = hashlib.sha256(f"otlp\0{caller.project_id}\0{ids}".encode()).hexdigest()
        await write_rows(runtime, request_events.TABLE, [event.as_row() for event in mapped.events], token)
    return mapped


def _decode(body: bytes, content_type: str, project_id: UUID) -> Mapped:
    return map_request(decode_request(body, content_type), project_id)
