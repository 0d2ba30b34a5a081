"""Did the candidate run's quality change? Scores of two runs compared on the cells both runs share.

A cell is (item, repetition, load phase, model, prompt version, parameter set). A dimension in which the two
runs share no value at all (a new model replacing the old, a new prompt version) is left out of the cell, so
"the same question asked of the old and the new model" pairs up. Per evaluator and score name, over the
shared cells (a cell seen twice on one side keeps its first row by event id):
- pass rates and their difference, with McNemar's exact test on the discordant pairs (b: passed before,
  fails now; c: failed before, passes now) — the paired test for "did the pass rate change";
- the mean of the paired score differences with a 95 % percentile bootstrap interval (fixed seed);
- a verdict: better / worse (the sign of the mean difference) when McNemar's p < 1 - confidence or the
  interval excludes 0 — the first sees pass/fail flips, the second graded scores — else no_difference;
  insufficient_data under 5 shared cells.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import numpy as np

from benchlab.analytics.quality_stats import mcnemar_exact_p, paired_difference_interval
from benchlab.stores.clickhouse import ClickHouseStore

MIN_PAIRS = 5
RESAMPLES = 2000
CELL = ("item_id", "repetition", "load_phase", "model", "prompt_version", "params_hash")


@dataclass(frozen=True)
class ScoreComparison:
    evaluator: str
    score_name: str
    shared_cells: int
    baseline_pass_rate: float | None
    candidate_pass_rate: float | None
    pass_rate_delta: float | None
    passed_before_only: int   # McNemar b
    passed_after_only: int    # McNemar c
    mcnemar_p: float | None
    mean_delta: float | None
    mean_delta_low: float | None
    mean_delta_high: float | None
    verdict: str
    paired_on: list[str]


async def compare_scores(store: ClickHouseStore, project_id: UUID, baseline: tuple[UUID, UUID],
                         candidate: tuple[UUID, UUID], *, confidence: float = 0.95,
                         seed: int = 0) -> list[ScoreComparison]:
    """`baseline` and `candidate` are (run id, scoring pass id)."""
    result = await store.query(
        "SELECT run_id = {candidate_run:UUID}, evaluator, score_name, " + ", ".join(CELL) + ", value, passed "
        "FROM scores WHERE project_id = {project:UUID} AND ((run_id = {baseline_run:UUID} AND pass_id = "
        "{baseline_pass:UUID}) OR (run_id = {candidate_run:UUID} AND pass_id = {candidate_pass:UUID})) "
        "AND counterpart = '' ORDER BY event_id",
        {"project": project_id, "baseline_run": baseline[0], "baseline_pass": baseline[1],
         "candidate_run": candidate[0], "candidate_pass": candidate[1]}, caller="analytics.compare_scores")
    rows = result.rows
    kept = _shared_dimensions(rows)
    sides: dict[tuple[str, str], tuple[dict[tuple[Any, ...], tuple[float, bool]], ...]] = {}
    for row in rows:
        is_candidate, evaluator, name = row[0], row[1], row[2]
        cell = tuple(row[3 + index] for index in kept)
        per_side = sides.setdefault((evaluator, name), ({}, {}))
        per_side[1 if is_candidate else 0].setdefault(cell, (float(row[-2]), bool(row[-1])))
    paired_on = [CELL[index] for index in kept]
    return [_compare(evaluator, name, base, cand, confidence, seed, paired_on)
            for (evaluator, name), (base, cand) in sorted(sides.items(), key=lambda kv: (kv[0][0] != "overall",
                                                                                          kv[0]))]


def _shared_dimensions(rows: Sequence[Sequence[Any]]) -> list[int]:
    """Indexes into CELL of the dimensions to pair on: all but those where the runs share no value."""
    kept = []
    for index, _ in enumerate(CELL):
        values: tuple[set[Any], set[Any]] = (set(), set())
        for row in rows:
            values[1 if row[0] else 0].add(row[3 + index])
        if values[0] & values[1] or index < 3:  # item, repetition and phase always pair
            kept.append(index)
    return kept


def _compare(evaluator: str, name: str, base: dict[tuple[Any, ...], tuple[float, bool]],
             cand: dict[tuple[Any, ...], tuple[float, bool]], confidence: float, seed: int,
             paired_on: list[str]) -> ScoreComparison:
    shared = sorted(base.keys() & cand.keys(), key=repr)
    n = len(shared)
    if not n:
        return ScoreComparison(evaluator, name, 0, None, None, None, 0, 0, None, None, None, None,
                               "insufficient_data", paired_on)
    before = np.array([base[cell][0] for cell in shared])
    after = np.array([cand[cell][0] for cell in shared])
    passed_before = [base[cell][1] for cell in shared]
    passed_after = [cand[cell][1] for cell in shared]
    b = sum(1 for x, y in zip(passed_before, passed_after, strict=True) if x and not y)
    c = sum(1 for x, y in zip(passed_before, passed_after, strict=True) if y and not x)
    base_rate, cand_rate = sum(passed_before) / n, sum(passed_after) / n
    p_value = mcnemar_exact_p(b, c)
    rng = np.random.default_rng([seed, zlib.crc32(f"{evaluator}|{name}".encode())])
    interval = paired_difference_interval(before, after, confidence, RESAMPLES, rng)
    mean_delta = float(np.mean(after - before))
    verdict = "insufficient_data" if n < MIN_PAIRS else "no_difference"
    if n >= MIN_PAIRS and interval is not None:
        significant = p_value < 1 - confidence or interval[0] > 0 or interval[1] < 0
        if significant and mean_delta != 0:
            verdict = "better" if mean_delta > 0 else "worse"
    return ScoreComparison(evaluator, name, n, base_rate, cand_rate, cand_rate - base_rate, b, c, p_value,
                           mean_delta, interval[0] if interval else None, interval[1] if interval else None,
                           verdict, paired_on)
