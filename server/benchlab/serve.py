"""`benchlab serve`: own the data dir, open and migrate the stores, then run uvicorn until a signal."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

import uvicorn

from benchlab import __version__
from benchlab.app import create_app
from benchlab.auth.local_mode import check_listen_address, create_login_link
from benchlab.config import Settings, redact_url
from benchlab.runtime import Runtime
from benchlab.stores.local import local_stores

log = logging.getLogger("benchlab")


async def serve(settings: Settings) -> None:
    started = time.perf_counter()
    check_listen_address(settings)  # before any store starts: a refusal is one line and nothing to undo
    if settings.uses_chdb:
        log.info("embedded ClickHouse (chDB) allows one server process per data dir; use a ClickHouse server "
                 "(BENCHLAB_CLICKHOUSE_URL) to run several workers or replicas")
    with local_stores(settings) as resolved:
        runtime = await Runtime.open(resolved, embedded_postgres=settings.embedded_postgres)
        try:
            report = await runtime.migrate()
            for run_id in await runtime.recover_interrupted_runs():
                log.warning("run %s was left running by a process that stopped; marked interrupted (resumable)",
                            run_id)
            applied = len(report.postgres) + len(report.clickhouse)
            if applied:
                log.info("applied %d migration(s)", applied)
            login_link = None
            if resolved.local_mode:
                async with runtime.pg.acquire() as conn:
                    login_link = await create_login_link(conn, resolved)
            server = uvicorn.Server(uvicorn_config(create_app(resolved, runtime), resolved))
            announcer = asyncio.create_task(_announce_when_started(server, runtime, started, login_link))
            # While uvicorn serves it handles SIGINT/SIGTERM itself (graceful drain) and re-raises them
            # afterwards; a no-op handler underneath lets this function's cleanup run after that.
            previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
            try:
                await server.serve()
            finally:
                announcer.cancel()
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
        finally:
            await runtime.close()
    log.info("benchlab stopped cleanly")


def uvicorn_config(app: object, settings: Settings) -> uvicorn.Config:
    """How `serve` runs uvicorn (benchmarks use the same). No per-message deflate on WebSockets: progress
    messages are small, and compressing each one for each of hundreds of subscribers costs more CPU than
    the bytes it saves on a LAN."""
    return uvicorn.Config(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                          lifespan="on", ws="websockets-sansio", ws_per_message_deflate=False,
                          timeout_graceful_shutdown=10)


async def _announce_when_started(server: uvicorn.Server, runtime: Runtime, started: float,
                                 login_link: str | None) -> None:
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a bool, not an event
        await asyncio.sleep(0.02)
    settings = runtime.settings
    base = f"http://{settings.host}:{settings.port}"
    postgres = "embedded" if runtime.embedded_postgres else redact_url(settings.database_url or "")
    print(f"benchlab {__version__} ready in {time.perf_counter() - started:.2f}s, listening on {base}\n"
          f"  GraphQL:  {base}/graphql   health: {base}/healthz   readiness: {base}/readyz\n"
          f"  data dir: {settings.data_dir}\n"
          f"  PostgreSQL: {postgres}   ClickHouse: {redact_url(settings.effective_clickhouse_url)}"
          f"   realtime: {redact_url(settings.redis_url or 'memory://')}", flush=True)
    if login_link:  # local mode: printed, never logged (it is a credential for whoever reads this terminal)
        print(f"  sign in: {login_link}\n"
              "           (local mode: one-time link for the local admin, valid 24 h; no identity provider "
              "is configured)", flush=True)
