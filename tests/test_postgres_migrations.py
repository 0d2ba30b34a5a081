"""PostgreSQL migrations: order, checksums, atomic failure, concurrency, edited files."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from benchlab.resources import postgres_migrations_dir
from benchlab.stores.postgres_migrations import migrate_postgres
from benchlab.stores.sql_files import MigrationError, load_migrations
from tests.helpers.server_process import run_cli


def write(folder: Path, name: str, sql: str) -> None:
    (folder / name).write_text(sql)


async def history(conn: asyncpg.Connection) -> list[tuple[int, str]]:
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations ORDER BY version")
    return [(r["version"], r["checksum"]) for r in rows]


async def test_applies_in_order_and_records_checksums(empty_database_url: str, tmp_path: Path) -> None:
    write(tmp_path, "0002_add_column.sql", "ALTER TABLE t ADD COLUMN b int;")
    write(tmp_path, "0001_create.sql", "CREATE TABLE t (a int);\nINSERT INTO t VALUES (1);")
    conn = await asyncpg.connect(empty_database_url)
    try:
        applied = await migrate_postgres(conn, tmp_path)
        assert [m.version for m in applied] == [1, 2]
        files = load_migrations(tmp_path)
        assert await history(conn) == [(f.version, f.checksum) for f in files]
        assert await conn.fetchval("SELECT count(*) FROM t WHERE b IS NULL") == 1
        assert await migrate_postgres(conn, tmp_path) == []  # second run: nothing to do
    finally:
        await conn.close()


async def test_failing_file_changes_nothing_and_names_file_and_statement(
        empty_database_url: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_ok.sql", "CREATE TABLE good (a int);")
    write(tmp_path, "0002_broken.sql", "CREATE TABLE half (a int);\n\nINSERT INTO missing_table VALUES (1);\n")
    conn = await asyncpg.connect(empty_database_url)
    try:
        with pytest.raises(MigrationError) as raised:
            await migrate_postgres(conn, tmp_path)
        message = str(raised.value)
        assert "0002_broken.sql" in message
        assert "statement 2 (line 3)" in message
        assert "missing_table" in message
        assert [v for v, _ in await history(conn)] == [1]
        assert await conn.fetchval("SELECT to_regclass('half')") is None  # statement 1 rolled back
        assert await conn.fetchval("SELECT to_regclass('good')") is not None
    finally:
        await conn.close()


async def test_edited_applied_file_is_refused(empty_database_url: str, tmp_path: Path) -> None:
    write(tmp_path, "0001_create.sql", "CREATE TABLE t (a int);")
    conn = await asyncpg.connect(empty_database_url)
    try:
        await migrate_postgres(conn, tmp_path)
        write(tmp_path, "0001_create.sql", "CREATE TABLE t (a bigint);")
        with pytest.raises(MigrationError, match="0001_create.sql was edited after it was applied"):
            await migrate_postgres(conn, tmp_path)
        (tmp_path / "0001_create.sql").unlink()
        with pytest.raises(MigrationError, match="its file is gone"):
            await migrate_postgres(conn, tmp_path)
    finally:
        await conn.close()


async def test_concurrent_migrators_apply_each_file_once(empty_database_url: str, tmp_path: Path) -> None:
    # The first file is slow, so the second migrator certainly arrives while the first holds the lock.
    write(tmp_path, "0001_slow.sql", "SELECT pg_sleep(0.5);\nCREATE TABLE t (a int);")
    write(tmp_path, "0002_insert.sql", "INSERT INTO t VALUES (1);")
    conns = [await asyncpg.connect(empty_database_url) for _ in range(3)]
    try:
        results = await asyncio.gather(*(migrate_postgres(c, tmp_path) for c in conns))
        assert sorted(len(r) for r in results) == [0, 0, 2]
        assert await conns[0].fetchval("SELECT count(*) FROM t") == 1
        assert [v for v, _ in await history(conns[0])] == [1, 2]
    finally:
        for conn in conns:
            await conn.close()


async def test_two_processes_migrating_at_once(empty_database_url: str, tmp_path: Path) -> None:
    """Two `benchlab migrate` processes on one database: both succeed, each file is recorded once."""
    def migrate(index: int):
        return run_cli(["migrate"], {"BENCHLAB_DATABASE_URL": empty_database_url,
                                     "BENCHLAB_DATA_DIR": str(tmp_path / f"proc{index}")})

    results = await asyncio.gather(*(asyncio.to_thread(migrate, i) for i in range(2)))
    for result in results:
        assert result.returncode == 0, result.stderr
    conn = await asyncpg.connect(empty_database_url)
    try:
        versions = [v for v, _ in await history(conn)]
    finally:
        await conn.close()
    assert versions == [f.version for f in load_migrations(postgres_migrations_dir())]
    outputs = "".join(r.stdout for r in results)
    assert outputs.count("0001_core.sql") == 1  # applied by exactly one of them
