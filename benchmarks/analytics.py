"""How fast are the analytics behind the API on 10 million request events? (issue 15: p50 < 100 ms)

    python benchmarks/analytics.py [--events 10000000] [--repeat 7]

A temporary chDB database gets the migrations and `--events` request events of one project generated inside
ClickHouse (benchmarks/dashboards.py's generator: 20 runs over 7 days, 4 models); the rollups' views
(migration 0007) aggregate them as they are inserted. Timed, `--repeat` times each, median and best printed:
  latencySeries (analytics.series.latency_series: TTFT p50/p90/p99 per hour and model over the 7 days, and per
  5 minutes: the minute rollup), run.metrics of one run (1/20 of the events) and of all 20 runs
  (analytics.run_metrics: TTFT and E2E per model),
each through the engine's ClickHouseStore as the API calls it (large and in whole minutes: from the rollups),
the same function with `prefer_exact` (the raw rows, exact quantiles), and the same SQL sent raw with
`quantilesExactInclusive` (the baseline). Then the rollup's values against the exact ones: counts must be
equal, and the largest relative difference of each percentile is printed (documented bound: within 1 % of the
value at rank floor(q (n - 1)), see benchlab.metrics.APPROXIMATE_QUANTILE_METHOD).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import clickhouse_connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlab.analytics import rollup  # noqa: E402
from benchlab.analytics.run_metrics import run_metrics  # noqa: E402
from benchlab.analytics.series import latency_series  # noqa: E402
from benchlab.resources import clickhouse_migrations_dir  # noqa: E402
from benchlab.stores.clickhouse import ClickHouseStore  # noqa: E402
from benchlab.stores.sql_files import load_migrations  # noqa: E402
from dashboards import EVENT_COLUMNS, EVENTS_SELECT, PROJECT, SPAN_S, START  # noqa: E402

RUNS = [UUID(f"22222222-2222-2222-2222-{n:012d}") for n in range(20)]
ROLLUPS = (rollup.MINUTE_TABLE, rollup.RUN_HOUR_TABLE)
SERIES_SQL = ("SELECT toStartOfInterval(ts, toIntervalMicrosecond({step})) AS bucket, model, "
              "countIf(status = 'ok') AS n, quantilesExactInclusive(0.5, 0.9, 0.99)(ttft_ms) "
              "FROM benchlab.request_events "
              "WHERE project_id = '{project}' AND "
              "ts >= '{start}' AND ts < '{end}' AND in_window AND status = 'ok' GROUP BY bucket, model HAVING n > 0 "
              "ORDER BY bucket, model")
METRICS_SQL = ("SELECT model, count(), countIf(status != 'ok'), "
               "quantilesExactInclusive(0.5, 0.9, 0.99)(ttft_ms), quantilesExactInclusive(0.5, 0.9, 0.99)(e2e_ms) "
               "FROM benchlab.request_events WHERE project_id = '{project}' AND run_id IN ({runs}) AND in_window "
               "AND status = 'ok' GROUP BY model ORDER BY model")


def timed(repeat: int, work: Callable[[], Any]) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return times


def show(label: str, times: list[float], baseline: list[float] | None = None) -> None:
    ratio = f"  x{statistics.median(times) / statistics.median(baseline):.2f} of raw" if baseline else ""
    print(f"{label:52} median {statistics.median(times):8.1f} ms  best {min(times):8.1f} ms{ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="benchlab-analytics-") as tmp:
        url = f"chdb://{Path(tmp) / 'chdb'}"
        raw = clickhouse_connect.get_client(dsn=url)
        raw.command("CREATE DATABASE IF NOT EXISTS benchlab")
        raw.close()
        raw = clickhouse_connect.get_client(dsn=url, database="benchlab")
        for migration in load_migrations(clickhouse_migrations_dir()):
            for statement in migration.statements():
                raw.command(statement.sql)
        started = time.perf_counter()
        for offset in range(0, args.events, 2_000_000):
            count = min(2_000_000, args.events - offset)
            raw.command(f"INSERT INTO benchlab.request_events ({EVENT_COLUMNS}) "
                        + EVENTS_SELECT.format(events=args.events, offset=offset, count=count))
        for table in ("request_events", *ROLLUPS):
            raw.command(f"OPTIMIZE TABLE benchlab.{table} FINAL")
        print(f"seeded {raw.command('SELECT count() FROM benchlab.request_events'):,} events in "
              f"{time.perf_counter() - started:.0f} s (the rollups' views included)")
        for table in ROLLUPS:
            rows, size = raw.query(f"SELECT sum(rows), sum(data_compressed_bytes) FROM system.parts WHERE active "
                                   f"AND database = 'benchlab' AND table = '{table}'").result_rows[0]
            print(f"  {table}: {rows:,} rows, {size / 2**20:.0f} MiB")
        raw.close()
        asyncio.run(measure(url, args.repeat))


async def measure(url: str, repeat: int) -> None:
    store = ClickHouseStore(url, "benchlab")
    await store.start()
    loop = asyncio.get_running_loop()
    project, end = UUID(PROJECT), START + timedelta(seconds=SPAN_S)

    def run(coroutine: Callable[[], Awaitable[Any]]) -> Callable[[], Any]:
        return lambda: asyncio.run_coroutine_threadsafe(coroutine(), loop).result()

    def raw_query(sql: str) -> Callable[[], Any]:
        return lambda: asyncio.run_coroutine_threadsafe(store.query(sql, caller="bench.raw"), loop).result()

    try:
        cases = [
            ("latencySeries, 7 days hourly, ttft p50/p90/p99", lambda exact: latency_series(
                store, project, START, end, 3600, None, "ttft_ms", [50, 90, 99], prefer_exact=exact),
             SERIES_SQL.format(project=PROJECT, start=START.strftime("%Y-%m-%d %H:%M:%S"),
                               end=end.strftime("%Y-%m-%d %H:%M:%S"), step=3600000000)),
            ("latencySeries, 7 days per 5 min, ttft p50/p90/p99", lambda exact: latency_series(
                store, project, START, end, 300, None, "ttft_ms", [50, 90, 99], prefer_exact=exact),
             SERIES_SQL.format(project=PROJECT, start=START.strftime("%Y-%m-%d %H:%M:%S"),
                               end=end.strftime("%Y-%m-%d %H:%M:%S"), step=300000000)),
            ("run.metrics, one run (1/20), ttft+e2e by model", lambda exact: run_metrics(
                store, project, RUNS[7:8], ["model"], ["ttft_ms", "e2e_ms"], [50, 90, 99], prefer_exact=exact),
             METRICS_SQL.format(project=PROJECT, runs=f"'{RUNS[7]}'")),
            ("run.metrics, all 20 runs, ttft+e2e by model", lambda exact: run_metrics(
                store, project, RUNS, ["model"], ["ttft_ms", "e2e_ms"], [50, 90, 99], prefer_exact=exact),
             METRICS_SQL.format(project=PROJECT, runs=", ".join(f"'{r}'" for r in RUNS))),
        ]
        for label, call, sql in cases:
            ours = await asyncio.to_thread(timed, repeat, run(lambda call=call: call(False)))
            exact_api = await asyncio.to_thread(timed, repeat, run(lambda call=call: call(True)))
            baseline = await asyncio.to_thread(timed, repeat, raw_query(sql))
            approx, exact = await call(False), await call(True)
            show(f"{label} [{approx.quantile_method}]", ours, baseline)
            show("  same function, prefer_exact (raw rows)", exact_api, baseline)
            show("  raw SQL, exact quantiles (baseline)", baseline)
            print(f"  rollup vs exact: max relative difference {differences(approx, exact)}")
    finally:
        await store.close()


def differences(approx: Any, exact: Any) -> str:
    """Largest relative difference per percentile; counts (and min/max/errors of run.metrics) must be equal."""
    assert approx.count == exact.count, "counts differ"
    if hasattr(approx, "metrics"):
        assert approx.errors == exact.errors
        pairs = []
        for mine, theirs in zip(approx.metrics, exact.metrics, strict=True):
            assert (mine.n, mine.min, mine.max) == (theirs.n, theirs.min, theirs.max), mine.metric
            pairs += [(f"{mine.metric} p{p.percentile:g}", p, q)
                      for p, q in zip(mine.percentiles, theirs.percentiles, strict=True)]
    else:
        pairs = [(f"p{p.percentile:g}", p, q) for p, q in zip(approx.values, exact.values, strict=True)]
    return ", ".join(f"{name} {max(abs(a - b) / abs(b) for a, b in zip(p.values, q.values, strict=True) if b):.2%}"
                     for name, p, q in pairs)


if __name__ == "__main__":
    main()
