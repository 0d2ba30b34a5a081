"""HTTP routes for rows that arrive from outside the engine of this process: the ingest endpoint, and the
worker relay.

`POST /ingest/v{1,2}/events` and `POST /ingest/v{1,2}/scores` take a batch in the documented, versioned format
(docs/ingest.md: v1 JSON lines, stores/ingest_format.py; v2 Arrow IPC, stores/ingest_arrow.py), from an API
key (member or above; rows of its own project only) or a worker token. Good rows are written through this
server's buffered writer as one batch whose deduplication token derives from the caller's `Idempotency-Key`;
bad rows are listed with their line and reason. A batch replayed with the same key is answered with its first
answer and writes nothing (PostgreSQL remembers the answer; ClickHouse's insert deduplication covers a crash
between the write and that record). A worker sends `Benchlab-Run-Claim: <run id>:<claim>`: when another worker
has taken the run over, the batch is refused (409), so a worker presumed dead cannot write into the run it lost.

`POST /worker/v1/query` (read-only ClickHouse queries, `readonly=2`) and `POST /worker/v1/publish` (progress
messages to the hub) serve workers that cannot reach ClickHouse or Redis themselves (stores/server_link.py);
they take worker tokens only.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import zlib
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import pyarrow as pa
import pyarrow.compute as pc
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from benchlab.auth.authenticator import bearer_credential
from benchlab.auth.identity import IdentityKind
from benchlab.auth.roles import Role
from benchlab.auth.services import auth_of
from benchlab.errors import BenchlabError
from benchlab.runtime import Runtime
from benchlab.secrets import WORKER_TOKEN_PREFIX, verify_worker_token
from benchlab.stores import ingest_batches, request_events, scores
from benchlab.stores.ingest_arrow import CONTENT_TYPE as ARROW_CONTENT_TYPE
from benchlab.stores.ingest_arrow import FORMAT_VERSION as ARROW_VERSION
from benchlab.stores.ingest_arrow import decode_arrow
from benchlab.stores.ingest_format import (
    FORMAT_VERSION,
    TABLES,
    DecodedBatch,
    IngestFormatError,
    IngestTable,
    decode_batch,
)
from benchlab.stores.run_queue import holds_claim
from benchlab.stores.server_link import CLAIM_HEADER, from_wire, to_wire
from benchlab.telemetry import count_ingest_rows

log = logging.getLogger(__name__)

WORKERS = "workers"
_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_CLAIM = re.compile(r"^([0-9a-fA-F-]{36}):(\d{1,9})$")
_RELAYED_CHANNELS = re.compile(r"^run:[0-9a-f-]{36}(:requests)?$")
JSON_LINES = ("application/x-ndjson", "application/jsonl", "application/json-lines")


@dataclass(frozen=True)
class _Caller:
    name: str                   # an API key's id, or WORKERS (idempotency keys are per caller)
    project_id: UUID | None     # an API key's project; None for a worker (any project)


class Refused(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.extra = status, extra


def ingest_routes() -> list[BaseRoute]:
    return [Route("/ingest/v{version:int}/events", _events, methods=["POST"]),
            Route("/ingest/v{version:int}/scores", _scores, methods=["POST"]),
            Route("/worker/v1/query", _worker_query, methods=["POST"]),
            Route("/worker/v1/publish", _worker_publish, methods=["POST"])]


async def _events(request: Request) -> JSONResponse:
    return await _answer(request, request_events.TABLE)


async def _scores(request: Request) -> JSONResponse:
    return await _answer(request, scores.TABLE)


async def _answer(request: Request, table: str) -> JSONResponse:
    version = request.path_params["version"]
    if version not in (FORMAT_VERSION, ARROW_VERSION):
        return JSONResponse({"format": version, "error": f"there is no ingest format v{version}; use v1 (JSON lines) "
                                                         "or v2 (Arrow IPC stream)"}, status_code=404)
    try:
        status, body = await _ingest(request, table, version)
    except Refused as refused:
        return JSONResponse({"format": version, "error": str(refused), **refused.extra}, status_code=refused.status)
    return JSONResponse(body, status_code=status)


async def _ingest(request: Request, table: str, version: int) -> tuple[int, dict[str, Any]]:
    runtime: Runtime = request.app.state.runtime
    settings = runtime.settings
    caller = await authenticate(request, workers_only=False)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if version == FORMAT_VERSION and content_type not in JSON_LINES:
        raise Refused(415, f"Content-Type must be application/x-ndjson (JSON lines, format v{FORMAT_VERSION}), "
                           f"not '{content_type or 'none'}'")
    if version == ARROW_VERSION and content_type != ARROW_CONTENT_TYPE:
        raise Refused(415, f"Content-Type must be {ARROW_CONTENT_TYPE} (format v{ARROW_VERSION}), "
                           f"not '{content_type or 'none'}'")
    key = request.headers.get("idempotency-key")
    if key is not None and not _KEY.match(key):
        raise Refused(400, "Idempotency-Key must be 1-128 characters of A-Z a-z 0-9 . _ : -")
    body = await read_body(request, settings.ingest_max_bytes)
    digest = hashlib.sha256(body).hexdigest()
    if key is not None:
        async with runtime.pg.acquire() as conn:
            earlier = await ingest_batches.seen(conn, caller.name, table, key)
        if earlier is not None:
            if earlier.body_sha256 != digest:
                raise Refused(409, "this Idempotency-Key was used for a different batch; use a new key per batch")
            return (200 if earlier.response["accepted"] else 422), {**earlier.response, "replayed": True}
    await _check_claim(request, runtime)
    try:
        rows, rejected = await asyncio.to_thread(_decode, TABLES[table], body, version, settings.ingest_max_rows,
                                                 caller.project_id)  # off the loop: subscribers are served
    except IngestFormatError as exc:
        status = 413 if "limit" in exc.extensions else 400
        raise Refused(status, str(exc)) from None
    count_ingest_rows(table, accepted=0, rejected=len(rejected))  # /metrics; accepted ones in write_rows
    if len(rows):
        token = hashlib.sha256(f"{caller.name}\0{table}\0{key}".encode()).hexdigest() if key else None
        await write_rows(runtime, table, rows, token)
    response = {"format": version, "table": table, "accepted": len(rows), "rejected": rejected,
                "replayed": False}
    if key is not None:
        async with runtime.pg.acquire() as conn:
            await ingest_batches.remember(conn, caller.name, table, key, digest, response)
    return (200 if len(rows) else 422), response


async def write_rows(runtime: Runtime, table: str, rows: list[tuple[Any, ...]] | pa.Table,
                     token: str | None) -> None:
    """The one write path of every ingest route (JSON lines, Arrow, OTLP): this server's buffered writer, as one
    batch whose deduplication token is `token`; refused with 503 when it can neither write nor spool."""
    try:
        await runtime.ingest_writer(table).write_batch(rows, token)
    except BenchlabError as exc:
        raise Refused(503, f"the server can neither write nor keep the batch now ({exc}); retry it") from None
    count_ingest_rows(table, accepted=len(rows), rejected=0)  # /metrics: benchlab_ingest_rows_total


def _decode(table: IngestTable, body: bytes, version: int, max_rows: int,
            project_id: UUID | None) -> tuple[list[tuple[Any, ...]] | pa.Table, list[dict[str, Any]]]:
    """The accepted rows (tuples for v1, an Arrow table for v2) and the rejected ones, by line (row) number."""
    if version == ARROW_VERSION:
        batch = decode_arrow(table, body, max_rows=max_rows)
        rejected = [{"line": r.line, "error": r.error} for r in batch.rejected]
        if project_id is None:
            return batch.table, rejected
        mine = pc.equal(pc.cast(batch.table.column("project_id"), pa.binary(16)), pa.scalar(project_id.bytes,
                                                                                           pa.binary(16)))
        if not pc.all(mine).as_py():
            rejected.append({"line": 0, "error": f"{len(mine) - pc.sum(mine).as_py()} rows name a project_id other "
                                                 f"than this API key's project ({project_id}); send them with that "
                                                 "project's key"})
        return batch.table.filter(mine), rejected
    decoded = decode_batch(table, body, max_rows=max_rows)
    rejected = [{"line": r.line, "error": r.error} for r in decoded.rejected]
    if project_id is None:
        return decoded.rows, rejected
    return _own_project_rows(decoded, project_id, rejected), rejected


def _own_project_rows(decoded: DecodedBatch, project_id: UUID,
                      rejected: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """An API key writes into its own project only: other rows are rejected, each with its line number."""
    kept = []
    for line, row in zip(decoded.row_lines, decoded.rows, strict=True):
        if row[0] == project_id:  # project_id is the first column of both tables
            kept.append(row)
        else:
            rejected.append({"line": line, "error": f"project_id {row[0]} is not this API key's project "
                                                    f"({project_id}); send the row with that project's key"})
    rejected.sort(key=lambda r: r["line"])
    return kept


async def _worker_query(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    try:
        await authenticate(request, workers_only=True)
        payload = await request.json()
        sql, parameters = str(payload["sql"]), from_wire(payload.get("parameters") or {})
        settings = {**(payload.get("settings") or {}), "readonly": 2}  # reads only, whatever the SQL says
        result = await runtime.clickhouse.query(sql, parameters, caller=f"worker:{payload.get('caller', '')}",
                                                settings=settings)
    except Refused as refused:
        return JSONResponse({"error": str(refused)}, status_code=refused.status)
    except (KeyError, ValueError, TypeError) as exc:
        return JSONResponse({"error": f"bad relay request: {exc}"}, status_code=400)
    except Exception as exc:  # the worker's query failed in ClickHouse: it gets the reason, as a direct client would
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:500]
        log.warning("relayed query failed: %s", reason)
        return JSONResponse({"error": reason}, status_code=502)
    return JSONResponse({"columns": list(result.column_names), "rows": [to_wire(list(row)) for row in result.rows]})


async def _worker_publish(request: Request) -> JSONResponse:
    runtime: Runtime = request.app.state.runtime
    try:
        await authenticate(request, workers_only=True)
        payload = await request.json()
        channel, message = str(payload["channel"]), payload["message"]
        if not _RELAYED_CHANNELS.match(channel) or not isinstance(message, dict):
            return JSONResponse({"error": "only a run's progress and request channels are relayed"}, status_code=400)
        await runtime.hub.publish(channel, message)
    except Refused as refused:
        return JSONResponse({"error": str(refused)}, status_code=refused.status)
    except (KeyError, ValueError, TypeError) as exc:
        return JSONResponse({"error": f"bad relay request: {exc}"}, status_code=400)
    return JSONResponse({"published": True})


async def authenticate(request: Request, *, workers_only: bool) -> _Caller:
    header = request.headers.get("authorization", "")
    if not header:
        raise Refused(401, "send `Authorization: Bearer <API key>` (an API key of the project, member or above)"
                           + ("" if not workers_only else "; this route takes worker tokens only"))
    try:
        credential = bearer_credential(header)
        if credential.startswith(WORKER_TOKEN_PREFIX):
            verify_worker_token(request.app.state.runtime.secrets, credential)
            # One idempotency namespace for all workers: a batch spooled by one worker process may be replayed
            # by its successor (another pid), and must still be recognised.
            return _Caller(WORKERS, None)
        if workers_only:
            raise Refused(403, "this route serves workers only (a worker token minted from BENCHLAB_SECRET_KEY)")
        client = request.client.host if request.client else None
        identity = await auth_of(request).authenticator.from_bearer(credential, client)
    except BenchlabError as exc:  # UnauthenticatedError among them: a wrong, expired or revoked credential
        raise Refused(401, str(exc)) from None
    if identity.kind is not IdentityKind.API_KEY or identity.key_project_id is None or identity.key_role is None:
        raise Refused(403, "ingest takes an API key (keys create, or createApiKey) or a worker token, not a session")
    if identity.key_role.rank < Role.MEMBER.rank:
        raise Refused(403, "this API key's role is viewer; ingest needs a key with role member or above")
    return _Caller(f"key:{identity.key_id}", identity.key_project_id)


async def _check_claim(request: Request, runtime: Runtime) -> None:
    header = request.headers.get(CLAIM_HEADER.lower())
    if header is None:
        return
    match = _CLAIM.match(header.strip())
    if match is None:
        raise Refused(400, f"{CLAIM_HEADER} must be <run id>:<claim number>")
    async with runtime.pg.acquire() as conn:
        if not await holds_claim(conn, UUID(match.group(1)), int(match.group(2))):
            raise Refused(409, "another worker took this run over (the claim is no longer current); this "
                               "worker's rows for it are refused")


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, decompressed when gzip-encoded, refused once it passes `limit` bytes (either way)."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise Refused(415, f"Content-Encoding '{encoding}' is not supported; send gzip or nothing")
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            raise Refused(413, f"the body is larger than the limit of {limit} bytes (BENCHLAB_INGEST_MAX_BYTES); "
                               "split the batch", limit=limit)
    if encoding == "identity":
        return bytes(received)
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        body = inflater.decompress(bytes(received), limit + 1)
    except zlib.error as exc:
        raise Refused(400, f"the body is not valid gzip ({exc})") from None
    if len(body) > limit or inflater.unconsumed_tail:
        raise Refused(413, f"the decompressed body is larger than the limit of {limit} bytes "
                           "(BENCHLAB_INGEST_MAX_BYTES); split the batch", limit=limit)
    return body
