"""`benchlab serve`: own the data dir, open and migrate the stores, then run uvicorn until a signal."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

import uvicorn

from benchlab import __version__
from benchlab.app import create_app
from benchlab.config import Settings, redact_url
from benchlab.runtime import Runtime
from benchlab.stores.local import local_stores

log = logging.getLogger("benchlab")


async def serve(settings: Settings) -> None:
    started = time.perf_counter()
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
            config = uvicorn.Config(create_app(resolved, runtime), host=resolved.host, port=resolved.port,
                                    log_config=None, access_log=False, lifespan="on", ws="websockets-sansio",
                                    timeout_graceful_shutdown=10)
            server = uvicorn.Server(config)
            announcer = asyncio.create_task(_announce_when_started(server, runtime, started))
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


async def _announce_when_started(server: uvicorn.Server, runtime: Runtime, started: float) -> None:
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
