"""Ingest throughput of the EventWriter against a raw clickhouse-connect insert of the same rows.

    python benchmarks/ingest.py [--rows 200000] [--batch 20000] [--rounds 2] [--no-rollups]

Runs in its own process on a temporary chDB path (chDB allows one engine path per process). Measures, in the
same run and alternating rounds (best round reported): (a) `client.insert()` of the rows in `--batch`-row
slices, (b) the rows through EventWriter (added in chunks of 1 000 from the event loop, then `close()`),
and the event-loop lag meanwhile (a ticker sleeping 5 ms records its lateness). Then the outage path:
the table is detached, the rows are spooled to disk, the table is attached and a new writer replays them.
The generated rows are moved out of the garbage collector's reach (`gc.freeze()`), as a server never holds
a whole data set alive. Target: writer/raw ≥ 0.8. request_events feeds the rollups' materialized views
(migration 0007) and the raw twin table does not, so (b) includes their cost; `--no-rollups` leaves the views
out, to measure it (compare (b) with and without).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import shutil
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import clickhouse_connect

from benchlab.metrics import quantile
from benchlab.resources import clickhouse_migrations_dir
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.event_writer import EventWriter
from benchlab.stores.sql_files import load_migrations

DATABASE = "bench"
TABLE = "request_events"
RAW_TABLE = "raw_events"
GAPS_PER_ROW = 64
ADD_CHUNK = 1000


def realistic_rows(columns: Sequence[str], count: int) -> list[tuple[Any, ...]]:
    """Streamed chat completions from a few runs and models, ~64 token events each."""
    rng = random.Random(42)
    project = uuid.UUID(int=rng.getrandbits(128))
    runs = [(uuid.UUID(int=rng.getrandbits(128)), uuid.UUID(int=rng.getrandbits(128))) for _ in range(4)]
    models = [("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku"), ("mistral", "mistral-small"),
              ("local", "llama-3.1-8b")]
    start = datetime(2025, 5, 1, tzinfo=UTC)
    rows = []
    for n in range(count):
        run_id, experiment_id = runs[n % len(runs)]
        provider, model = models[n % len(models)]
        gaps = [rng.lognormvariate(3.0, 0.4) for _ in range(rng.randint(GAPS_PER_ROW - 8, GAPS_PER_ROW + 8))]
        tokens = [1 if rng.random() < 0.9 else rng.randint(2, 4) for _ in gaps]
        ttft = rng.lognormvariate(5.5, 0.5)
        e2e = ttft + sum(gaps)
        ok = rng.random() > 0.01
        values = {
            "project_id": project, "run_id": run_id, "experiment_id": experiment_id,
            "event_id": uuid.uuid5(run_id, f"{n}"), "item_id": f"item-{n // 8}", "repetition": n % 8,
            "attempt": 1, "provider": provider, "model": model, "prompt_version": "v3", "params_hash": "9f2c1a",
            "source": "experiment", "load_phase": "main", "ts": start + timedelta(microseconds=n * 2_500),
            "in_window": True, "run_offset_s": n * 0.0025, "first_on_connection": n % 100 == 0,
            "queue_delay_ms": rng.random(),
            "ttft_ms": ttft, "ttfot_ms": ttft + 0.5, "e2e_ms": e2e, "e2e_from_intended_ms": e2e + 1.0,
            "stream_end_ms": e2e - 0.2, "tpot_ms": sum(gaps) / len(gaps), "inter_event_ms": gaps,
            "tokens_per_event": tokens, "prompt_tokens": rng.randint(50, 2000), "completion_tokens": sum(tokens),
            "reasoning_tokens": 0, "cached_tokens": 0, "tokens_estimated": False,
            "cost_usd": rng.random() / 1000, "cost_known": True, "status": "ok" if ok else "error",
            "error_type": "" if ok else "timeout", "http_status": 200 if ok else 504,
            "finish_reason": "stop" if ok else "", "output": "The answer is 42." if ok else "",
            "tool_calls": "", "error_message": "" if ok else "request timed out after 120 s",
        }
        rows.append(tuple(values[name] for name in columns))
    return rows


ROLLUPS_MIGRATION = 7  # clickhouse/migrations/0007_request_rollups.sql: the views every insert feeds


def prepare(url: str, rollups: bool = True) -> tuple[str, ...]:
    """Create the database, apply the migrations (without the rollups' views if asked), add a twin table for the
    raw inserts (a plain copy of request_events: no views)."""
    admin = clickhouse_connect.get_client(dsn=url)
    admin.command(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
    admin.close()
    client = clickhouse_connect.get_client(dsn=url, database=DATABASE)
    for migration in load_migrations(clickhouse_migrations_dir()):
        if migration.version == ROLLUPS_MIGRATION and not rollups:
            continue
        for statement in migration.statements():
            client.command(statement.sql)
    client.command(f"CREATE TABLE {RAW_TABLE} AS {TABLE}")
    result = client.query(f"SELECT name FROM system.columns WHERE database = '{DATABASE}' AND table = '{TABLE}' "
                          "ORDER BY position")
    client.close()
    return tuple(name for (name,) in result.result_rows)


def raw_insert(url: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], batch: int) -> float:
    client = clickhouse_connect.get_client(dsn=url, database=DATABASE)
    client.command(f"TRUNCATE TABLE {RAW_TABLE}")
    started = time.perf_counter()
    for offset in range(0, len(rows), batch):
        client.insert(RAW_TABLE, rows[offset:offset + batch], column_names=list(columns))
    elapsed = time.perf_counter() - started
    assert client.command(f"SELECT count() FROM {RAW_TABLE}") == len(rows)
    client.close()
    return elapsed


class LagProbe:
    """A task that sleeps 5 ms at a time and records how late it wakes up."""

    def __init__(self) -> None:
        self.lags_ms: list[float] = []
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._tick())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _tick(self) -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.005)
            self.lags_ms.append((time.perf_counter() - before - 0.005) * 1000)


async def add_all(writer: EventWriter, rows: Sequence[tuple[Any, ...]]) -> None:
    """Add from the event loop the way request tasks do: in short runs, yielding in between."""
    for offset in range(0, len(rows), ADD_CHUNK):
        for row in rows[offset:offset + ADD_CHUNK]:
            writer.add(row)
        await asyncio.sleep(0)


async def through_writer(url: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], batch: int,
                         spool_dir: Path) -> tuple[float, list[float], int]:
    store = ClickHouseStore(url, DATABASE)
    await store.start()
    await store.command(f"TRUNCATE TABLE {TABLE}", caller="benchmark")
    writer = EventWriter(store, TABLE, columns, spool_dir, max_batch_rows=batch)
    await writer.start()
    probe = LagProbe()
    probe.start()
    started = time.perf_counter()
    await add_all(writer, rows)
    await writer.close()
    elapsed = time.perf_counter() - started
    await probe.stop()
    count = (await store.query(f"SELECT count() FROM {TABLE}", caller="benchmark")).rows[0][0]
    assert count == len(rows) and writer.stats.rows_pending_on_disk == 0, (count, writer.stats)
    await store.close()
    return elapsed, probe.lags_ms, writer.stats.batches_spooled


async def outage(url: str, columns: Sequence[str], rows: Sequence[tuple[Any, ...]], batch: int,
                 spool_dir: Path) -> tuple[float, float, list[float]]:
    """Seconds to spool every row while the table is detached, then to replay them; lag while spooling."""
    store = ClickHouseStore(url, DATABASE)
    await store.start()
    await store.command(f"TRUNCATE TABLE {TABLE}", caller="benchmark")
    await store.command(f"DETACH TABLE {TABLE}", caller="benchmark")
    writer = EventWriter(store, TABLE, columns, spool_dir, max_batch_rows=batch)
    await writer.start()
    probe = LagProbe()
    probe.start()
    started = time.perf_counter()
    await add_all(writer, rows)
    await writer.close()
    spooling = time.perf_counter() - started
    await probe.stop()
    assert writer.stats.rows_pending_on_disk == len(rows), writer.stats
    await store.command(f"ATTACH TABLE {TABLE}", caller="benchmark")
    started = time.perf_counter()
    replayer = EventWriter(store, TABLE, columns, spool_dir, max_batch_rows=batch)
    await replayer.start()
    replaying = time.perf_counter() - started
    await replayer.close()
    count = (await store.query(f"SELECT count() FROM {TABLE}", caller="benchmark")).rows[0][0]
    assert count == len(rows), count
    await store.close()
    return spooling, replaying, probe.lags_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-rollups", action="store_true",
                        help="leave out migration 0007's rollup views, to measure what they cost the writer (b); "
                             "the raw insert (a) never has them")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="benchlab-ingest-"))
    try:
        url = f"chdb://{workdir / 'chdb'}"
        columns = prepare(url, rollups=not args.no_rollups)
        rows = realistic_rows(columns, args.rows)
        # A server never holds the whole data set alive; without this, every full garbage collection walks
        # these ~1.4 M objects and stalls both paths (and the loop) for up to seconds.
        gc.freeze()
        raw_insert(url, columns, rows[:args.batch], args.batch)  # warm the engine and the codec paths
        raw_times, writer_times, lags, spilled = [], [], [], 0
        for _ in range(args.rounds):
            raw_times.append(raw_insert(url, columns, rows, args.batch))
            elapsed, round_lags, round_spilled = asyncio.run(
                through_writer(url, columns, rows, args.batch, workdir / "spool"))
            writer_times.append(elapsed)
            lags.extend(round_lags)
            spilled += round_spilled
        spooling, replaying, outage_lags = asyncio.run(outage(url, columns, rows, args.batch, workdir / "spool"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    raw, writer = min(raw_times), min(writer_times)
    n = args.rows
    print(f"rollup views on request_events: {'no' if args.no_rollups else 'yes (0007)'}")
    print(f"rows: {n:,} request_events rows (~{GAPS_PER_ROW} gaps each), batches of {args.batch:,}, "
          f"best of {args.rounds} rounds")
    print(f"(a) raw clickhouse-connect insert : {n / raw:>9,.0f} rows/s  ({raw:.2f} s; rounds "
          f"{', '.join(f'{t:.2f}' for t in raw_times)})")
    print(f"(b) EventWriter add -> close      : {n / writer:>9,.0f} rows/s  ({writer:.2f} s; rounds "
          f"{', '.join(f'{t:.2f}' for t in writer_times)})")
    print(f"ratio writer/raw                  : {raw / writer:.2f}  (target >= 0.8); batches that waited "
          f"> 5 s in memory and went to disk: {spilled}")
    print(f"event-loop lag while writing      : max {max(lags):.1f} ms, p99 {quantile(lags, 0.99):.1f} ms, "
          f"median {quantile(lags, 0.5):.2f} ms  ({len(lags)} ticks of 5 ms)")
    print(f"outage: spooled to disk           : {n / spooling:>9,.0f} rows/s  ({spooling:.2f} s; loop lag max "
          f"{max(outage_lags):.1f} ms, p99 {quantile(outage_lags, 0.99):.1f} ms)")
    print(f"outage: replayed from disk        : {n / replaying:>9,.0f} rows/s  ({replaying:.2f} s)")


if __name__ == "__main__":
    main()
