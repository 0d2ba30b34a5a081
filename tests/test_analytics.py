"""The analytics query layer on real chDB: numbers checked against numpy on the same synthetic rows."""

from __future__ import annotations

import base64
import math
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
import pytest

from benchlab.analytics import (
    AnalyticsInputError,
    InvalidCursorError,
    RequestFilter,
    compare_runs,
    latency_series,
    list_requests,
    run_metrics,
    run_timeline,
)
from benchlab.analytics.stats import bootstrap_medians, mann_whitney_p_value
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.clickhouse_migrations import migrate_clickhouse
from tests.helpers.event_rows import PROJECT_ID, event_row, table_columns

BASELINE = uuid.UUID("00000000-0000-4000-8000-0000000000b1")
CANDIDATE = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
OTHER_PROJECT = uuid.UUID("00000000-0000-4000-8000-0000000000ff")
START = datetime(2025, 3, 4, 5, 0, 0, tzinfo=UTC)  # on a whole hour: bucket edges are predictable


@pytest.fixture
async def columns(clickhouse: ClickHouseStore, pg: asyncpg.Connection) -> tuple[str, ...]:
    await migrate_clickhouse(clickhouse, pg)
    return await table_columns(clickhouse)


async def insert(store: ClickHouseStore, columns: tuple[str, ...], rows: Sequence[dict[str, Any]]) -> None:
    """Rows given as column overrides; `n` numbers the row within its run (it picks the event id)."""
    built = []
    for row in rows:
        overrides = {"run_id": BASELINE, **{k: v for k, v in row.items() if k != "n"}}
        built.append(event_row(columns, row["n"], event_id=uuid.uuid5(overrides["run_id"], str(row["n"])),
                               **overrides))
    await store.insert("request_events", built, columns, caller="tests")


def f32(values: Sequence[float]) -> np.ndarray:
    """Values as ClickHouse stores them (Float32), widened back for numpy."""
    return np.asarray(values, dtype=np.float32).astype(np.float64)


# -- run_metrics ---------------------------------------------------------------------------------------------

def metrics_rows(rng: np.random.Generator) -> list[dict[str, Any]]:
    rows = []
    for n in range(240):
        gaps = [float(g) for g in f32(rng.uniform(5, 40, size=n % 5 + 1))]
        rows.append({"n": n, "model": "a" if n % 2 else "b", "load_phase": "main" if n < 200 else "sweep",
                     "ttft_ms": float(rng.gamma(4, 30)), "e2e_ms": float(rng.uniform(300, 900)),
                     "inter_event_ms": gaps, "tokens_per_event": [1] * len(gaps), "tpot_ms": float(np.mean(gaps)),
                     "completion_tokens": 1 if n % 17 == 0 else len(gaps) + 1, "cost_usd": n / 1000,
                     "status": "error" if n % 13 == 0 else "ok", "in_window": n % 11 != 0})
    return rows


def expected(rows: list[dict[str, Any]], name: str, where: Any, flatten: bool = False) -> np.ndarray:
    picked = [row[name] for row in rows if where(row)]
    return f32([v for values in picked for v in values] if flatten else picked)


async def test_run_metrics_match_numpy_per_group(clickhouse: ClickHouseStore, columns: tuple[str, ...]) -> None:
    rows = metrics_rows(np.random.default_rng(7))
    await insert(clickhouse, columns, rows)
    percentiles = [50, 90, 99, 99.9]
    result = await run_metrics(clickhouse, PROJECT_ID, [BASELINE], ["model"],
                               ["ttft_ms", "tpot_ms", "inter_event_ms", "cost_usd"], percentiles)
    assert [k.name for k in result.keys] == ["model"] and result.keys[0].values == ["a", "b"]
    by_name = {m.metric: m for m in result.metrics}
    for index, model in enumerate(["a", "b"]):
        window = [r for r in rows if r["in_window"] and r["model"] == model]
        assert result.count[index] == len(window)
        assert result.errors[index] == sum(r["status"] == "error" for r in window)
        checks = {  # metric -> values numpy sees: successful requests only; TPOT needs two or more tokens
            "ttft_ms": expected(window, "ttft_ms", lambda r: r["status"] == "ok"),
            "tpot_ms": expected(window, "tpot_ms", lambda r: r["status"] == "ok" and r["completion_tokens"] >= 2),
            "inter_event_ms": expected(window, "inter_event_ms", lambda r: r["status"] == "ok", flatten=True),
            "cost_usd": np.array([r["cost_usd"] for r in window]),
        }
        for metric, values in checks.items():
            columns_of = by_name[metric]
            assert columns_of.n[index] == len(values)
            assert columns_of.mean[index] == pytest.approx(values.mean(), rel=1e-5, abs=1e-3)
            assert columns_of.min[index] == pytest.approx(values.min(), abs=1e-3)
            assert columns_of.max[index] == pytest.approx(values.max(), abs=1e-3)
            assert columns_of.sum[index] == pytest.approx(values.sum(), rel=1e-5)
            for column_of in columns_of.percentiles:
                assert column_of.values[index] == pytest.approx(
                    np.percentile(values, column_of.percentile), rel=1e-5, abs=1e-3), (metric, column_of.percentile)
    assert [p.percentile for p in by_name["ttft_ms"].percentiles] == percentiles


async def test_run_metrics_grouping_window_and_runs(clickhouse: ClickHouseStore, columns: tuple[str, ...]) -> None:
    rows = metrics_rows(np.random.default_rng(8))
    rows += [{**row, "run_id": CANDIDATE} for row in rows[:50]]
    await insert(clickhouse, columns, rows)
    everything = await run_metrics(clickhouse, PROJECT_ID, [BASELINE], [], ["e2e_ms"], [50],
                                   include_window_only=False)
    assert everything.count == [240] and everything.errors == [sum(r["status"] == "error" for r in rows[:240])]
    phases = await run_metrics(clickhouse, PROJECT_ID, [BASELINE], ["load_phase", "model"], [], [99])
    assert phases.keys[0].values == ["main", "main", "sweep", "sweep"]
    assert phases.keys[1].values == ["a", "b", "a", "b"]
    assert sum(phases.count) == sum(r["in_window"] for r in rows[:240]) and phases.metrics == []
    both = await run_metrics(clickhouse, PROJECT_ID, [BASELINE, CANDIDATE], ["run"], ["ttft_ms"], [])
    assert both.keys[0].values == sorted([str(BASELINE), str(CANDIDATE)])
    assert both.count[both.keys[0].values.index(str(CANDIDATE))] == sum(r["in_window"] for r in rows[:50])
    assert both.metrics[0].percentiles == []
    elsewhere = await run_metrics(clickhouse, OTHER_PROJECT, [BASELINE], ["model"], ["ttft_ms"], [50])
    assert elsewhere.count == [] and elsewhere.metrics[0].n == []


# -- run_timeline --------------------------------------------------------------------------------------------

async def test_run_timeline_buckets_fill_gaps(clickhouse: ClickHouseStore, columns: tuple[str, ...]) -> None:
    # 4 requests per second over 10 s, none in seconds 4 and 5, every 5th request fails.
    rows = [{"n": n, "ts": START + timedelta(milliseconds=250 * n), "ttft_ms": 100.0 + n,
             "status": "error" if n % 5 == 0 else "ok", "completion_tokens": 10}
            for n in range(40) if not 16 <= n < 24]
    await insert(clickhouse, columns, rows)
    timeline = await run_timeline(clickhouse, PROJECT_ID, BASELINE, 1.0)
    assert timeline.bucket_start == [START + timedelta(seconds=s) for s in range(10)]
    assert timeline.requests == [4, 4, 4, 4, 0, 0, 4, 4, 4, 4]
    per_second = [[r for r in rows if (r["ts"] - START).seconds == s] for s in range(10)]
    assert timeline.errors == [sum(r["status"] == "error" for r in b) for b in per_second]
    assert timeline.requests_per_s == [float(sum(r["status"] == "ok" for r in b)) for b in per_second]
    assert timeline.output_tokens_per_s == [10.0 * ok for ok in timeline.requests_per_s]
    for second, bucket in enumerate(per_second):
        ttfts = [r["ttft_ms"] for r in bucket if r["status"] == "ok"]
        assert timeline.ttft_p50_ms[second] == (pytest.approx(np.percentile(ttfts, 50)) if ttfts else None)
        assert timeline.e2e_p99_ms[second] == (pytest.approx(480.0) if ttfts else None)
    half = await run_timeline(clickhouse, PROJECT_ID, BASELINE, 0.5)
    assert len(half.bucket_start) == 20 and sum(half.requests) == 32 and half.interval_s == 0.5
    empty = await run_timeline(clickhouse, PROJECT_ID, CANDIDATE, 1.0)
    assert empty.bucket_start == [] and empty.requests == []


# -- latency_series ------------------------------------------------------------------------------------------

async def test_latency_series_filters_models_and_range(clickhouse: ClickHouseStore,
                                                       columns: tuple[str, ...]) -> None:
    rng = np.random.default_rng(3)
    rows = [{"n": n, "run_id": (BASELINE, CANDIDATE)[n % 2], "model": "abc"[n % 3],
             "ts": START + timedelta(seconds=int(s)), "ttft_ms": float(rng.uniform(50, 150))}
            for n, s in enumerate(rng.uniform(0, 3600, size=600))]
    rows += [{"n": 1000, "model": "a", "ts": START + timedelta(hours=1)},      # end is exclusive
             {"n": 1001, "model": "a", "ts": START, "project_id": OTHER_PROJECT},
             {"n": 1002, "model": "a", "ts": START, "status": "error"}]
    await insert(clickhouse, columns, rows)
    end = START + timedelta(hours=1)
    series = await latency_series(clickhouse, PROJECT_ID, START, end, 600, ["a", "b"], "ttft_ms", [50, 99])
    assert set(series.model) == {"a", "b"} and len(series.bucket_start) == 12
    assert sorted(set(series.bucket_start)) == [START + timedelta(minutes=10 * i) for i in range(6)]
    for index, (bucket, model) in enumerate(zip(series.bucket_start, series.model, strict=True)):
        values = [r["ttft_ms"] for r in rows[:600]
                  if r["model"] == model and bucket <= r["ts"] < bucket + timedelta(minutes=10)]
        assert series.count[index] == len(values)
        for column_of in series.values:  # exact, as in run_metrics: numpy's default on the stored Float32 values
            assert column_of.values[index] == pytest.approx(np.percentile(f32(values), column_of.percentile),
                                                            abs=1e-3)
    every = await latency_series(clickhouse, PROJECT_ID, START, end, 60, None, "e2e_ms", [50])
    assert set(every.model) == {"a", "b", "c"} and sum(every.count) == 600
    assert every.values[0].values[0] == pytest.approx(480.0)


# -- compare_runs --------------------------------------------------------------------------------------------

async def insert_comparison(store: ClickHouseStore, columns: tuple[str, ...]) -> None:
    rng = np.random.default_rng(11)
    slow = rng.normal(200, 10, size=300)        # model a: candidate = baseline + 30 ms exactly
    same_base, same_cand = rng.normal(200, 10, size=(2, 300))  # model b: one distribution
    rows = []
    for n in range(300):
        rows += [{"n": n, "run_id": BASELINE, "model": "a", "ttft_ms": float(slow[n])},
                 {"n": n, "run_id": CANDIDATE, "model": "a", "ttft_ms": float(slow[n]) + 30},
                 {"n": 1000 + n, "run_id": BASELINE, "model": "b", "ttft_ms": float(same_base[n])},
                 {"n": 1000 + n, "run_id": CANDIDATE, "model": "b", "ttft_ms": float(same_cand[n])},
                 {"n": 2000 + n, "run_id": BASELINE, "model": "only-baseline"}]
    rows += [{"n": 3000 + n, "run_id": run, "model": "few"} for n in range(3) for run in (BASELINE, CANDIDATE)]
    await insert(store, columns, rows)


async def test_compare_runs_verdicts_ci_and_p_values(clickhouse: ClickHouseStore, columns: tuple[str, ...]) -> None:
    await insert_comparison(clickhouse, columns)
    result = await compare_runs(clickhouse, PROJECT_ID, BASELINE, CANDIDATE, ["model"], ["ttft_ms", "e2e_ms"])
    rows = {(model, metric): i for i, (model, metric) in enumerate(zip(result.keys[0].values, result.metric,
                                                                        strict=True))}
    slower = rows[("a", "ttft_ms")]
    assert result.verdict[slower] == "slower"
    assert result.delta_median[slower] == pytest.approx(30.0, abs=1e-3)
    assert result.ci_low[slower] <= 30.0 <= result.ci_high[slower] and result.ci_low[slower] > 0
    assert result.p_value[slower] < 1e-6
    assert result.relative_delta[slower] == pytest.approx(30.0 / result.baseline_median[slower], rel=1e-4)
    same = rows[("b", "ttft_ms")]
    assert result.verdict[same] == "no_difference"
    assert result.ci_low[same] < 0 < result.ci_high[same] and result.p_value[same] > 0.2
    ties = rows[("a", "e2e_ms")]  # every value 480 on both sides
    assert (result.verdict[ties], result.p_value[ties], result.ci_low[ties]) == ("no_difference", 1.0, 0.0)
    lonely = rows[("only-baseline", "ttft_ms")]
    assert (result.baseline_n[lonely], result.candidate_n[lonely]) == (300, 0)
    assert result.verdict[lonely] == "insufficient_data" and result.candidate_median[lonely] is None
    few = rows[("few", "ttft_ms")]
    assert (result.baseline_n[few], result.candidate_n[few], result.verdict[few]) == (3, 3, "insufficient_data")
    assert result.p_value[few] is None and result.delta_median[few] is not None
    assert len(result.metric) == 8 and result.baseline_n[slower] == result.candidate_n[slower] == 300


async def test_compare_runs_is_deterministic_and_caps_samples(clickhouse: ClickHouseStore,
                                                              columns: tuple[str, ...]) -> None:
    await insert_comparison(clickhouse, columns)
    args = (clickhouse, PROJECT_ID, BASELINE, CANDIDATE, ["model"], ["ttft_ms", "inter_event_ms"])
    first = await compare_runs(*args, resamples=500, max_samples=50)
    again = await compare_runs(*args, resamples=500, max_samples=50)
    assert asdict(first) == asdict(again)
    other_seed = await compare_runs(*args, resamples=500, max_samples=50, seed=1)
    assert other_seed.ci_low != first.ci_low
    index = first.keys[0].values.index("a")
    assert first.metric[index] == "ttft_ms" and first.baseline_n[index] == 300  # all values counted, 50 used
    assert first.verdict[index] == "slower"
    gaps = first.metric.index("inter_event_ms")
    assert first.baseline_n[gaps] == 300 * 8 and first.verdict[gaps] == "no_difference"


def test_mann_whitney_matches_hand_computed_values() -> None:
    # No ties: U = 0, mean 12.5, sd sqrt(25 * 11 / 12); continuity-corrected two-sided normal p.
    separated = mann_whitney_p_value(np.arange(1.0, 6.0), np.arange(6.0, 11.0))
    assert separated == pytest.approx(0.012185780355344818)
    # Ties: ranks 1.5 1.5 3.5 | 3.5 5.5 5.5, U = 0.5, tie term 3 * (2^3 - 2) = 18.
    variance = 9 / 12 * (7 - 18 / (6 * 5))
    tied = mann_whitney_p_value(np.array([1.0, 1.0, 2.0]), np.array([2.0, 3.0, 3.0]))
    assert tied == pytest.approx(math.erfc((4.5 - 0.5 - 0.5) / math.sqrt(variance) / math.sqrt(2)))
    assert mann_whitney_p_value(np.full(6, 3.0), np.full(4, 3.0)) == 1.0
    assert mann_whitney_p_value(np.arange(6.0, 11.0), np.arange(1.0, 6.0)) == separated


@pytest.mark.parametrize("size", [1, 2, 11, 12])
def test_order_statistic_bootstrap_matches_resampling(size: int) -> None:
    """The O(1)-per-resample median draw has the distribution of np.median over real resamples."""
    values = np.sort(np.random.default_rng(5).normal(100, 10, size=size))
    fast = np.round(bootstrap_medians(values, 40_000, np.random.default_rng(1)), 9)
    resampled = np.random.default_rng(2).integers(0, size, size=(40_000, size))
    naive = np.round(np.median(values[resampled], axis=1), 9)
    outcomes = np.union1d(fast, naive)
    fast_share, naive_share = (np.bincount(np.searchsorted(outcomes, sample), minlength=outcomes.size) / 40_000
                               for sample in (fast, naive))
    difference = np.abs(fast_share - naive_share)
    assert difference.sum() / 2 < 0.02  # total variation distance: same distribution up to sampling noise


# -- list_requests -------------------------------------------------------------------------------------------

async def test_keyset_pagination_walks_every_row_once(clickhouse: ClickHouseStore,
                                                      columns: tuple[str, ...]) -> None:
    # Three requests share each timestamp, so the event id must break ties.
    rows = [{"n": n, "ts": START + timedelta(milliseconds=n // 3), "model": "ab"[n % 2],
             "status": "error" if n % 3 == 0 else "ok", "error_type": "timeout" if n % 3 == 0 else "",
             "e2e_ms": 100.0 + n} for n in range(57)]
    await insert(clickhouse, columns, rows)
    order = await clickhouse.query("SELECT event_id FROM request_events ORDER BY ts, event_id", caller="tests")
    seen, after, pages = [], None, 0
    while True:
        page = await list_requests(clickhouse, PROJECT_ID, BASELINE, 10, after)
        seen += [item.event_id for item in page.items]
        pages += 1
        if not page.has_next_page:
            break
        after = page.end_cursor
    assert seen == [event_id for (event_id,) in order.rows] and len(set(seen)) == 57 and pages == 6
    again = await list_requests(clickhouse, PROJECT_ID, BASELINE, 5, None)
    resumed = await list_requests(clickhouse, PROJECT_ID, BASELINE, 5, again.items[2].cursor)
    assert [i.event_id for i in resumed.items] == seen[3:8]
    item = again.items[0]
    n = int(item.item_id.removeprefix("item-"))
    assert item.ts == START + timedelta(milliseconds=n // 3) and item.ts.tzinfo is UTC
    assert item.inter_event_ms[0] == 12.5 + n % 7 and item.cost_usd == pytest.approx(0.000125)
    assert item.output == f"answer {n}" and item.tool_calls == "" and item.error_message == ""
    failed = await list_requests(clickhouse, PROJECT_ID, BASELINE, 100, None,
                                 RequestFilter(status="error", model="b", min_e2e_ms=130))
    assert [i.e2e_ms for i in failed.items] == [100.0 + n for n in range(57) if n % 3 == 0 and n % 2 and n >= 30]
    assert not failed.has_next_page and all(i.error_type == "timeout" for i in failed.items)


@pytest.mark.parametrize("cursor", ["not base64 !", "", base64.urlsafe_b64encode(b"1:12:zz").decode(),
                                    base64.urlsafe_b64encode(b"2:12:" + b"0" * 32).decode()])
async def test_malformed_cursors_are_rejected(clickhouse: ClickHouseStore, cursor: str) -> None:
    with pytest.raises(InvalidCursorError, match="after: is not a cursor returned by this list"):
        await list_requests(clickhouse, PROJECT_ID, BASELINE, 10, cursor)


# -- validation ----------------------------------------------------------------------------------------------

NAIVE = datetime(2025, 3, 4)
INVALID_CALLS = {
    "unknown metric": (lambda s: run_metrics(s, PROJECT_ID, [BASELINE], [], ["ttft"], [50]),
                       "metrics: unknown metric 'ttft'; use one of ttft_ms"),
    "percentile zero": (lambda s: run_metrics(s, PROJECT_ID, [BASELINE], [], [], [0]),
                        r"percentiles: 0 is not a percentile; use numbers in \(0, 100\]"),
    "percentile above 100": (lambda s: run_metrics(s, PROJECT_ID, [BASELINE], [], [], [100.5]),
                             "percentiles: 100.5 is not a percentile"),
    "percentile twice": (lambda s: run_metrics(s, PROJECT_ID, [BASELINE], [], [], [50, 50]),
                         "percentiles: 50 is listed twice"),
    "unknown group key": (lambda s: run_metrics(s, PROJECT_ID, [BASELINE], ["region"], [], []),
                          "group_by: unknown group key 'region'; use any of run, model"),
    "no runs": (lambda s: run_metrics(s, PROJECT_ID, [], [], [], []), "run_ids: is empty"),
    "zero interval": (lambda s: run_timeline(s, PROJECT_ID, BASELINE, 0),
                      "interval_s: 0 is not a bucket width; use a number of seconds of at least 0.001"),
    "too many buckets": (lambda s: latency_series(s, PROJECT_ID, START, START + timedelta(days=1), 1, None,
                                                  "ttft_ms", [50]),
                         "interval_s: 86400 buckets .* at most 10000 are allowed: use an interval of at least"),
    "empty range": (lambda s: latency_series(s, PROJECT_ID, START, START, 60, None, "ttft_ms", [50]),
                    "end: .* is not after start"),
    "naive datetime": (lambda s: latency_series(s, PROJECT_ID, NAIVE, START, 60, None, "ttft_ms", [50]),
                       "start: give a timezone-aware datetime"),
    "empty models": (lambda s: latency_series(s, PROJECT_ID, START, START + timedelta(hours=1), 60, [],
                                              "ttft_ms", [50]), "models: give a non-empty list"),
    "run key in compare": (lambda s: compare_runs(s, PROJECT_ID, BASELINE, CANDIDATE, ["run"], ["ttft_ms"]),
                           "group_by: unknown group key 'run'"),
    "same run": (lambda s: compare_runs(s, PROJECT_ID, BASELINE, BASELINE, [], ["ttft_ms"]),
                 "candidate_run_id: is the baseline run"),
    "confidence one": (lambda s: compare_runs(s, PROJECT_ID, BASELINE, CANDIDATE, [], [], confidence=1),
                       "confidence: 1 is not a confidence level; use a number between 0 and 1"),
    "few resamples": (lambda s: compare_runs(s, PROJECT_ID, BASELINE, CANDIDATE, [], [], resamples=10),
                      "resamples: 10 is out of range; use a whole number from 100 to 20000"),
    "page too large": (lambda s: list_requests(s, PROJECT_ID, BASELINE, 1001, None),
                       "first: 1001 is out of range; use a whole number from 1 to 1000"),
}


@pytest.mark.parametrize("name", INVALID_CALLS)
async def test_invalid_arguments_say_what_to_change(clickhouse: ClickHouseStore, name: str) -> None:
    call, message = INVALID_CALLS[name]
    with pytest.raises(AnalyticsInputError, match=message):
        await call(clickhouse)


async def test_timeline_bucket_limit_uses_the_runs_span(clickhouse: ClickHouseStore,
                                                        columns: tuple[str, ...]) -> None:
    await insert(clickhouse, columns, [{"n": 0, "ts": START}, {"n": 1, "ts": START + timedelta(seconds=20)}])
    with pytest.raises(AnalyticsInputError, match="interval_s: 20001 buckets of 0.001 s over 20 s"):
        await run_timeline(clickhouse, PROJECT_ID, BASELINE, 0.001)
