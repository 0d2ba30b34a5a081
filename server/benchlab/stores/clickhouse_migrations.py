"""Apply numbered SQL migrations to ClickHouse, as far as ClickHouse allows.

ClickHouse has no transactions, so every statement is written to be safely re-runnable (IF NOT EXISTS) and a
file is recorded only after all its statements succeeded: a crash half-way is repaired by running the file
again. Two processes never migrate at once: they serialise on a PostgreSQL advisory lock, since both stores
are always configured together.

The files are written for one node; on a ClickHouse cluster each statement is rendered for it at apply time
(benchlab.stores.clickhouse_ddl, docs/clickhouse-cluster.md), so the recorded checksums are the files' own.
Every statement of every file is rendered before anything runs: a statement the renderer refuses stops the
migration with nothing applied.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from clickhouse_connect.driver.exceptions import DatabaseError

from benchlab.errors import ConfigError
from benchlab.resources import clickhouse_migrations_dir
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.clickhouse_ddl import (
    CHDB_IS_SINGLE_NODE,
    CLUSTER_VARIABLE,
    SINGLE_NODE,
    DdlTarget,
    create_database,
    render_statement,
)
from benchlab.stores.postgres import PgConnection
from benchlab.stores.postgres_migrations import CLICKHOUSE_MIGRATION_LOCK, AppliedRecord, apply_pending
from benchlab.stores.sql_files import MigrationError, MigrationFile, Statement, load_migrations

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


_RenderedFile = list[tuple[Statement, list[str]]]  # each statement of a file, with what runs for it


async def migrate_clickhouse(store: ClickHouseStore, lock_conn: PgConnection, folder: Path | None = None,
                             target: DdlTarget = SINGLE_NODE) -> list[MigrationFile]:
    """Apply pending ClickHouse migrations, rendered for `target` (one node by default).

    `lock_conn` is a PostgreSQL connection used only for the lock.
    """
    if target.cluster is not None and store.backend == "chdb":
        raise ConfigError(CLUSTER_VARIABLE, CHDB_IS_SINGLE_NODE)
    history = create_database(store.database, target) + render_statement(_CREATE_HISTORY, target)

    async def read_applied() -> dict[int, AppliedRecord]:
        await _check_topology(store, target)
        for statement in history:
            await store.command(statement, caller=_CALLER)
        result = await store.query("SELECT version, name, checksum FROM schema_migrations FINAL", caller=_CALLER)
        return {int(v): AppliedRecord(int(v), n, c) for v, n, c in result.rows}

    files = load_migrations(folder or clickhouse_migrations_dir())
    rendered = {migration.version: render_file(migration, target) for migration in files}
    return await apply_pending(lock_conn, CLICKHOUSE_MIGRATION_LOCK, "ClickHouse", files, read_applied,
                               lambda migration: _apply(store, migration, rendered[migration.version], target))


async def _check_topology(store: ClickHouseStore, target: DdlTarget) -> None:
    """Refuse a database migrated for another topology (one node vs a cluster, replicated vs sharded).

    Its tables would stay as they are (CREATE ... IF NOT EXISTS) while new ALTERs reached one node or every
    node: a mixture nothing could repair. The history table's engine tells which topology migrated it.
    """
    expected = ("ReplacingMergeTree" if target.cluster is None
                else "Distributed" if target.sharded else "ReplicatedReplacingMergeTree")
    result = await store.query("SELECT engine FROM system.tables WHERE database = currentDatabase() "
                               "AND name = 'schema_migrations'", caller=_CALLER)
    if result.rows and result.rows[0][0] != expected:
        raise MigrationError(
            f"ClickHouse database {store.database} was migrated for another topology: its schema_migrations is "
            f"a {result.rows[0][0]} table, {target.describe()} expects {expected}; moving a database between "
            "one node and a cluster is a data migration benchlab does not do (docs/clickhouse-cluster.md), or "
            "fix BENCHLAB_CLICKHOUSE_CLUSTER / BENCHLAB_CLICKHOUSE_SHARDED")


def render_file(migration: MigrationFile, target: DdlTarget) -> _RenderedFile:
    """Every statement of `migration` with the statements that run for it on `target`; a refusal names the
    file, the statement number and its line."""
    rendered: _RenderedFile = []
    for number, statement in enumerate(migration.statements(), start=1):
        try:
            rendered.append((statement, render_statement(statement.sql, target)))
        except MigrationError as exc:
            raise MigrationError(f"{migration.label}: statement {number} (line {statement.line}): {exc}") from None
    return rendered


def render_migrations(target: DdlTarget, database: str, folder: Path | None = None) -> str:
    """The DDL `migrate` executes on `target` for every file (history table first), as a script to review."""
    parts = [f"-- ClickHouse migrations rendered for {target.describe()} (benchlab migrate --print-clickhouse).",
             "-- Nothing was applied. One statement per ';'.", "", "-- migration history (schema_migrations)"]
    history = create_database(database, target) + render_statement(_CREATE_HISTORY, target)
    parts.extend(statement.strip() + ";" for statement in history)
    for migration in load_migrations(folder or clickhouse_migrations_dir()):
        parts.extend(["", f"-- {migration.path.name}"])
        for _, statements in render_file(migration, target):
            parts.extend(statement + ";" for statement in statements)
    return "\n".join(parts) + "\n"


async def _apply(store: ClickHouseStore, migration: MigrationFile, rendered: _RenderedFile,
                 target: DdlTarget) -> None:
    started = time.perf_counter()
    for number, (statement, executed) in enumerate(rendered, start=1):
        for part, sql in enumerate(executed, start=1):
            try:
                await store.command(sql, caller=_CALLER)
            except DatabaseError as exc:
                message = str(exc).strip().splitlines()[0]
                where = f" in rendered part {part} of {len(executed)}" if len(executed) > 1 else ""
                raise MigrationError(
                    f"{migration.label}: statement {number} (line {statement.line}) failed{where}: {message} -- "
                    f"in: {statement.summary}; the file is not recorded, fix it and migrate again (statements "
                    "must be re-runnable)") from None
    elapsed_ms = (time.perf_counter() - started) * 1000
    # Sharded, schema_migrations is a Distributed table: insert synchronously, so the record is on its shard
    # (and visible to the next migration) when this returns, not queued on this node.
    settings = {"insert_distributed_sync": 1} if target.sharded else None
    await store.insert("schema_migrations", [(migration.version, migration.name, migration.checksum, elapsed_ms)],
                       ["version", "name", "checksum", "duration_ms"], caller=_CALLER, settings=settings)
    log.info("applied ClickHouse migration %s (%d statements, %.0f ms)", migration.label, len(rendered),
             elapsed_ms)
