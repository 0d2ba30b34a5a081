"""Apply numbered SQL migrations to ClickHouse, as far as ClickHouse allows.

ClickHouse has no transactions, so every statement is written to be safely re-runnable (IF NOT EXISTS) and a
file is recorded only after all its statements succeeded: a crash half-way is repaired by running the file
again. Two processes never migrate at once: they serialise on a PostgreSQL advisory lock, since both stores
are always configured together.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from clickhouse_connect.driver.exceptions import DatabaseError

from benchlab.resources import clickhouse_migrations_dir
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.postgres import PgConnection
from benchlab.stores.postgres_migrations import CLICKHOUSE_MIGRATION_LOCK, AppliedRecord, apply_pending
from benchlab.stores.sql_files import MigrationError, MigrationFile, load_migrations

log = logging.getLogger(__name__)

_CALLER = "migrations"
_CREATE_HISTORY = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     UInt32,
    name        String,
    checksum    String,
    applied_at  DateTime64(3, 'UTC') DEFAULT now64(3),
    duration_ms Float64
) ENGINE = ReplacingMergeTree ORDER BY version
"""


async def migrate_clickhouse(store: ClickHouseStore, lock_conn: PgConnection,
                             folder: Path | None = None) -> list[MigrationFile]:
    """Apply pending ClickHouse migrations; `lock_conn` is a PostgreSQL connection used only for the lock."""
    async def read_applied() -> dict[int, AppliedRecord]:
        await store.command(_CREATE_HISTORY, caller=_CALLER)
        result = await store.query("SELECT version, name, checksum FROM schema_migrations FINAL", caller=_CALLER)
        return {int(v): AppliedRecord(int(v), n, c) for v, n, c in result.rows}

    files = load_migrations(folder or clickhouse_migrations_dir())
    return await apply_pending(lock_conn, CLICKHOUSE_MIGRATION_LOCK, "ClickHouse", files, read_applied,
                               lambda migration: _apply(store, migration))


async def _apply(store: ClickHouseStore, migration: MigrationFile) -> None:
    started = time.perf_counter()
    statements = migration.statements()
    for number, statement in enumerate(statements, start=1):
        try:
            await store.command(statement.sql, caller=_CALLER)
        except DatabaseError as exc:
            message = str(exc).strip().splitlines()[0]
            raise MigrationError(
                f"{migration.label}: statement {number} (line {statement.line}) failed: {message} -- in: "
                f"{statement.summary}; the file is not recorded, fix it and migrate again (statements "
                "must be re-runnable)") from None
    elapsed_ms = (time.perf_counter() - started) * 1000
    await store.insert("schema_migrations", [(migration.version, migration.name, migration.checksum, elapsed_ms)],
                       ["version", "name", "checksum", "duration_ms"], caller=_CALLER)
    log.info("applied ClickHouse migration %s (%d statements, %.0f ms)", migration.label, len(statements),
             elapsed_ms)
