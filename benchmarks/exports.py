"""Exports in constant memory: a run of `--rows` requests exported as JSONL, CSV and Parquet, against one query.

    python benchmarks/exports.py [--rows 1000000]

A temporary chDB path gets `--rows` requests of one run, generated inside ClickHouse (INSERT ... SELECT FROM
numbers(n): no process holds them), about 100 characters of output and 16 inter-event gaps each, three models,
over a few hours. Then each case runs in a fresh process of its own (memory a case frees is not always handed
back to the system, so cases in one process would hide each other's peaks), which opens the store, warms chDB's
caches with a full scan, and only then measures: each format through the export path (`PreparedExport.chunks()`,
pages of at most 50,000 rows / 8 MiB, the chunks counted and dropped as a download would send them), and the
baseline: the same rows as JSONL from one query read whole (clickhouse-connect's `raw_query`, which is also what
`query_arrow_stream`/`raw_stream` do on chDB: they materialize the result there). Reported per case: seconds,
rows/s, bytes out, and the peak growth of the process's RSS (chDB's engine, Arrow's allocations and Python's
heap together; sampled every 5 ms by a thread) over its value after the warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import clickhouse_connect
import psutil

from benchlab.exports import pages
from benchlab.exports.formats import CONTENT_TYPES, PreparedExport
from benchlab.exports.scope import ExportFormat, ExportScope, ExportTable
from benchlab.resources import clickhouse_migrations_dir
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.sql_files import load_migrations

DATABASE = "bench"
PROJECT = uuid.UUID("00000000-0000-4000-8000-00000000000a")
RUN = uuid.UUID("00000000-0000-4000-8000-00000000000b")


def prepare(url: str, rows: int) -> int:
    """Migrate, insert `rows` generated rows, warm the caches; returns the rows' uncompressed bytes."""
    admin = clickhouse_connect.get_client(dsn=url)
    admin.command(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
    admin.close()
    client = clickhouse_connect.get_client(dsn=url, database=DATABASE)
    for migration in load_migrations(clickhouse_migrations_dir()):
        for statement in migration.statements():
            client.command(statement.sql)
    client.command(f"""
        INSERT INTO request_events (project_id, run_id, experiment_id, event_id, item_id, repetition, provider,
            model, prompt_version, params_hash, ts, run_offset_s, queue_delay_ms, ttft_ms, ttfot_ms, e2e_ms,
            e2e_from_intended_ms, stream_end_ms, tpot_ms, inter_event_ms, tokens_per_event, prompt_tokens,
            completion_tokens, cost_usd, status, finish_reason, output)
        SELECT '{PROJECT}', '{RUN}', '{PROJECT}', generateUUIDv4(number), concat('item-', toString(number % 5000)),
            intDiv(number, 5000), 'mock', ['m-small', 'm-medium', 'm-large'][number % 3 + 1], 'v1', 'p0',
            toDateTime64('2025-05-01 00:00:00', 6, 'UTC') + toIntervalMicrosecond(number * 10007),
            number / 100, (number % 97) / 7, 100 + (number % 997) / 3, 101 + (number % 997) / 3,
            400 + (number % 1999) / 3, 401 + (number % 1999) / 3, 402 + (number % 1999) / 3, 12.5 + (number % 13) / 7,
            arrayMap(i -> toFloat32(10 + ((number + i) % 17) / 3), range(16)), arrayMap(i -> 1, range(16)),
            40 + number % 400, 17, 0.0001 * (number % 50), 'ok', 'stop',
            concat('answer ', toString(number), ': ', repeat('lorem ipsum ', 8))
        FROM numbers({rows})""", settings={"max_insert_block_size": 100_000})
    size = client.query("SELECT sum(data_uncompressed_bytes) FROM system.columns WHERE database = {d:String} "
                        "AND table = 'request_events'", parameters={"d": DATABASE}).result_rows[0][0]
    client.close()
    return int(size)


@dataclass
class Measured:
    name: str
    seconds: float
    bytes_out: int
    rss_growth: int


class PeakRss:
    """The process's RSS, sampled every 5 ms on a thread, while a case runs."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.start = self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._process.memory_info().rss)


async def export(store: ClickHouseStore, fmt: ExportFormat) -> Measured:
    scope = ExportScope(ExportTable.REQUESTS, fmt, PROJECT, RUN)
    prepared = PreparedExport(scope, f"bench.{fmt.value}", CONTENT_TYPES[fmt], store, pages.scope_filter(scope))
    total = 0
    with PeakRss() as rss:
        started = time.perf_counter()
        async for chunk in prepared.chunks():
            total += len(chunk)
        seconds = time.perf_counter() - started
    return Measured(f"export {fmt.value}", seconds, total, rss.peak - rss.start)


async def one_query(store: ClickHouseStore) -> Measured:
    layout = pages.LAYOUTS[ExportTable.REQUESTS]
    where = pages.scope_filter(ExportScope(ExportTable.REQUESTS, ExportFormat.JSONL, PROJECT, RUN))
    with PeakRss() as rss:
        started = time.perf_counter()
        data = await store.query_raw(f"SELECT {', '.join(layout.columns)} FROM request_events WHERE {where.sql}",
                                     where.parameters, fmt="JSONEachRow", caller="bench", settings=pages.TEXT_SETTINGS)
        seconds = time.perf_counter() - started
        total = len(data)
        del data
    return Measured("baseline: one query, JSONL", seconds, total, rss.peak - rss.start)


async def measure(url: str, case: str) -> Measured:
    store = ClickHouseStore(url, DATABASE, query_timeout_s=600)
    await store.start()
    try:
        await store.query("SELECT sum(length(output)), sum(length(inter_event_ms)), count(DISTINCT event_id) "
                          "FROM request_events", caller="bench-warm-up")
        return await (one_query(store) if case == "baseline" else export(store, ExportFormat(case)))
    finally:
        await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--case", help=argparse.SUPPRESS)  # a child process: measure one case on --url
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(asyncio.run(measure(args.url, args.case)).__dict__))
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-exports-"))
    url = f"chdb://{folder}"
    try:
        started = time.perf_counter()
        size = prepare(url, args.rows)
        print(f"{args.rows:,} rows generated in {time.perf_counter() - started:.1f} s; "
              f"{size / 2**20:,.0f} MiB uncompressed in ClickHouse")
        results = [Measured(**json.loads(subprocess.run(
            [sys.executable, __file__, "--case", case, "--url", url], check=True, capture_output=True,
            text=True).stdout)) for case in (*[fmt.value for fmt in ExportFormat], "baseline")]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    baseline = results[-1]
    print(f"{'case':<30} {'seconds':>8} {'rows/s':>10} {'MiB out':>8} {'RSS growth MiB':>15} {'vs baseline':>12}")
    for case in results:
        print(f"{case.name:<30} {case.seconds:8.2f} {args.rows / case.seconds:10,.0f} {case.bytes_out / 2**20:8.1f} "
              f"{case.rss_growth / 2**20:15.1f} {case.rss_growth / max(baseline.rss_growth, 1):11.2f}x")


if __name__ == "__main__":
    main()
