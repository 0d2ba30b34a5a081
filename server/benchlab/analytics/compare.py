"""Is the candidate run faster or slower than the baseline, per group and metric, and how sure are we?

The two runs' raw values are fetched (only the grouped metric values) and tested in Python (`stats`). Each
side of each group is capped at `max_samples` values, chosen by a seeded hash of the event id in ClickHouse
(a deterministic subsample), so transfer, sorting and ranking stay bounded (the bootstrap itself costs
O(resamples)); `baseline_n`/`candidate_n` report all values, the statistics use the capped sample.
Inter-event gaps are compared gap by gap (gaps of one request are not independent: read those p-values as
indicative). Every group seen in either run is reported for every metric; a side with no values has n = 0.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import partial
from typing import Any
from uuid import UUID

import numpy as np

from benchlab.analytics.columns import KeyColumn, key_columns
from benchlab.analytics.errors import AnalyticsInputError
from benchlab.analytics.grouping import GROUP_KEYS, group_expressions
from benchlab.analytics.scope import runs_scope
from benchlab.analytics.stats import SampleComparison, compare_samples
from benchlab.analytics.validation import check_whole_number, resolve_metrics
from benchlab.metrics import Metric
from benchlab.stores.clickhouse import ClickHouseStore

COMPARE_GROUP_KEYS = tuple(key for key in GROUP_KEYS if key != "run")
_LATENCY_LABELS = ("faster", "slower")
_AMOUNT_LABELS = ("lower", "higher")

Key = tuple[str, ...]
Sides = dict[bool, tuple[int, list[float]]]  # is_candidate -> (how many values in all, the capped sample)


@dataclass(frozen=True)
class RunComparison:
    """Rows are (group, metric) pairs. Deltas are candidate - baseline; `relative_delta` divides by the
    baseline median; `ci_low`/`ci_high` bound the median difference; verdicts are faster/slower (latencies),
    lower/higher (completion_tokens, cost_usd), no_difference or insufficient_data."""

    group_by: list[str]
    confidence: float
    resamples: int
    seed: int
    max_samples: int
    keys: list[KeyColumn]
    metric: list[str]
    baseline_n: list[int]
    candidate_n: list[int]
    baseline_median: list[float | None]
    candidate_median: list[float | None]
    delta_median: list[float | None]
    relative_delta: list[float | None]
    ci_low: list[float | None]
    ci_high: list[float | None]
    p_value: list[float | None]
    verdict: list[str]


async def compare_runs(store: ClickHouseStore, project_id: UUID, baseline_run_id: UUID, candidate_run_id: UUID,
                       group_by: Sequence[str], metrics: Sequence[str], confidence: float = 0.95,
                       resamples: int = 2000, seed: int = 0, max_samples: int = 20_000,
                       include_window_only: bool = True) -> RunComparison:
    """Median difference, bootstrap CI, Mann-Whitney p-value and a verdict per group and metric."""
    if candidate_run_id == baseline_run_id:
        raise AnalyticsInputError("candidate_run_id", "is the baseline run; compare two different runs")
    keys = group_expressions(group_by, allowed=COMPARE_GROUP_KEYS)
    chosen = resolve_metrics(metrics)
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 < confidence < 1:
        raise AnalyticsInputError("confidence", f"{confidence!r} is not a confidence level; use a number "
                                                "between 0 and 1, e.g. 0.95")
    check_whole_number(resamples, 100, 20_000, "resamples")
    check_whole_number(seed, 0, 2**63 - 1, "seed")
    check_whole_number(max_samples, 20, 100_000, "max_samples")
    parameters = {"project": project_id, "runs": [baseline_run_id, candidate_run_id],
                  "candidate": candidate_run_id, "seed": seed, "cap": max_samples}
    fetched = await asyncio.gather(*(_fetch(store, metric, keys, include_window_only, parameters)
                                     for metric in chosen))
    samples = dict(zip((metric.name for metric in chosen), fetched, strict=True))
    groups = sorted({key for per_key in fetched for key in per_key})
    rows = await asyncio.to_thread(_compare_all, groups, chosen, samples, confidence, resamples, seed)
    return RunComparison(
        group_by=list(group_by), confidence=float(confidence), resamples=resamples, seed=seed,
        max_samples=max_samples, keys=key_columns(group_by, [row[0] for row in rows]),
        metric=[row[1] for row in rows], baseline_n=[row[2] for row in rows], candidate_n=[row[3] for row in rows],
        **{field.name: [getattr(row[4], field.name) for row in rows] for field in fields(SampleComparison)})


async def _fetch(store: ClickHouseStore, metric: Metric, keys: list[str], include_window_only: bool,
                 parameters: dict[str, Any]) -> dict[Key, Sides]:
    """Per group and side: how many values there are, and the `cap` values with the smallest seeded hash.

    Sorting each group's (hash, value) pairs picks the same subsample whatever order rows are read in. It holds
    one group's values in memory while sorting (16 bytes each); measured on 1M rows it beat both a window
    function with LIMIT BY (5x) and groupArraySorted (15x).
    """
    if metric.array:
        source = f" ARRAY JOIN {metric.name} AS element, arrayEnumerate({metric.name}) AS position"
        value, sample_key = "element", "event_id, position"
    else:
        source, value, sample_key = "", metric.name, "event_id"
    grouping = ", ".join([*keys, "run_id"])
    result = await store.query(
        f"SELECT {''.join(k + ', ' for k in keys)}run_id = {{candidate:UUID}}, count(), arrayMap(pair -> pair.2, "
        f"arraySlice(arraySort(groupArray((cityHash64({sample_key}, {{seed:UInt64}}), {value}))), 1, {{cap:UInt32}})) "
        f"FROM request_events{source} WHERE {runs_scope(include_window_only)} AND {metric.condition} "
        f"GROUP BY {grouping}", parameters, caller="analytics.compare_runs")
    per_key: dict[Key, Sides] = {}
    for row in result.rows:
        key = tuple(row[:len(keys)])
        per_key.setdefault(key, {})[bool(row[len(keys)])] = (int(row[-2]), row[-1])
    return per_key


def _compare_all(groups: list[Key], metrics: list[Metric], samples: dict[str, dict[Key, Sides]],
                 confidence: float, resamples: int, seed: int) -> list[tuple[Key, str, int, int, SampleComparison]]:
    """CPU-bound, run in a worker thread (numpy releases the GIL for the heavy parts)."""
    rows = []
    for key in groups:
        for metric in metrics:
            sides = samples[metric.name].get(key, {})
            base_n, base = sides.get(False, (0, []))
            cand_n, cand = sides.get(True, (0, []))
            # One generator per (group, metric): a row's numbers do not depend on which other rows exist.
            rng = np.random.default_rng([seed, zlib.crc32(repr((key, metric.name)).encode())])
            result = compare_samples(base, cand, confidence=confidence, resamples=resamples, rng=rng,
                                     labels=_LATENCY_LABELS if metric.latency else _AMOUNT_LABELS,
                                     median=partial(metric.quantile, level=0.5))
            rows.append((key, metric.name, base_n, cand_n, _cleaned(result, metric)))
    return rows


def _cleaned(result: SampleComparison, metric: Metric) -> SampleComparison:
    """Values in the metric's unit get its rounding; p-value and relative delta stay as computed."""
    clean = metric.clean
    return SampleComparison(clean(result.baseline_median), clean(result.candidate_median),
                            clean(result.delta_median), result.relative_delta, clean(result.ci_low),
                            clean(result.ci_high), result.p_value, result.verdict)
