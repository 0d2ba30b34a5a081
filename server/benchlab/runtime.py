"""The connected stores a running server (or CLI command) works with, opened and closed in one place."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from benchlab.config import Settings
from benchlab.engine.deps import EngineDeps
from benchlab.engine.run_manager import RunManager
from benchlab.realtime.hub import Hub
from benchlab.secrets import SecretBox, load_secret_box
from benchlab.stores import request_events, scores
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.clickhouse_ddl import DdlTarget
from benchlab.stores.clickhouse_migrations import migrate_clickhouse
from benchlab.stores.event_writer import EventWriter
from benchlab.stores.postgres import create_pool, ping
from benchlab.stores.postgres_migrations import migrate_postgres
from benchlab.stores.runs import mark_orphans_interrupted
from benchlab.stores.sql_files import MigrationFile

log = logging.getLogger(__name__)


POOL_CLOSE_TIMEOUT_S = 30.0
SERVICE_STOP_TIMEOUT_S = 30.0
WORKERS_STOP_TIMEOUT_S = 120.0  # runs in flight hand back their state first


async def finished_within(what: str, step: Awaitable[object], timeout_s: float) -> bool:
    """Wait for one step of a shutdown for at most `timeout_s`; False (and a warning naming it) when it did not
    finish. The step is then cancelled but not waited for: a task that ignores its cancellation must not keep
    the process from stopping (`asyncio.wait_for` would wait for it)."""
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=timeout_s)
    if done:
        task.result()
        return True
    task.cancel()
    log.warning("shutdown: %s did not finish within %.0f s; going on without it", what, timeout_s)
    return False


@dataclass(frozen=True)
class MigrationReport:
    postgres: list[MigrationFile]
    clickhouse: list[MigrationFile]


@dataclass
class Runtime:
    settings: Settings
    pg: asyncpg.Pool
    clickhouse: ClickHouseStore
    hub: Hub
    secrets: SecretBox
    embedded_postgres: bool
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_monotonic: float = field(default_factory=time.monotonic)
    _runs: RunManager | None = None
    _ingest_writers: dict[str, EventWriter] = field(default_factory=dict)

    @classmethod
    async def open(cls, settings: Settings, *, embedded_postgres: bool = False) -> Runtime:
        """Connect to every store named by `settings` (the database URL must be resolved by now)."""
        assert settings.database_url, "start embedded PostgreSQL first (see benchlab.commands.serve)"
        pg = await create_pool(settings.database_url)
        clickhouse = ClickHouseStore(settings.effective_clickhouse_url, settings.clickhouse_database,
                                     query_timeout_s=settings.query_timeout_s)
        hub = Hub(settings.redis_url)
        secrets = load_secret_box(settings.secret_key, settings.data_dir)
        try:
            await clickhouse.start()
            await hub.start()
        except BaseException:
            await pg.close()
            await clickhouse.close()
            raise
        return cls(settings, pg, clickhouse, hub, secrets, embedded_postgres)

    async def migrate(self) -> MigrationReport:
        """Apply pending migrations; ClickHouse DDL is rendered for the configured cluster, if any."""
        target = DdlTarget.from_settings(self.settings)  # a cluster on chDB is refused before anything runs
        async with self.pg.acquire() as conn:
            postgres = await migrate_postgres(conn)
            clickhouse = await migrate_clickhouse(self.clickhouse, conn, target=target)
        return MigrationReport(postgres, clickhouse)

    async def recover_interrupted_runs(self) -> list[UUID]:
        """Mark runs whose process died as `interrupted`, so they can be resumed."""
        async with self.pg.acquire() as conn:
            return await mark_orphans_interrupted(conn)

    def start_workers(self) -> None:
        """The settings' number of embedded run-queue workers (`BENCHLAB_WORKERS`), and the orphan sweeper."""
        self.runs.start_workers(self.settings.workers, self.settings)

    async def start_ingest(self) -> None:
        """The buffered writers behind the ingest endpoint (one per table), spooling under the data dir."""
        for table, columns in ((request_events.TABLE, request_events.COLUMNS), (scores.TABLE, scores.COLUMNS)):
            writer = EventWriter(self.clickhouse, table, columns, self.settings.data_dir / "spool" / f"ingest-{table}")
            await writer.start()
            self._ingest_writers[table] = writer

    def ingest_writer(self, table: str) -> EventWriter:
        return self._ingest_writers[table]

    def engine_deps(self) -> EngineDeps:
        """What the experiment engine needs."""
        return EngineDeps(self.pg, self.clickhouse, self.hub, self.settings.data_dir, self.secrets)

    @property
    def runs(self) -> RunManager:
        """Runs executing in this process (created on first use)."""
        if self._runs is None:
            self._runs = RunManager(self.engine_deps())
        return self._runs

    async def readiness(self) -> dict[str, str]:
        """Ask every store to answer; returns "ok" or a short failure reason per store."""
        async def check(probe: Callable[[], Awaitable[object]]) -> str:
            try:
                await asyncio.wait_for(probe(), timeout=5)
            except Exception as exc:  # a readiness probe reports, it never raises
                return f"error: {type(exc).__name__}"
            return "ok"

        results = await asyncio.gather(check(lambda: ping(self.pg)), check(self.clickhouse.ping),
                                       check(self.hub.ping))
        return dict(zip(("postgres", "clickhouse", "realtime"), results, strict=True))

    async def close(self, *, pool_close_timeout_s: float = POOL_CLOSE_TIMEOUT_S) -> None:
        if self._runs is not None:
            await self._runs.shutdown()  # runs in flight go back to the queue, for a worker to resume
        for writer in self._ingest_writers.values():
            await writer.close(10.0)  # what ClickHouse has not taken by then stays in the spool
        self._ingest_writers.clear()
        await self.hub.stop()
        await self.clickhouse.close()
        # asyncpg's Pool.close() waits, without limit, until every acquired connection is released: one that a
        # stuck task still holds would keep the process from ever stopping. Past the bound, say so and cut them.
        if not await finished_within("closing the PostgreSQL pool", self.pg.close(), pool_close_timeout_s):
            self.pg.terminate()
