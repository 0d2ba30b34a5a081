"""Tables the CLI prints: parameter sets by their values, and a scoring pass's scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchlab.spec import describe_params


def params_text(params: Mapping[str, Any] | None, params_hash: str) -> str:
    """A parameter set by its values (`max_tokens=64 temperature=0.7`); its hash only when they are unknown."""
    return params_hash[:8] if params is None else describe_params(params)


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _interval(interval: Sequence[float] | None) -> str:
    return "-" if not interval else f"[{interval[0]:.2f}, {interval[1]:.2f}]"


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def format_scores(scores: Mapping[str, Any]) -> str:
    """The scores table of a pass (its summary as stored), per evaluator and group; pairwise and calibration
    below it."""
    if scores.get("status") == "failed":
        return f"scores: the scoring pass failed: {scores.get('error')}"
    lines = [f"scores (pass {scores.get('pass_id', '?')}; pass rate and mean with 95 % intervals)"]
    rows: list[tuple[str, ...]] = [("evaluator", "model", "prompt", "params", "n", "pass rate", "95% CI", "mean",
                                    "95% CI", "judge err", "judge $")]
    for entry in scores.get("evaluators", []):
        group = entry.get("group")
        where = ("(all)", "", "") if group is None else (
            group["model"], group["prompt_version"], params_text(group.get("params"), group["params_hash"]))
        name = entry["evaluator"] if entry["score_name"] == entry["evaluator"] else entry["score_name"]
        rows.append((name, *where, str(entry["count"]), _fmt(entry["pass_rate"]), _interval(entry["pass_rate_ci"]),
                     _fmt(entry["mean"]), _interval(entry["mean_ci"]), str(entry["judge_errors"]),
                     _fmt(entry["judge_cost_usd"], 4)))
    lines += table(rows) if len(rows) > 1 else ["  no scores"]
    pairs = scores.get("pairwise") or []
    if pairs:
        rows = [("pairwise", "subject", "vs", "n", "win", "tie", "loss", "inconsistent", "win rate", "95% CI")]
        rows += [(p["evaluator"], p["subject"], p["counterpart"], str(p["comparisons"]), str(p["wins"]),
                  str(p["ties"]), str(p["losses"]), str(p["inconsistent"]), _fmt(p["win_rate"]),
                  _interval(p["win_rate_ci"])) for p in pairs]
        lines += table(rows)
    for entry in scores.get("calibration") or []:
        pearson = entry.get("pearson_r")
        lines.append(f"judge calibration {entry['evaluator']}: {entry['labelled']} labelled, accuracy "
                     f"{_fmt(entry['accuracy'])}, kappa {_fmt(entry['kappa'])}"
                     + (f", pearson r {_fmt(pearson)}" if pearson is not None else ""))
    judge = scores.get("judge") or {}
    if judge.get("calls") or judge.get("cached"):
        lines.append(f"judge: {judge['calls']} call(s), {judge['cached']} from cache, {judge['errors']} error(s), "
                     f"${judge['cost_usd']:.4f}")
    return "\n".join(lines)
