"""A worker's link to an API server, for workers without ClickHouse access (embedded stores, locked-down networks).

Such a worker writes its event and score batches through the server's public ingest endpoint (`POST
/ingest/v2/events|scores`, format v2: Arrow, docs/ingest.md), and reads what its executor needs (recorded
requests of a resumed run, the run's summary, responses to score) through `POST /worker/v1/query`, which the
server runs read-only
against its ClickHouse. `RelayedClickHouse` is a `ClickHouseStore` doing exactly that, so the engine runs
unchanged on either. Authentication: a short-lived worker token the worker mints from the shared
BENCHLAB_SECRET_KEY (secrets.py), renewed before it expires.

Values cross the wire as JSON with tags for what JSON lacks (UUIDs, datetimes, non-finite floats), so a query
answers the worker with the same Python types the ClickHouse driver gives the server.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import httpx

from benchlab.errors import BenchlabError, ConflictError, StoreUnavailableError
from benchlab.secrets import SecretBox, mint_worker_token
from benchlab.stores import request_events, scores
from benchlab.stores.clickhouse import ClickHouseStore, QueryResult
from benchlab.stores.ingest_arrow import CONTENT_TYPE as ARROW_CONTENT_TYPE
from benchlab.stores.ingest_arrow import encode_arrow
from benchlab.stores.ingest_format import TABLES, IngestTable

INGEST_PATHS = {request_events.TABLE: "/ingest/v2/events", scores.TABLE: "/ingest/v2/scores"}
MAX_REQUEST_BYTES = 8 * 1024 * 1024  # a writer batch is split into requests of at most this much JSON
MAX_REQUEST_ROWS = 10_000            # ... and this many rows (the server's limits are higher by default)
PARALLEL_REQUESTS = 2                # requests of one batch in flight: the server decodes one while it writes another
CLAIM_HEADER = "Benchlab-Run-Claim"
_TOKEN_TTL_S = 300


def to_wire(value: Any) -> Any:
    if isinstance(value, UUID):
        return {"$uuid": str(value)}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": repr(value)}
    if isinstance(value, list | tuple):
        return [to_wire(item) for item in value]
    if isinstance(value, dict):
        return {"$map": [[to_wire(k), to_wire(v)] for k, v in value.items()]}
    return value


def from_wire(value: Any) -> Any:
    if isinstance(value, list):
        return [from_wire(item) for item in value]
    if isinstance(value, dict):
        if "$uuid" in value:
            return UUID(value["$uuid"])
        if "$dt" in value:
            return datetime.fromisoformat(value["$dt"])
        if "$date" in value:
            return date.fromisoformat(value["$date"])
        if "$float" in value:
            return float(value["$float"])
        if "$map" in value:
            return {from_wire(k): from_wire(v) for k, v in value["$map"]}
        return {key: from_wire(item) for key, item in value.items()}
    return value


class ServerLink:
    """HTTP to one API server, with a worker token renewed before it expires."""

    def __init__(self, url: str, secrets: SecretBox, worker: str, *, timeout_s: float = 120.0) -> None:
        self.url = url.rstrip("/")
        self._secrets = secrets
        self._worker = worker
        self._client = httpx.AsyncClient(base_url=self.url, timeout=timeout_s)
        self._token = ""
        self._token_until = 0.0

    async def post(self, path: str, *, content: bytes | None = None, json: Any = None,
                   headers: dict[str, str] | None = None) -> httpx.Response:
        try:
            return await self._client.post(path, content=content, json=json,
                                           headers={"Authorization": f"Bearer {self._bearer()}", **(headers or {})})
        except httpx.HTTPError as exc:
            raise StoreUnavailableError("BENCHLAB_SERVER_URL", self.url, f"{type(exc).__name__}: {exc}") from None

    async def get(self, path: str) -> httpx.Response:
        try:
            return await self._client.get(path)
        except httpx.HTTPError as exc:
            raise StoreUnavailableError("BENCHLAB_SERVER_URL", self.url, f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        await self._client.aclose()

    def _bearer(self) -> str:
        if time.time() > self._token_until:
            self._token = mint_worker_token(self._secrets, self._worker, _TOKEN_TTL_S)
            self._token_until = time.time() + _TOKEN_TTL_S / 2
        return self._token


def raise_for_answer(response: httpx.Response, what: str) -> None:
    """A refused request as the error the engine understands: 409 a lost claim, 5xx the server unavailable."""
    if response.status_code < 400:
        return
    try:
        message = response.json().get("error", response.text[:300])
    except ValueError:
        message = response.text[:300]
    if response.status_code == 409:
        raise ConflictError(f"{what}: {message}")
    if response.status_code >= 500 or response.status_code == 429:
        raise StoreUnavailableError("BENCHLAB_SERVER_URL", str(response.url.copy_with(path="/")),
                                    f"HTTP {response.status_code}: {message}")
    raise BenchlabError(f"{what}: the server refused it (HTTP {response.status_code}): {message}")


class RelayedClickHouse(ClickHouseStore):
    """The engine's ClickHouse, reached through an API server (read-only queries, batch inserts via ingest)."""

    def __init__(self, link: ServerLink) -> None:
        super().__init__(f"{link.url}/worker/v1/query", "relayed", threads=1)
        self.backend = "relay"
        self._link = link

    async def start(self) -> None:
        await self.ping()

    async def close(self) -> None:
        self._executor.shutdown(wait=False)

    async def query(self, sql: str, parameters: dict[str, Any] | None = None, *, caller: str,
                    settings: dict[str, Any] | None = None) -> QueryResult:
        response = await self._link.post("/worker/v1/query", json={
            "sql": sql, "parameters": to_wire(parameters or {}), "caller": caller, "settings": settings or {}})
        raise_for_answer(response, f"query of {caller}")
        answer = response.json()
        return QueryResult(tuple(answer["columns"]), [tuple(from_wire(row)) for row in answer["rows"]])

    async def command(self, sql: str, parameters: dict[str, Any] | None = None, *, caller: str) -> None:
        raise BenchlabError("a worker writing through the server runs no DDL; the server migrates ClickHouse")

    async def insert(self, table: str, rows: Sequence[Sequence[Any]], column_names: Sequence[str], *,
                     caller: str, settings: dict[str, Any] | None = None) -> int:
        """POST the rows to the ingest endpoint in format v2 (Arrow), in requests of at most MAX_REQUEST_ROWS
        rows and MAX_REQUEST_BYTES bytes, up to PARALLEL_REQUESTS at once, each with an idempotency key derived
        from the writer's batch id (a retried batch splits the same way). Encoding runs in a thread: the
        worker's event loop times requests meanwhile."""
        spec = TABLES[table]
        if tuple(column_names) != spec.columns:
            raise BenchlabError(f"{table}: rows must be in the table's column order to be relayed")
        batch_id = (settings or {}).get("insert_deduplication_token") or ""
        extra = (settings or {}).get("relay_headers") or {}
        bodies = await asyncio.to_thread(_bodies, spec, rows)
        sending = asyncio.Semaphore(PARALLEL_REQUESTS)

        async def send(part: int, body: bytes) -> int:
            headers = {"Content-Type": ARROW_CONTENT_TYPE, **extra}
            if batch_id:
                headers["Idempotency-Key"] = f"{batch_id}.{part}"
            async with sending:
                response = await self._link.post(INGEST_PATHS[table], content=body, headers=headers)
            raise_for_answer(response, f"{len(rows)} {table} rows")
            answer = response.json()
            if answer.get("rejected"):
                first = answer["rejected"][0]
                raise BenchlabError(f"the server rejected {len(answer['rejected'])} {table} rows of this worker "
                                    f"(row {first['line']}: {first['error']}); worker and server versions differ?")
            return int(answer.get("accepted", 0))

        return sum(await asyncio.gather(*(send(part, body) for part, body in enumerate(bodies))))

    async def ping(self) -> None:
        response = await self._link.get("/healthz")
        raise_for_answer(response, "the server's health check")


def _bodies(spec: IngestTable, rows: Sequence[Sequence[Any]]) -> list[bytes]:
    """Arrow bodies of at most MAX_REQUEST_ROWS rows, halved until each is at most MAX_REQUEST_BYTES."""
    bodies: list[bytes] = []
    pending = [rows[start:start + MAX_REQUEST_ROWS] for start in range(0, len(rows), MAX_REQUEST_ROWS)]
    while pending:
        part = pending.pop(0)
        body = encode_arrow(spec, part)
        if len(body) > MAX_REQUEST_BYTES and len(part) > 1:
            half = len(part) // 2
            pending[:0] = [part[:half], part[half:]]
            continue
        bodies.append(body)
    return bodies
