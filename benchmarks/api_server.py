"""The server process of benchmarks/api.py: the real app on uvicorn plus the baselines it is compared with.

    python benchmarks/api_server.py --data-dir D --database-url URL --redis-url URL --port P --events N
                                    --info-file F

Started by api.py as a subprocess; not meant to be run by hand. It does what `benchlab serve` does (open the
stores, migrate, `create_app`, uvicorn with the same settings, benchlab's logging) and adds, in the same
process and behind the same middleware:
- `POST /bare/run-summary` {"id"}: a run's summary the way the GraphQL `run(id) { summary }` gets it (same
  authenticator, the DataLoader's own SQL in one asyncpg fetch, the jsonb decoded and re-encoded) with
  nothing of GraphQL: the baseline for the GraphQL overhead on a small query;
- `POST /bare/latency-series` {"projectId", "from", "to"}: `latency_series()` with the arguments the
  GraphQL field passes, as JSON (the project loaded and checked as the field does);
- `POST /bare/latency-series/raw`: the same call timed inside the server, without any HTTP or JSON, so the
  caller gets the analytics function's own cost.
Every HTTP response carries `server-timing: app;dur=<ms>` (request received → response started), so the
client can tell the server's share from its own. chDB allows one process per data dir, so the events are
seeded here, before serving (see `seed_events`); the ids the client needs go to `--info-file` as JSON.
Why not `benchlab serve` itself: it offers no way to add routes, and on start it marks runs left `running`
as interrupted, which would end the subscription the fan-out measurement needs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import resource
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from benchlab.analytics.columns import utc
from benchlab.analytics.series import latency_series
from benchlab.analytics.summary import SLOs, compute_summary
from benchlab.api.ids import decode_global_id, encode_global_id
from benchlab.app import create_app
from benchlab.auth.api_keys import mint
from benchlab.commands.serve import uvicorn_config
from benchlab.config import Settings
from benchlab.logging_setup import configure_logging
from benchlab.runtime import Runtime
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.request_events import COLUMNS as REQUEST_EVENT_COLUMNS
from ingest import realistic_rows

# ingest.py's rows are realistic but slow to make in Python (~5 k rows/s, ~3 KB each); past this many, the
# rest of the data set is copies of them made inside ClickHouse (see copy_events).
BASE_ROWS = 100_000
INSERT_BATCH = 20_000
ROW_SPACING_US = 2_500  # realistic_rows puts one request every 2.5 ms from its start time
SERIES_INTERVAL_S = 60.0
SERIES_PERCENTILES = [50.0, 90.0, 99.0]
SERIES_METRIC = "ttft_ms"  # the value of the GraphQL enum Metric.TTFT
RUN_BY_ID_SQL = "SELECT * FROM runs t WHERE id = ANY($1::uuid[])"  # what the by-id DataLoader sends
PROJECT_BY_ID_SQL = "SELECT * FROM projects t WHERE id = ANY($1::uuid[])"


class ServerTiming:
    """Outer ASGI wrapper: adds `server-timing: app;dur=<ms>` from request start to response start."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                duration = f"app;dur={(time.perf_counter() - started) * 1000:.3f}".encode()
                message["headers"] = [*message.get("headers", []), (b"server-timing", duration)]
            await send(message)

        await self.app(scope, receive, timed_send)


async def _project_of_caller(request: Request, project_id: UUID) -> bool:
    """The check GraphQL's permission classes make for an API key: the key belongs to this project."""
    identity = await request.app.state.auth.authenticator.identify(request.headers, request.cookies)
    return identity.kind == "api_key" and identity.key_project_id == project_id


async def bare_run_summary(request: Request) -> JSONResponse:
    """`run(id) { summary }` without GraphQL: authenticate, one asyncpg fetch (the pool's codec decodes the
    jsonb), encode the response."""
    body = await request.json()
    _, run_id = decode_global_id(body["id"])
    async with request.app.state.runtime.pg.acquire() as conn:
        rows = await conn.fetch(RUN_BY_ID_SQL, [run_id])
    if not rows or not await _project_of_caller(request, rows[0]["project_id"]):
        return JSONResponse({"error": "not found"}, status_code=404)
    return JSONResponse({"data": {"run": {"summary": rows[0]["summary"]}}})


async def _series_arguments(request: Request) -> tuple[UUID, datetime, datetime] | None:
    """The latencySeries arguments from a JSON body, after the checks the GraphQL field makes."""
    body = await request.json()
    _, project_id = decode_global_id(body["projectId"])
    async with request.app.state.runtime.pg.acquire() as conn:
        rows = await conn.fetch(PROJECT_BY_ID_SQL, [project_id])
    if not rows or not await _project_of_caller(request, project_id):
        return None
    return project_id, datetime.fromisoformat(body["from"]), datetime.fromisoformat(body["to"])


async def _series(store: ClickHouseStore, project_id: UUID, start: datetime, end: datetime) -> Any:
    return await latency_series(store, project_id, start, end, SERIES_INTERVAL_S, None, SERIES_METRIC,
                                SERIES_PERCENTILES)


async def bare_latency_series(request: Request) -> JSONResponse:
    """latencySeries without GraphQL: the same checks and analytics call, columns straight to JSON."""
    arguments = await _series_arguments(request)
    if arguments is None:
        return JSONResponse({"error": "not found"}, status_code=404)
    series = await _series(request.app.state.runtime.clickhouse, *arguments)
    return JSONResponse({"data": {"latencySeries": {
        "bucketStart": [bucket.isoformat() for bucket in series.bucket_start], "model": series.model,
        "count": series.count,
        "values": [{"percentile": column.percentile, "values": column.values} for column in series.values]}}})


async def raw_latency_series(request: Request) -> JSONResponse:
    """Time `latency_series()` alone, inside the server: the floor any API over it can reach."""
    arguments = await _series_arguments(request)
    if arguments is None:
        return JSONResponse({"error": "not found"}, status_code=404)
    started = time.perf_counter()
    series = await _series(request.app.state.runtime.clickhouse, *arguments)
    return JSONResponse({"ms": (time.perf_counter() - started) * 1000, "rows": len(series.count)})


def benchmark_app(settings: Settings, runtime: Runtime) -> ASGIApp:
    """benchlab's own app (routes, middleware, lifespan) with the baseline routes added beside /graphql."""
    app: Starlette = create_app(settings, runtime)
    app.add_route("/bare/run-summary", bare_run_summary, methods=["POST"])
    app.add_route("/bare/latency-series", bare_latency_series, methods=["POST"])
    app.add_route("/bare/latency-series/raw", raw_latency_series, methods=["POST"])
    return ServerTiming(app)


async def copy_events(store: ClickHouseStore, first_ts: datetime, base_rows: int, total: int) -> None:
    """Grow the table from `base_rows` to `total` rows with copies shifted in time and fresh event ids.

    Same distributions and shape as the originals (runs, models, ~64 gaps per row), one request every
    2.5 ms throughout; cheap because ClickHouse does it.
    """
    copies, remainder = divmod(total, base_rows)
    originals_end = first_ts + timedelta(microseconds=base_rows * ROW_SPACING_US)
    for copy in range(1, copies + (1 if remainder else 0)):
        await store.command(
            # The subquery keeps WHERE on the stored ts: in ClickHouse a SELECT alias (the REPLACEd ts) is
            # visible in its own WHERE.
            "INSERT INTO request_events SELECT * REPLACE (ts + toIntervalMicrosecond({shift:UInt64}) AS ts, "
            "run_offset_s + {shift:UInt64} / 1e6 AS run_offset_s, generateUUIDv4() AS event_id) FROM "
            "(SELECT * FROM request_events WHERE ts < {end:DateTime64(6, 'UTC')} ORDER BY ts LIMIT {limit:UInt64})",
            {"shift": copy * base_rows * ROW_SPACING_US, "end": originals_end,
             "limit": base_rows if copy < copies else remainder}, caller="benchmark.seed")


async def seed_events(store: ClickHouseStore, total: int) -> dict[str, Any]:
    """Write `total` request events (ingest.py's generator); returns the identities and time span in them."""
    base = realistic_rows(REQUEST_EVENT_COLUMNS, min(total, BASE_ROWS))
    first = dict(zip(REQUEST_EVENT_COLUMNS, base[0], strict=True))
    for offset in range(0, len(base), INSERT_BATCH):
        await store.insert("request_events", base[offset:offset + INSERT_BATCH], REQUEST_EVENT_COLUMNS,
                           caller="benchmark.seed")
    base_rows = len(base)
    del base
    gc.collect()
    await copy_events(store, first["ts"], base_rows, total)
    # A live table's parts get merged in the background over time; start from that state, not mid-merge.
    await store.command("OPTIMIZE TABLE request_events FINAL", caller="benchmark.seed")
    count, start, end, last_offset_s = (await store.query(
        "SELECT count(), min(ts), max(ts), max(run_offset_s) FROM request_events", caller="benchmark.seed")).rows[0]
    assert count == total, (count, total)
    return {"project_id": first["project_id"], "run_id": first["run_id"], "experiment_id": first["experiment_id"],
            "start": utc(start), "end": utc(end), "last_offset_s": last_offset_s}


async def seed_catalog(runtime: Runtime, events: dict[str, Any]) -> dict[str, str]:
    """Project, experiment, a finished run with its real summary, a running run, a viewer API key."""
    project_id, run_id, experiment_id = events["project_id"], events["run_id"], events["experiment_id"]
    summary = await compute_summary(runtime.clickhouse, project_id, run_id, 0.0, events["last_offset_s"], SLOs())
    secret, prefix, key_hash = mint()
    running_id = uuid4()
    async with runtime.pg.acquire() as conn, conn.transaction():
        await conn.execute("INSERT INTO projects (id, slug, name) VALUES ($1, 'bench', 'bench')", project_id)
        await conn.execute("INSERT INTO experiments (id, project_id, name, spec) VALUES ($1, $2, 'bench', '{}')",
                           experiment_id, project_id)
        await conn.execute(
            "INSERT INTO runs (id, project_id, experiment_id, status, config_snapshot, summary, started_at, "
            "finished_at) VALUES ($1, $2, $3, 'completed', '{}', $4::jsonb, now(), now())",
            run_id, project_id, experiment_id, summary)
        await conn.execute(
            "INSERT INTO runs (id, project_id, experiment_id, status, config_snapshot, planned_requests, "
            "started_at, heartbeat_at, owner) VALUES ($1, $2, $3, 'running', '{}', 1000000, now(), now(), "
            "'benchmark')", running_id, project_id, experiment_id)
        await conn.execute("INSERT INTO api_keys (project_id, name, role, prefix, key_hash) "
                           "VALUES ($1, 'bench', 'viewer', $2, $3)", project_id, prefix, key_hash)
    return {"api_key": secret, "project": encode_global_id("Project", project_id),
            "finished_run": encode_global_id("Run", run_id), "running_run": encode_global_id("Run", running_id),
            "running_run_uuid": str(running_id), "summary_bytes": str(len(json.dumps(summary))),
            "from": events["start"].isoformat(), "to": (events["end"] + timedelta(seconds=1)).isoformat()}


async def serve(settings: Settings, events: int, info_file: Path) -> None:
    """Open, migrate and seed the stores, write the info file, serve until SIGINT/SIGTERM."""
    runtime = await Runtime.open(settings)
    try:
        await runtime.migrate()
        started = time.perf_counter()
        seeded = await seed_events(runtime.clickhouse, events)
        info = await seed_catalog(runtime, seeded)
        info["seed_seconds"] = f"{time.perf_counter() - started:.1f}"
        gc.collect()
        server = uvicorn.Server(uvicorn_config(benchmark_app(settings, runtime), settings))
        await asyncio.to_thread(info_file.write_text, json.dumps(info))
        await server.serve()
    finally:
        await runtime.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--info-file", type=Path, required=True)
    args = parser.parse_args()
    # One socket per subscriber: a thousand WebSockets need more descriptors than some default soft limits.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    configure_logging("text", "INFO")  # what `benchlab serve` does by default: one access line per request
    # The per-caller GraphQL rate limit stays in the path (one Redis script call per operation, as in any
    # deployment with Redis) but at its highest setting: the benchmark sends thousands of operations a minute.
    settings = Settings(data_dir=args.data_dir, database_url=args.database_url,
                        clickhouse_url=f"chdb://{args.data_dir / 'clickhouse'}", redis_url=args.redis_url,
                        port=args.port, graphql_rate_limit=1_000_000)
    asyncio.run(serve(settings, args.events, args.info_file))


if __name__ == "__main__":
    main()
