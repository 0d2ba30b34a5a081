"""A scoring pass's summary, computed in ClickHouse over the score rows the pass wrote.

Per evaluator and score name, for the whole run and per group (model × prompt version × parameter set):
count, pass rate with its 95 % Wilson interval, mean score with a 95 % percentile-bootstrap interval (fixed
seed: the same rows always give the same interval), judge errors and judge cost. Pairwise evaluators are
summarised per (subject, counterpart) pair instead: win / tie / loss / inconsistent counts and the win rate
(ties and inconsistent verdicts count half). Rows of failed requests (label `request_error`) count as fails:
a model that errors cannot look good.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

import numpy as np

from benchlab.analytics.quality_stats import bootstrap_mean_interval, wilson_interval
from benchlab.stores.clickhouse import ClickHouseStore

CONFIDENCE = 0.95
RESAMPLES = 1000
SEED = 20260101
_WHERE = "project_id = {project:UUID} AND run_id = {run:UUID} AND pass_id = {pass:UUID}"


async def score_summary(store: ClickHouseStore, project_id: UUID, run_id: UUID, pass_id: UUID,
                        params_by_hash: Mapping[str, Mapping[str, Any]],
                        pairwise_compare: Mapping[str, str]) -> dict[str, Any]:
    """`{"evaluators": [...], "pairwise": [...]}`: every figure with the group it describes."""
    binds = {"project": project_id, "run": run_id, "pass": pass_id}
    grouped = await store.query(
        "SELECT evaluator, any(evaluator_type), score_name, model, prompt_version, params_hash, count(), "
        "countIf(passed), groupArray(value), countIf(label = 'judge_error'), sum(judge_cost_usd), "
        "countIf(label = 'request_error') "
        f"FROM scores WHERE {_WHERE} AND evaluator_type != 'pairwise' "
        "GROUP BY evaluator, score_name, model, prompt_version, params_hash "
        "ORDER BY evaluator = 'overall' DESC, evaluator, score_name, model, prompt_version, params_hash",
        binds, caller="score-summary")
    rows: list[dict[str, Any]] = []
    totals: dict[tuple[str, str], dict[str, Any]] = {}
    for (evaluator, kind, name, model, prompt, params_hash, n, passed, values, judge_errors, cost,
         request_errors) in grouped.rows:
        group = {"model": model, "prompt_version": prompt, "params_hash": params_hash,
                 "params": dict(params_by_hash.get(params_hash, {}))}  # the values, not only their hash
        rows.append(_figures(evaluator, kind, name, group, n, passed, values, judge_errors, cost, request_errors))
        total = totals.setdefault((evaluator, name), {"kind": kind, "n": 0, "passed": 0, "values": [],
                                                      "judge_errors": 0, "cost": 0.0, "request_errors": 0})
        total["n"] += n
        total["passed"] += passed
        total["values"] += values
        total["judge_errors"] += judge_errors
        total["cost"] += cost
        total["request_errors"] += request_errors
    overall = [_figures(evaluator, t["kind"], name, None, t["n"], t["passed"], t["values"], t["judge_errors"],
                        t["cost"], t["request_errors"]) for (evaluator, name), t in totals.items()]
    return {"evaluators": overall + rows, "pairwise": await _pairwise(store, binds, pairwise_compare)}


def _figures(evaluator: str, kind: str, name: str, group: dict[str, Any] | None, n: int, passed: int,
             values: list[float], judge_errors: int, cost: float, request_errors: int) -> dict[str, Any]:
    rng = np.random.default_rng(SEED)
    pass_ci = wilson_interval(passed, n, CONFIDENCE)
    mean_ci = bootstrap_mean_interval(values, CONFIDENCE, RESAMPLES, rng)
    return {"evaluator": evaluator, "type": kind, "score_name": name, "group": group, "count": n, "passed": passed,
            "pass_rate": passed / n if n else None, "pass_rate_ci": list(pass_ci) if pass_ci else None,
            "mean": float(np.mean(values)) if values else None, "mean_ci": list(mean_ci) if mean_ci else None,
            "judge_errors": judge_errors, "request_errors": request_errors, "judge_cost_usd": cost}


async def _pairwise(store: ClickHouseStore, binds: dict[str, Any],
                    compare: Mapping[str, str]) -> list[dict[str, Any]]:
    result = await store.query(
        "SELECT evaluator, model, prompt_version, counterpart, count(), countIf(label = 'win'), "
        "countIf(label = 'tie'), countIf(label = 'loss'), countIf(label = 'inconsistent'), "
        "countIf(label = 'judge_error'), sum(judge_cost_usd) "
        f"FROM scores WHERE {_WHERE} AND evaluator_type = 'pairwise' AND counterpart != '' "
        "GROUP BY evaluator, model, prompt_version, counterpart", binds, caller="score-summary-pairwise")
    merged: dict[tuple[str, str, str], list[float]] = {}
    for evaluator, model, prompt, counterpart, *counts in result.rows:
        subject = prompt if compare.get(evaluator) == "prompt" else model
        sums = merged.setdefault((evaluator, subject, counterpart), [0] * len(counts))
        for index, count in enumerate(counts):
            sums[index] += count
    pairs = []
    for (evaluator, subject, counterpart), counts in sorted(merged.items()):
        n, wins, ties, losses, inconsistent, errors = (int(count) for count in counts[:6])
        judged = wins + ties + losses + inconsistent
        points = wins + 0.5 * (ties + inconsistent)
        # Wilson on the points rounded to whole comparisons (a tie is half a win).
        interval = wilson_interval(round(points), judged, CONFIDENCE) if judged else None
        pairs.append({"evaluator": evaluator, "compare": compare.get(evaluator, "model"), "subject": subject,
                      "counterpart": counterpart, "comparisons": n, "wins": wins, "ties": ties, "losses": losses,
                      "inconsistent": inconsistent, "judge_errors": errors,
                      "win_rate": points / judged if judged else None,
                      "win_rate_ci": list(interval) if interval else None, "judge_cost_usd": counts[6]})
    return pairs
