"""The rollups (clickhouse/migrations/0007_request_rollups.sql, benchlab.analytics.rollup) on real chDB.

Rollup answers equal raw answers within the documented error on generated rows (counts, min and max exactly,
sums and means to rounding, quantiles within 1 % of the value at rank ⌊q (n − 1)⌋); routing takes the rollup
only for large queries it can answer; the views see every insert path, once per batch even when a batch is
retried; the migration's backfill covers rows written before it, and running it again counts nothing twice.
The size threshold is lowered for these tests (a few thousand rows instead of 250,000), never the store.
"""

from __future__ import annotations

import math
import shutil
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pyarrow as pa
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from benchlab.analytics import latency_series, rollup, run_metrics
from benchlab.catalog import register_experiment
from benchlab.metrics import METRICS, ROLLUP_RELATIVE_ACCURACY
from benchlab.resources import clickhouse_migrations_dir
from benchlab.secrets import SecretBox
from benchlab.spec import load_spec
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.clickhouse_migrations import migrate_clickhouse
from benchlab.stores.event_writer import EventWriter
from benchlab.stores.ingest_arrow import encode_arrow
from benchlab.stores.ingest_format import TABLES
from benchlab.stores.runs import create_run
from benchlab.stores.sql_files import load_migrations
from tests.helpers.access import make_key
from tests.helpers.engine import mock_spec
from tests.helpers.event_rows import PROJECT_ID, event_row, table_columns

START = datetime(2025, 3, 4, 0, 0, tzinfo=UTC)  # whole hours: the rollups can answer
RUNS = [uuid.UUID(f"00000000-0000-4000-8000-0000000001{n:02d}") for n in range(3)]
MODELS = ["a", "b"]
SCALAR = [name for name, metric in METRICS.items() if not metric.array]
ROLLUPS = (rollup.MINUTE_TABLE, rollup.RUN_HOUR_TABLE)


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(rollup, "MIN_ROLLUP_REQUESTS", 1000)
    monkeypatch.setattr(rollup, "MIN_REQUESTS_PER_STATE", 2)  # a few thousand rows over hours: sparse states
    return 1000


@pytest.fixture
async def columns(clickhouse: ClickHouseStore, pg: asyncpg.Connection) -> tuple[str, ...]:
    await migrate_clickhouse(clickhouse, pg)
    return await table_columns(clickhouse)


def generated(columns: tuple[str, ...], count: int, seed: int = 3) -> list[tuple[Any, ...]]:
    """Rows over 3 hours, 3 runs, 2 models, 2 prompt versions, 2 load phases, with every metric's condition
    false on some rows: failures, no token (ttft 0), one completion token, unknown cost, outside the window."""
    rng = np.random.default_rng(seed)
    rows = []
    for n in range(count):
        ttft = float(rng.lognormal(5.0, 0.5))
        status = "error" if n % 23 == 0 else "ok"
        no_token = n % 31 == 0
        rows.append(event_row(
            columns, n, event_id=uuid.uuid4(), run_id=RUNS[n % 3], model=MODELS[n % 2],
            prompt_version=f"v{n % 5 % 2}", load_phase="main" if n % 7 else "rate-4",
            ts=START + timedelta(seconds=float(rng.uniform(0, 3 * 3600))), in_window=n % 17 != 0,
            status=status, ttft_ms=0.0 if no_token else ttft, ttfot_ms=0.0 if no_token else ttft + 3,
            e2e_ms=0.0 if no_token else ttft + float(rng.gamma(9, 40)), e2e_from_intended_ms=ttft + 700,
            queue_delay_ms=float(rng.exponential(2)), tpot_ms=float(rng.normal(20, 3)),
            completion_tokens=1 if n % 13 == 0 else int(rng.integers(2, 400)),
            cost_usd=float(rng.uniform(0, 0.01)), cost_known=n % 19 != 0))
    return rows


def within_documented_error(approx: float | None, exact_values: np.ndarray, level: float) -> bool:
    """Within 1 % of the value at rank ⌊q (n − 1)⌋ (benchlab.metrics.APPROXIMATE_QUANTILE_METHOD), after the
    API's rounding of latencies to the microsecond (`Metric.clean`, as for exact values)."""
    if approx is None:
        return False
    at_rank = float(np.sort(exact_values)[math.floor(level * (len(exact_values) - 1))])
    return abs(approx - at_rank) <= ROLLUP_RELATIVE_ACCURACY * abs(at_rank) + 0.5e-3 + 1e-9


def qualifying(rows: list[dict[str, Any]], metric: str) -> np.ndarray:
    values = [row[metric] for row in rows if METRICS[metric].takes(row)]
    dtype = np.float32 if METRICS[metric].latency else np.float64
    return np.asarray(values, dtype=dtype).astype(np.float64)


async def test_run_metrics_from_the_rollup_match_raw(clickhouse: ClickHouseStore, columns: tuple[str, ...],
                                                      small_threshold: int) -> None:
    rows = generated(columns, 6000)
    await clickhouse.insert("request_events", rows, columns, caller="tests")
    by_name = [dict(zip(columns, row, strict=True)) for row in rows]
    group_by = ["run", "model", "prompt_version", "load_phase"]
    levels = [50, 90, 99]
    approx = await run_metrics(clickhouse, PROJECT_ID, RUNS, group_by, SCALAR, levels)
    exact = await run_metrics(clickhouse, PROJECT_ID, RUNS, group_by, SCALAR, levels, prefer_exact=True)
    assert (approx.quantile_method, exact.quantile_method) == ("approximate", "exact")
    assert approx.keys == exact.keys and len(approx.count) == len(exact.count) > 20
    assert approx.count == exact.count and approx.errors == exact.errors
    for mine, theirs in zip(approx.metrics, exact.metrics, strict=True):
        assert (mine.metric, mine.n, mine.min, mine.max) == (theirs.metric, theirs.n, theirs.min, theirs.max)
        assert mine.sum == pytest.approx(theirs.sum, rel=1e-9)
        assert mine.mean == pytest.approx(theirs.mean, rel=1e-9)
        for row in range(len(approx.count)):
            keys = {key.name: key.values[row] for key in approx.keys}
            group = [r for r in by_name if r["in_window"] and str(r["run_id"]) == keys["run"]
                     and all(r[k] == keys[k] for k in ("model", "prompt_version", "load_phase"))]
            values = qualifying(group, mine.metric)
            assert len(values) == mine.n[row]
            for column in mine.percentiles:
                assert within_documented_error(column.values[row], values, column.percentile / 100), (
                    mine.metric, keys, column.percentile)

    # All runs merged, and the requests outside the measurement window too.
    merged = await run_metrics(clickhouse, PROJECT_ID, RUNS, [], SCALAR, levels, include_window_only=False)
    assert merged.quantile_method == "approximate" and merged.count == [len(rows)]
    for mine in merged.metrics:
        values = qualifying(by_name, mine.metric)
        assert mine.n == [len(values)] and mine.min == pytest.approx([values.min()], abs=1e-3)
        for column in mine.percentiles:
            assert within_documented_error(column.values[0], values, column.percentile / 100), mine.metric


@pytest.mark.parametrize("interval_s", [3600, 600], ids=["hours: run-hour table", "minutes: minute table"])
async def test_latency_series_from_the_rollup_match_raw(clickhouse: ClickHouseStore, columns: tuple[str, ...],
                                                         small_threshold: int, interval_s: int) -> None:
    rows = generated(columns, 6000, seed=5)
    await clickhouse.insert("request_events", rows, columns, caller="tests")
    by_name = [dict(zip(columns, row, strict=True)) for row in rows]
    end = START + timedelta(hours=3)
    for metric in ("ttft_ms", "e2e_ms", "tpot_ms", "cost_usd"):
        approx = await latency_series(clickhouse, PROJECT_ID, START, end, interval_s, None, metric, [50, 90, 99])
        exact = await latency_series(clickhouse, PROJECT_ID, START, end, interval_s, None, metric, [50, 90, 99],
                                     prefer_exact=True)
        assert (approx.quantile_method, exact.quantile_method) == ("approximate", "exact")
        assert (approx.bucket_start, approx.model, approx.count) == (exact.bucket_start, exact.model, exact.count)
        assert len(approx.count) == 2 * 3 * 3600 // interval_s
        for row, (bucket, model) in enumerate(zip(approx.bucket_start, approx.model, strict=True)):
            values = qualifying([r for r in by_name if r["in_window"] and r["model"] == model
                                 and bucket <= r["ts"] < bucket + timedelta(seconds=interval_s)], metric)
            assert approx.count[row] == len(values)
            for column in approx.values:
                assert within_documented_error(column.values[row], values, column.percentile / 100), (
                    metric, bucket, model, column.percentile)
    only_b = await latency_series(clickhouse, PROJECT_ID, START, end, interval_s, ["b"], "ttft_ms", [50])
    assert set(only_b.model) == {"b"} and only_b.quantile_method == "approximate"


async def test_routing_takes_the_rollup_only_for_large_queries_it_can_answer(
        clickhouse: ClickHouseStore, columns: tuple[str, ...], small_threshold: int) -> None:
    rows = generated(columns, 1500)
    await clickhouse.insert("request_events", rows, columns, caller="tests")
    end = START + timedelta(hours=3)

    async def series_method(start: datetime, stop: datetime, interval_s: float, metric: str = "ttft_ms") -> str:
        return (await latency_series(clickhouse, PROJECT_ID, start, stop, interval_s, None, metric, [50])
                ).quantile_method

    assert await series_method(START, end, 3600) == "approximate"
    assert await series_method(START, end, 60) == "approximate"
    assert await series_method(START, end, 90) == "exact"  # buckets not whole minutes
    assert await series_method(START + timedelta(seconds=1), end, 3600) == "exact"  # range not whole minutes
    assert await series_method(START, end, 3600, "inter_event_ms") == "exact"  # an array: no states
    assert await series_method(START, START + timedelta(hours=1), 60) == "exact"  # ~500 requests: small
    rollup.MIN_REQUESTS_PER_STATE = 64  # (restored by the fixture) ~1,400 requests in ~720 minute rows: sparse
    assert await series_method(START, end, 60) == "exact"
    assert await series_method(START, end, 3600) == "exact"  # 1,400 in ~36 run-hour rows: 40 per state
    rollup.MIN_REQUESTS_PER_STATE = 2

    async def metrics_method(runs: list[uuid.UUID], metrics: list[str]) -> str:
        return (await run_metrics(clickhouse, PROJECT_ID, runs, ["model"], metrics, [50])).quantile_method

    assert await metrics_method(RUNS, ["ttft_ms", "e2e_ms"]) == "approximate"  # ~1,400 requests in the window
    assert await metrics_method(RUNS[:1], ["ttft_ms"]) == "exact"  # ~470
    assert await metrics_method(RUNS, ["ttft_ms", "inter_event_ms"]) == "exact"
    assert rollup.series_table(0, 7200 * 10**6, 3600 * 10**6) == (rollup.RUN_HOUR_TABLE, "hour")
    assert rollup.series_table(0, 7200 * 10**6, 300 * 10**6) == (rollup.MINUTE_TABLE, "minute")
    assert rollup.series_table(0, 7200 * 10**6, 30 * 10**6) is None


async def rollup_totals(store: ClickHouseStore) -> list[tuple[int, int]]:
    """(requests, ttft values) of each rollup, as queries read them."""
    totals = []
    for table in ROLLUPS:
        result = await store.query(f"SELECT sum(requests), sum(ttft_ms_n) FROM {table}", caller="tests")
        totals.append((int(result.rows[0][0]), int(result.rows[0][1])))
    return totals


async def raw_totals(store: ClickHouseStore) -> tuple[int, int]:
    result = await store.query(f"SELECT count(), {METRICS['ttft_ms'].count()} FROM request_events", caller="tests")
    return int(result.rows[0][0]), int(result.rows[0][1])


async def test_the_views_see_the_writer_and_arrow_inserts_once_per_batch(
        clickhouse: ClickHouseStore, columns: tuple[str, ...], tmp_path: Path) -> None:
    rows = generated(columns, 300)
    writer = EventWriter(clickhouse, "request_events", columns, tmp_path / "spool")
    await writer.start()
    await writer.write_batch(rows[:100], dedupe_token="batch-1")
    await writer.write_batch(rows[:100], dedupe_token="batch-1")  # a retry of a batch that had landed
    await writer.write_batch(pa.Table.from_pylist([dict(zip(columns, row, strict=True)) for row in rows[100:]]),
                             dedupe_token="batch-2")  # insert_arrow
    await writer.close()
    raw = await raw_totals(clickhouse)
    assert raw[0] == 300
    assert await rollup_totals(clickhouse) == [raw, raw]
    # A plain insert retried with its token (as the writer retries) is deduplicated in the rollups too.
    for _ in range(2):
        await clickhouse.insert("request_events", generated(columns, 50, seed=9), columns, caller="tests",
                                settings={"insert_deduplication_token": "again"})
    raw = await raw_totals(clickhouse)
    assert raw[0] == 350 and await rollup_totals(clickhouse) == [raw, raw]


async def test_the_views_see_the_ingest_endpoint(client: TestClient, pg: asyncpg.Connection) -> None:
    registered = await register_experiment(pg, load_spec(mock_spec("http://127.0.0.1:9/v1", project="ingest")),
                                           SecretBox(Fernet.generate_key()))
    run_id = await create_run(pg, registered.project_id, registered.experiment_id, {}, 1)
    key = await make_key(pg, registered.project_id, "member")
    now = datetime.now(UTC)
    ndjson = "\n".join(
        f'{{"project_id": "{registered.project_id}", "run_id": "{run_id}", "event_id": "{uuid.uuid4()}", '
        f'"ts": "{now.isoformat()}", "model": "m", "ttft_ms": {100 + n}, "status": "ok"}}' for n in range(4))
    response = client.post("/ingest/v1/events", content=ndjson.encode(),
                           headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"})
    assert response.status_code == 200 and response.json()["accepted"] == 4
    spec = TABLES["request_events"]
    arrow_rows = [tuple(registered.project_id if name == "project_id" else run_id if name == "run_id"
                        else uuid.uuid4() if name == "event_id" else now if name == "ts" else value
                        for name, value in zip(spec.columns, row, strict=True))
                  for row in _ingest_rows(spec.columns, 3)]
    response = client.post("/ingest/v2/events", content=encode_arrow(spec, arrow_rows),
                           headers={"Authorization": f"Bearer {key}",
                                    "Content-Type": "application/vnd.apache.arrow.stream"})
    assert response.status_code == 200 and response.json()["accepted"] == 3, response.text
    store: ClickHouseStore = client.app.state.runtime.clickhouse  # type: ignore[attr-defined]
    raw = client.portal.call(raw_totals, store)  # type: ignore[union-attr]
    assert raw == (7, 7)
    assert client.portal.call(rollup_totals, store) == [raw, raw]  # type: ignore[union-attr]


def _ingest_rows(names: tuple[str, ...] | list[str], count: int) -> list[tuple[Any, ...]]:
    columns = tuple(names)
    return [event_row(columns, n) for n in range(count)]


async def test_the_backfill_covers_rows_written_before_the_migration(
        clickhouse: ClickHouseStore, pg: asyncpg.Connection, tmp_path: Path, small_threshold: int) -> None:
    before = tmp_path / "migrations"
    before.mkdir()
    files = load_migrations(clickhouse_migrations_dir())
    for migration in files:
        if migration.version < 7:
            shutil.copy(migration.path, before / migration.path.name)
    await migrate_clickhouse(clickhouse, pg, before)
    columns = await table_columns(clickhouse)
    rows = generated(columns, 2000)
    await clickhouse.insert("request_events", rows, columns, caller="tests")
    exact = await run_metrics(clickhouse, PROJECT_ID, RUNS, ["run", "model"], SCALAR, [50, 99], prefer_exact=True)

    await migrate_clickhouse(clickhouse, pg)  # 0007: the views, then the backfill of the 2,000 rows
    raw = await raw_totals(clickhouse)
    assert raw[0] == 2000 and await rollup_totals(clickhouse) == [raw, raw]
    approx = await run_metrics(clickhouse, PROJECT_ID, RUNS, ["run", "model"], SCALAR, [50, 99])
    assert approx.quantile_method == "approximate" and approx.count == exact.count
    assert [m.n for m in approx.metrics] == [m.n for m in exact.metrics]
    assert [m.max for m in approx.metrics] == [m.max for m in exact.metrics]

    # Rows after the migration reach the rollups through the views; running 0007 again (as after a failure
    # half-way) empties and refills them: nothing is counted twice.
    await clickhouse.insert("request_events", generated(columns, 500, seed=4), columns, caller="tests")
    raw = await raw_totals(clickhouse)
    assert raw[0] == 2500 and await rollup_totals(clickhouse) == [raw, raw]
    for statement in files[-1].statements():
        await clickhouse.command(statement.sql, caller="tests")
    assert await rollup_totals(clickhouse) == [raw, raw]


def test_the_views_count_what_the_metrics_count() -> None:
    """Each state's -If condition in 0007 is the metric's own (benchlab.metrics), in the views and backfills."""
    text = next(m for m in load_migrations(clickhouse_migrations_dir()) if m.version == 7).text
    for name in SCALAR:
        condition = METRICS[name].condition
        assert text.count(f"countIf({condition}) AS {name}_n") == 4, name  # two views, two backfills
        scale = rollup.STATE_SCALE[METRICS[name].unit]
        value = name if scale == 1 else f"{name} * {scale}"
        assert text.count(f"quantileDDIfState({ROLLUP_RELATIVE_ACCURACY})({value}, {condition}) AS {name}_q") == 4
        for function in ("sumIf", "minIfState", "maxIfState"):
            assert text.count(f"{function}({name}, {condition})") == 2, (name, function)  # the run-hour table
    assert "inter_event_ms" not in text.split("AS\nSELECT", 1)[1]
