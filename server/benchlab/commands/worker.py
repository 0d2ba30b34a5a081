"""`benchlab worker`: claim queued runs from the shared PostgreSQL and execute them, until SIGTERM or Ctrl-C.

What a worker needs (docs/scale-out.md): the database (BENCHLAB_DATABASE_URL, or the embedded PostgreSQL of a
`benchlab serve` on the same data dir), the secret key (BENCHLAB_SECRET_KEY, or the data dir's key file), and
either ClickHouse (BENCHLAB_CLICKHOUSE_URL: it writes directly) or an API server (BENCHLAB_SERVER_URL, or the
serve of its data dir: rows go through the ingest endpoint, reads and progress through the worker relay).
A stop signal stops claiming and hands the runs executing here back to the queue; a second one exits at once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket

from benchlab.client.local_server import read_server_file
from benchlab.config import Settings, redact_url
from benchlab.engine.deps import EngineDeps
from benchlab.engine.run_manager import RunManager
from benchlab.errors import BenchlabError
from benchlab.metrics_endpoint import MetricsListener
from benchlab.realtime.hub import Hub
from benchlab.realtime.relayed_hub import RelayedHub
from benchlab.secrets import KEY_FILE_NAME, load_secret_box
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.embedded_postgres import EmbeddedPostgres
from benchlab.stores.postgres import create_pool
from benchlab.stores.server_link import RelayedClickHouse, ServerLink
from benchlab.stores.telemetry_figures import FigureRefresher

log = logging.getLogger("benchlab")


async def work(settings: Settings, count: int) -> None:
    database_url = _database_url(settings)
    server_url = None if settings.clickhouse_url else _server_url(settings)
    if not settings.secret_key and not (settings.data_dir / KEY_FILE_NAME).exists():
        raise BenchlabError("a worker needs the servers' secret key: set BENCHLAB_SECRET_KEY to the value the API "
                            "servers use (or run the worker on the data dir of the `benchlab serve` it helps)")
    secrets = load_secret_box(settings.secret_key, settings.data_dir)
    name = f"{socket.gethostname()}:{os.getpid()}"
    metrics = MetricsListener.start(settings)  # BENCHLAB_METRICS_PORT (docs/operations.md), else None
    pg = await create_pool(database_url, max_size=4 + 2 * count)
    link = ServerLink(server_url, secrets, name) if server_url else None
    clickhouse: ClickHouseStore = (RelayedClickHouse(link) if link else ClickHouseStore(
        settings.effective_clickhouse_url, settings.clickhouse_database, query_timeout_s=settings.query_timeout_s))
    hub = RelayedHub(link) if link and not settings.redis_url else Hub(settings.redis_url)
    try:
        await clickhouse.start()
        await hub.start()
        # Its own spool folder: a worker on the data dir of a serve must not replay the server's batches.
        deps = EngineDeps(pg, clickhouse, hub, settings.data_dir / "worker", secrets)
        figures = FigureRefresher(pg, deps.data_dir / "spool") if metrics else None  # refreshed while scraped
        if figures is not None:
            figures.start()
        try:
            await _run(RunManager(deps), count, settings, server_url)
        finally:
            if figures is not None:
                await figures.stop()
    finally:
        if metrics is not None:
            await asyncio.to_thread(metrics.stop)
        await hub.stop()
        await clickhouse.close()
        if link is not None:
            await link.close()
        await pg.close()


async def _run(manager: RunManager, count: int, settings: Settings, server_url: str | None) -> None:
    """The workers (and the orphan sweeper) of `serve`'s own kind, until a stop signal; then the hand-back."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def stop(signum: int) -> None:
        if stopping.is_set():
            log.warning("second stop signal: exiting now; runs still executing are taken over by another worker "
                        "after their heartbeat times out")
            os._exit(128 + signum)
        stopping.set()
        log.info("stopping: no more claims; handing the runs executing here back to the queue")

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
    manager.start_workers(count, settings)
    target = f"through {server_url}" if server_url else redact_url(settings.effective_clickhouse_url)
    print(f"benchlab worker ready: {count} worker(s) x {settings.worker_slots} slot(s), rows {target}", flush=True)
    try:
        await stopping.wait()
        await manager.stop_workers()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    print("benchlab worker stopped", flush=True)


def _database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    embedded = EmbeddedPostgres(settings.data_dir)
    if (settings.data_dir / "postgres" / "PG_VERSION").exists() and embedded.is_running():
        return embedded.url
    raise BenchlabError("a worker needs the shared PostgreSQL: set BENCHLAB_DATABASE_URL, or point "
                        f"BENCHLAB_DATA_DIR at the data dir of a running `benchlab serve` (none runs in "
                        f"{settings.data_dir})")


def _server_url(settings: Settings) -> str:
    if settings.server_url:
        return settings.server_url
    server = read_server_file(settings.data_dir)
    if server is not None:
        return server.url
    raise BenchlabError("a worker needs ClickHouse or an API server to send its rows to: set "
                        "BENCHLAB_CLICKHOUSE_URL, or BENCHLAB_SERVER_URL, or point BENCHLAB_DATA_DIR at the data dir "
                        "of a running `benchlab serve`")
