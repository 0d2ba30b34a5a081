"""The buffered event writer on real chDB: batching, dedup tokens, outages, crash replay, spool exactness."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.clickhouse_migrations import migrate_clickhouse
from benchlab.stores.event_writer import EventWriter
from benchlab.stores.spool import Spool
from tests.helpers.event_rows import event_row, table_columns
from tests.helpers.polling import eventually

TABLE = "request_events"
FAST = {"flush_interval_s": 0.02, "retry_backoff_s": 0.02, "max_backoff_s": 0.1}


@pytest.fixture
async def columns(clickhouse: ClickHouseStore, pg: asyncpg.Connection) -> tuple[str, ...]:
    await migrate_clickhouse(clickhouse, pg)
    return await table_columns(clickhouse)


async def event_ids(store: ClickHouseStore, table: str = TABLE) -> list[uuid.UUID]:
    """Every stored event id, sorted in Python (ClickHouse orders UUIDs differently)."""
    result = await store.query(f"SELECT event_id FROM {table}", caller="tests")
    return sorted(row[0] for row in result.rows)


async def count(store: ClickHouseStore, table: str = TABLE) -> int:
    return (await store.query(f"SELECT count() FROM {table}", caller="tests")).rows[0][0]


def spool_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.arrow"))


def folder_entries(folder: Path) -> list[Path]:
    return list(folder.iterdir())


async def test_full_batches_are_written_without_flush_and_not_per_row(
        clickhouse: ClickHouseStore, columns: tuple[str, ...], tmp_path: Path) -> None:
    writer = EventWriter(clickhouse, TABLE, columns, tmp_path, max_batch_rows=100, flush_interval_s=3600)
    await writer.start()
    for n in range(250):
        writer.add(event_row(columns, n))

    async def two_batches_landed() -> bool:
        return await count(clickhouse) == 200

    await eventually(two_batches_landed, "two full batches written")
    await writer.flush()
    assert await count(clickhouse) == 250
    assert (writer.stats.batches_written, writer.stats.rows_written) == (3, 250)
    await writer.close()


async def test_a_partial_batch_is_written_once_its_oldest_row_is_due(
        clickhouse: ClickHouseStore, columns: tuple[str, ...], tmp_path: Path) -> None:
    writer = EventWriter(clickhouse, TABLE, columns, tmp_path, flush_interval_s=0.05)
    await writer.start()
    for n in range(10):
        writer.add(event_row(columns, n))

    def acknowledged() -> bool:  # rows show in the table before the insert returns: the rollups' views run after
        return writer.stats.batches_written == 1

    await eventually(acknowledged, "the batch acknowledged")
    assert await count(clickhouse) == 10
    await writer.close()


async def test_close_with_everything_acknowledged_leaves_the_spool_empty(
        clickhouse: ClickHouseStore, columns: tuple[str, ...], tmp_path: Path) -> None:
    writer = EventWriter(clickhouse, TABLE, columns, tmp_path, max_batch_rows=1000, flush_interval_s=3600)
    await writer.start()
    for n in range(5000):
        writer.add(event_row(columns, n))
        if n % 500 == 0:
            await asyncio.sleep(0)
    await writer.close()
    assert await count(clickhouse) == 5000
    stats = writer.stats
    assert (stats.rows_added, stats.rows_written, stats.batches_written) == (5000, 5000, 5)
    assert (stats.batches_spooled, stats.rows_pending_on_disk, stats.last_error) == (0, 0, "")
    assert folder_entries(tmp_path) == []
    with pytest.raises(RuntimeError, match="closed"):
        writer.add(event_row(columns, 0))


async def test_a_row_of_the_wrong_width_is_refused_at_once(
        clickhouse: ClickHouseStore, columns: tuple[str, ...], tmp_path: Path) -> None:
    writer = EventWriter(clickhouse, TABLE, columns, tmp_path)
    with pytest.raises(ValueError, match=f"needs {len(columns)} values, got 2"):
        writer.add((1, 2))


async def test_a_resent_batch_with_the_same_token_is_not_counted_twice(
        clickhouse: ClickHouseStore, columns: tuple[str, ...]) -> None:
    rows = [event_row(columns, n) for n in range(100)]
    token = {"insert_deduplication_token": uuid.uuid4().hex}
    for _ in range(2):
        assert await clickhouse.insert(TABLE, rows, columns, caller="tests", settings=token) == 100
    assert await count(clickhouse) == 100
    # Control: the same rows under another token are a different batch and do land.
    await clickhouse.insert(TABLE, rows, columns, caller="tests",
                            settings={"insert_deduplication_token": uuid.uuid4().hex})
    assert await count(clickhouse) == 200


async def test_a_spooled_batch_that_had_landed_is_not_written_twice(
        clickhouse: ClickHouseStore, columns: tuple[str, ...], tmp_path: Path) -> None:
    """A process died after ClickHouse took the batch but before the spool file was removed."""
    rows = [event_row(columns, n) for n in range(300)]
    spool = Spool(tmp_path)
    spool.prepare()
    spooled = spool.write(uuid.uuid4().hex, columns, rows)
    await clickhouse.insert(TABLE, rows, columns, caller="tests",
                            settings={"insert_deduplication_token": spooled.batch_id})
    writer = EventWriter(clickhouse, TABLE, columns, tmp_path)
    await writer.start()
    assert writer.stats.rows_written == 300  # acknowledged (as a duplicate)
    assert await count(clickhouse) == 300
    assert spool_files(tmp_path) == []
    await writer.close()


async def test_rows_wait_on_disk_while_the_table_is_gone_and_land_exactly_once(
        clickhouse: ClickHouseStore, columns: tuple[str, ...], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="benchlab.stores.event_writer")
    writer = EventWriter(clickhouse, TABLE, columns, tmp_path, max_batch_rows=50, **FAST)
    await writer.start()
    rows = [event_row(columns, n) for n in range(600)]
    for row in rows[:200]:
        writer.add(row)
    await writer.flush()
    assert await count(clickhouse) == 200

    await clickhouse.command(f"DETACH TABLE {TABLE}", caller="tests")
    for n, row in enumerate(rows[200:500]):
        writer.add(row)
        if n % 40 == 0:
            await asyncio.sleep(0.01)
    await writer.flush()
    stats = writer.stats
    assert stats.rows_pending_on_disk == 300
    assert stats.batches_spooled >= 6
    assert sum(int(path.stem.rsplit("-", 1)[1]) for path in spool_files(tmp_path)) == 300
    assert "UNKNOWN_TABLE" in stats.last_error
    await asyncio.sleep(0.2)  # several retries fail meanwhile; they are not logged one by one

    await clickhouse.command(f"ATTACH TABLE {TABLE}", caller="tests")
    for row in rows[500:]:
        writer.add(row)

    async def drained() -> bool:
        return writer.stats.rows_pending_on_disk == 0

    await eventually(drained, "the spool replayed")
    await writer.close()
    assert await event_ids(clickhouse) == sorted(row[columns.index("event_id")] for row in rows)
    assert writer.stats.rows_written == 600
    assert spool_files(tmp_path) == []

    records = [r for r in caplog.records if r.name == "benchlab.stores.event_writer"]
    assert [r.levelno for r in records] == [logging.WARNING, logging.INFO]
    assert "unavailable" in records[0].getMessage() and "available again" in records[1].getMessage()
    assert "item-" not in caplog.text and str(rows[0][columns.index("event_id")]) not in caplog.text


async def test_a_new_writer_replays_what_a_closed_writer_left_on_disk(
        clickhouse: ClickHouseStore, columns: tuple[str, ...], tmp_path: Path) -> None:
    rows = [event_row(columns, n) for n in range(400)]
    await clickhouse.command(f"DETACH TABLE {TABLE}", caller="tests")
    first = EventWriter(clickhouse, TABLE, columns, tmp_path, max_batch_rows=150, **FAST)
    await first.start()
    for row in rows:
        first.add(row)
    await first.close()
    assert first.stats.rows_pending_on_disk == 400
    assert len(spool_files(tmp_path)) == 3

    await clickhouse.command(f"ATTACH TABLE {TABLE}", caller="tests")
    second = EventWriter(clickhouse, TABLE, columns, tmp_path, **FAST)
    await second.start()  # replays before anything else
    assert await count(clickhouse) == 400
    assert (second.stats.rows_written, second.stats.rows_pending_on_disk) == (400, 0)
    await second.close()
    assert await event_ids(clickhouse) == sorted(row[columns.index("event_id")] for row in rows)
    assert folder_entries(tmp_path) == []


async def test_an_unreadable_spool_file_is_set_aside_and_does_not_block_the_others(
        clickhouse: ClickHouseStore, columns: tuple[str, ...], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path)
    spool.prepare()
    broken = tmp_path / f"{0:020d}-{uuid.uuid4().hex}-5.arrow"  # sorts first
    broken.write_bytes(b"not arrow at all")
    spool.write(uuid.uuid4().hex, columns, [event_row(columns, n) for n in range(20)])
    (tmp_path / "notes.arrow").write_bytes(b"not ours: ignored")
    writer = EventWriter(clickhouse, TABLE, columns, tmp_path)
    await writer.start()
    assert await count(clickhouse) == 20
    assert spool_files(tmp_path) == [tmp_path / "notes.arrow"]
    assert broken.with_suffix(".unreadable").exists()
    assert "is unreadable" in caplog.text
    await writer.close()


async def test_rows_stay_in_memory_when_the_disk_fails_too_and_land_later(
        clickhouse: ClickHouseStore, columns: tuple[str, ...], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    spool_dir = tmp_path / "spool"
    writer = EventWriter(clickhouse, TABLE, columns, spool_dir, **FAST)
    await writer.start()
    await clickhouse.command(f"DETACH TABLE {TABLE}", caller="tests")
    spool_dir.rmdir()
    spool_dir.write_bytes(b"")  # a file where the folder was: every spool write fails
    for n in range(30):
        writer.add(event_row(columns, n))
    await writer.flush()
    assert (writer.stats.batches_spooled, writer.stats.rows_pending_on_disk) == (0, 0)
    assert writer.stats.last_error.startswith("spool: ")
    assert caplog.text.count("cannot spool") == 1

    spool_dir.unlink()
    spool_dir.mkdir()
    await clickhouse.command(f"ATTACH TABLE {TABLE}", caller="tests")

    async def landed() -> bool:
        return await count(clickhouse) == 30

    await eventually(landed, "the rows written")
    await writer.close()
    assert folder_entries(spool_dir) == []


def _awkward_rows(columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    paris = timezone(timedelta(hours=1))
    return [
        event_row(columns, 0, item_id="quote ' \" back\\slash\nnewline\ttab", model="modèle-ß-😀",
                  ts=datetime(2025, 3, 4, 5, 6, 7, 1, tzinfo=UTC), inter_event_ms=[], tokens_per_event=[],
                  ttft_ms=0, e2e_ms=0.1, tpot_ms=float("inf"), cost_usd=1e-12),
        event_row(columns, 1, repetition=4_294_967_295, attempt=255, http_status=65_535, tokens_estimated=True,
                  in_window=False, ts=datetime(2025, 3, 31, 23, 59, 59, 999_999, tzinfo=paris),
                  inter_event_ms=[0.1, 1e-7, 3.4e38, -0.0], tokens_per_event=[0, 65_535, 1, 7],
                  error_type="", finish_reason=""),
        event_row(columns, 2, ts=datetime(2025, 4, 1, 0, 0, 0, 500_000, tzinfo=UTC), item_id="",
                  status="error", error_type="timeout", completion_tokens=0),
    ]


async def test_every_column_type_survives_the_spool_exactly(
        clickhouse: ClickHouseStore, columns: tuple[str, ...], tmp_path: Path) -> None:
    rows = _awkward_rows(columns)
    await clickhouse.command(f"CREATE TABLE direct AS {TABLE}", caller="tests")
    await clickhouse.insert("direct", rows, columns, caller="tests")

    await clickhouse.command(f"DETACH TABLE {TABLE}", caller="tests")
    first = EventWriter(clickhouse, TABLE, columns, tmp_path, **FAST)
    await first.start()
    for row in rows:
        first.add(row)
    await first.close()
    spool = Spool(tmp_path)
    [spooled] = spool.pending()
    as_written = [tuple(v.bytes if isinstance(v, uuid.UUID) else v for v in row) for row in rows]
    assert spool.read(spooled) == (list(columns), as_written)  # the same values; UUIDs as their 16 bytes

    await clickhouse.command(f"ATTACH TABLE {TABLE}", caller="tests")
    second = EventWriter(clickhouse, TABLE, columns, tmp_path)
    await second.start()
    await second.close()
    query = "SELECT * FROM {table} ORDER BY event_id"
    via_spool = await clickhouse.query(query.format(table=TABLE), caller="tests")
    direct = await clickhouse.query(query.format(table="direct"), caller="tests")
    assert len(via_spool.rows) == 3
    assert via_spool.rows == direct.rows
    by_id = {row["event_id"]: row for row in via_spool.dicts()}
    for row in rows:
        stored = by_id[row[columns.index("event_id")]]
        assert stored["ts"] == row[columns.index("ts")].astimezone(UTC).replace(tzinfo=None)
        assert stored["item_id"] == row[columns.index("item_id")]
        assert stored["tokens_per_event"] == row[columns.index("tokens_per_event")]


async def test_close_after_its_tasks_were_cancelled_returns_and_keeps_every_row(
        clickhouse: ClickHouseStore, columns: tuple[str, ...], tmp_path: Path) -> None:
    """asyncio cancels every task when a program is interrupted; close() used to spin forever after that."""
    writer = EventWriter(clickhouse, TABLE, columns, tmp_path, flush_interval_s=3600)
    await writer.start()
    rows = [event_row(columns, n) for n in range(120)]
    for row in rows:
        writer.add(row)
    for task in writer._tasks:
        task.cancel()
    await asyncio.wait_for(writer.close(), timeout=10)
    assert writer.stats.rows_pending_on_disk == 120  # nobody was left to write them: all on disk

    second = EventWriter(clickhouse, TABLE, columns, tmp_path)
    await second.start()  # replays them
    await second.close()
    assert await event_ids(clickhouse) == sorted(row[columns.index("event_id")] for row in rows)


async def test_close_with_a_deadline_spools_what_a_hanging_clickhouse_did_not_take(
        clickhouse: ClickHouseStore, columns: tuple[str, ...], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def hangs(*args: Any, **kwargs: Any) -> int:  # a server that accepted the connection, then went silent
        await asyncio.Event().wait()
        return 0

    monkeypatch.setattr(clickhouse, "insert", hangs)
    writer = EventWriter(clickhouse, TABLE, columns, tmp_path, flush_interval_s=3600)
    await writer.start()
    for n in range(50):
        writer.add(event_row(columns, n))
    closing = asyncio.create_task(writer.close())
    await asyncio.sleep(0.1)  # the close is waiting for the hanging insert
    assert not closing.done()
    writer.hurry(0.2)  # e.g. a second Ctrl-C: stop within this much, whatever ClickHouse does
    await asyncio.wait_for(closing, timeout=10)
    assert writer.stats.rows_pending_on_disk == 50
    assert sum(int(path.stem.rsplit("-", 1)[1]) for path in spool_files(tmp_path)) == 50
