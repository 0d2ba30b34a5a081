"""Apply numbered SQL migrations to PostgreSQL.

Every file runs in its own transaction under a session advisory lock, so two processes migrating at once
apply each file exactly once; a failing file rolls back completely and the error names the file, the
statement and its line; a file edited after it was applied is refused (its checksum is recorded).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from benchlab.resources import postgres_migrations_dir
from benchlab.stores.postgres import PgConnection
from benchlab.stores.run_queue import install_queue
from benchlab.stores.sql_files import MigrationError, MigrationFile, load_migrations

log = logging.getLogger(__name__)

# Arbitrary constants identifying benchlab's advisory locks (pg_advisory_lock takes a bigint).
POSTGRES_MIGRATION_LOCK = 0x62656E63_686C6162  # "benchlab"
CLICKHOUSE_MIGRATION_LOCK = POSTGRES_MIGRATION_LOCK + 1
_RUN_QUEUE_VERSION = 9  # postgres/migrations/0009_run_queue.sql

_CREATE_HISTORY = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms double precision NOT NULL
)
"""


@dataclass(frozen=True)
class AppliedRecord:
    version: int
    name: str
    checksum: str


def check_history(files: list[MigrationFile], applied: dict[int, AppliedRecord], store: str) -> None:
    """Refuse to go on when an applied file was edited, renamed or deleted."""
    by_version = {f.version: f for f in files}
    for version, record in sorted(applied.items()):
        current = by_version.get(version)
        if current is None:
            raise MigrationError(
                f"{store} migration {version:04d}_{record.name}.sql was applied but its file is gone; "
                "restore it (applied migrations are never deleted)")
        if current.checksum != record.checksum:
            raise MigrationError(
                f"{current.label} was edited after it was applied to {store}; restore the applied "
                "version and put the change in a new migration file")


async def migrate_postgres(conn: PgConnection, folder: Path | None = None) -> list[MigrationFile]:
    """Apply pending migrations from `folder` (default: the shipped ones); return the files applied."""
    async def read_applied() -> dict[int, AppliedRecord]:
        await conn.execute(_CREATE_HISTORY)
        rows = await conn.fetch("SELECT version, name, checksum FROM schema_migrations")
        return {r["version"]: AppliedRecord(r["version"], r["name"], r["checksum"]) for r in rows}

    async def apply(migration: MigrationFile) -> None:
        await _apply(conn, migration)
        if migration.version == _RUN_QUEUE_VERSION:  # the run queue's tables, by the queue library's installer
            await install_queue(conn)

    files = load_migrations(folder or postgres_migrations_dir())
    applied = await apply_pending(conn, POSTGRES_MIGRATION_LOCK, "PostgreSQL", files, read_applied, apply)
    if folder is None and not any(m.version == _RUN_QUEUE_VERSION for m in applied):
        await conn.execute("SELECT pg_advisory_lock($1)", POSTGRES_MIGRATION_LOCK)
        try:
            await install_queue(conn)  # a newer pgqueuer release may bring schema upgrades
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", POSTGRES_MIGRATION_LOCK)
    return applied


async def apply_pending(lock_conn: PgConnection, lock_key: int, store: str, files: list[MigrationFile],
                        read_applied: Callable[[], Awaitable[dict[int, AppliedRecord]]],
                        apply: Callable[[MigrationFile], Awaitable[None]]) -> list[MigrationFile]:
    """Under the store's advisory lock: check the recorded history, apply what is pending, in order."""
    await lock_conn.execute("SELECT pg_advisory_lock($1)", lock_key)
    try:
        applied = await read_applied()
        check_history(files, applied, store)
        pending = [migration for migration in files if migration.version not in applied]
        for migration in pending:
            await apply(migration)
        return pending
    finally:
        await lock_conn.execute("SELECT pg_advisory_unlock($1)", lock_key)


async def _apply(conn: PgConnection, migration: MigrationFile) -> None:
    started = time.perf_counter()
    statements = migration.statements()
    async with conn.transaction():
        for number, statement in enumerate(statements, start=1):
            try:
                await conn.execute(statement.sql)
            except asyncpg.PostgresError as exc:
                raise MigrationError(
                    f"{migration.label}: statement {number} (line {statement.line}) failed: "
                    f"{exc.__class__.__name__}: {exc} -- in: {statement.summary}; "
                    "nothing from this file was applied") from None
        elapsed_ms = (time.perf_counter() - started) * 1000
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)",
            migration.version, migration.name, migration.checksum, elapsed_ms)
    log.info("applied PostgreSQL migration %s (%d statements, %.0f ms)", migration.label, len(statements),
             (time.perf_counter() - started) * 1000)
