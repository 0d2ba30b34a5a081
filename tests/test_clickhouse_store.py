"""The ClickHouse store on chDB: parameters under concurrency, a free event loop, limits, migrations."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from benchlab.errors import StoreUnavailableError
from benchlab.resources import clickhouse_migrations_dir
from benchlab.stores.clickhouse import AnalyticsQueryError, ClickHouseStore
from benchlab.stores.clickhouse_migrations import migrate_clickhouse
from benchlab.stores.sql_files import MigrationError, load_migrations
from tests.helpers.server_process import free_port


async def test_bound_parameters_stay_correct_under_concurrency(clickhouse: ClickHouseStore) -> None:
    """A chDB connection shared between threads mixes up parameters; ours must not (one client per thread)."""
    async def ask(n: int) -> tuple[int, str]:
        result = await clickhouse.query("SELECT {n:UInt32} * 2, {s:String}", {"n": n, "s": f"v{n}"},
                                        caller="tests")
        return result.rows[0]

    answers = await asyncio.gather(*(ask(n) for n in range(200)))
    assert answers == [(n * 2, f"v{n}") for n in range(200)]


async def test_queries_do_not_block_the_event_loop(clickhouse: ClickHouseStore) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await clickhouse.query("SELECT sleepEachRow(0.1) FROM numbers(5) SETTINGS max_block_size = 1",
                           caller="tests")
    task.cancel()
    # A blocked loop would let the ticker run at most once during the half-second query.
    assert ticks >= 10


async def test_timeouts_ask_to_narrow_the_filter(chdb_url: str, clickhouse_database: str) -> None:
    store = ClickHouseStore(chdb_url, clickhouse_database, query_timeout_s=1)
    await store.start()
    try:
        with pytest.raises(AnalyticsQueryError, match="narrow your filter"):
            await store.query("SELECT count() FROM numbers(100000000000)", caller="tests")
    finally:
        await store.command(f"DROP DATABASE IF EXISTS `{clickhouse_database}`", caller="tests")
        await store.close()


async def test_unreachable_server_names_the_variable() -> None:
    store = ClickHouseStore(f"http://default:topsecret@127.0.0.1:{free_port()}", "benchlab")
    with pytest.raises(StoreUnavailableError) as raised:
        await store.start()
    await store.close()
    message = str(raised.value)
    assert message.startswith("BENCHLAB_CLICKHOUSE_URL: ")
    assert "topsecret" not in message
    assert "connection refused" in message


async def test_server_lost_after_start_is_one_clear_error() -> None:
    """A query or insert to a server that stopped answering (here: never there) says which setting to check, as
    start() does, instead of the driver's OperationalError (regression: that subclass of DatabaseError was
    caught as a query error and escaped raw)."""
    store = ClickHouseStore(f"http://default:topsecret@127.0.0.1:{free_port()}", "benchlab")
    try:
        for attempt in (lambda: store.query("SELECT 1", caller="test"),
                        lambda: store.insert("t", [(1,)], ["x"], caller="test")):
            with pytest.raises(StoreUnavailableError) as raised:
                await attempt()
            assert str(raised.value).startswith("BENCHLAB_CLICKHOUSE_URL: ")
            assert "topsecret" not in str(raised.value)
    finally:
        await store.close()


async def test_insert_reports_acknowledged_rows(clickhouse: ClickHouseStore) -> None:
    await clickhouse.command("CREATE TABLE t (a UInt32, b String) ENGINE = MergeTree ORDER BY a", caller="tests")
    written = await clickhouse.insert("t", [(i, str(i)) for i in range(1000)], ["a", "b"], caller="tests")
    assert written == 1000
    result = await clickhouse.query("SELECT count(), sum(a) FROM t", caller="tests")
    assert result.rows == [(1000, sum(range(1000)))]


async def test_clickhouse_migrations_apply_once(clickhouse: ClickHouseStore, pg: asyncpg.Connection) -> None:
    applied = await migrate_clickhouse(clickhouse, pg)
    assert [m.version for m in applied] == [f.version for f in load_migrations(clickhouse_migrations_dir())]
    assert await migrate_clickhouse(clickhouse, pg) == []
    tables = await clickhouse.query("SELECT name FROM system.tables WHERE database = currentDatabase()",
                                    caller="tests")
    assert {"request_events", "scores", "schema_migrations"} <= {row[0] for row in tables.rows}


async def test_clickhouse_failing_statement_is_named_and_not_recorded(
        clickhouse: ClickHouseStore, pg: asyncpg.Connection, tmp_path: Path) -> None:
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE IF NOT EXISTS a (x UInt8) ENGINE = Memory;")
    (tmp_path / "0002_bad.sql").write_text(
        "CREATE TABLE IF NOT EXISTS b (x UInt8) ENGINE = Memory;\nCREATE TABLE c (x NoSuchType) ENGINE = Memory;")
    with pytest.raises(MigrationError) as raised:
        await migrate_clickhouse(clickhouse, pg, tmp_path)
    assert "0002_bad.sql: statement 2 (line 2)" in str(raised.value)
    recorded = await clickhouse.query("SELECT version FROM schema_migrations FINAL", caller="tests")
    assert [r[0] for r in recorded.rows] == [1]
    # Fixing the file and migrating again completes it: statements are re-runnable.
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE IF NOT EXISTS b (x UInt8) ENGINE = Memory;\n"
                                           "CREATE TABLE IF NOT EXISTS c (x UInt8) ENGINE = Memory;")
    assert [m.version for m in await migrate_clickhouse(clickhouse, pg, tmp_path)] == [2]


async def test_clickhouse_edited_file_is_refused(clickhouse: ClickHouseStore, pg: asyncpg.Connection,
                                                 tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE IF NOT EXISTS a (x UInt8) ENGINE = Memory;")
    await migrate_clickhouse(clickhouse, pg, tmp_path)
    (tmp_path / "0001_a.sql").write_text("CREATE TABLE IF NOT EXISTS a (x UInt16) ENGINE = Memory;")
    with pytest.raises(MigrationError, match="was edited after it was applied to ClickHouse"):
        await migrate_clickhouse(clickhouse, pg, tmp_path)
