"""How far a judge agrees with humans: items may carry a reference label for a judge evaluator (`labels`).

Per evaluator, over the labelled requests the judge scored (judge errors left out): accuracy and Cohen's
kappa of pass/fail (a boolean label is pass/fail; a numeric label passes at the evaluator's threshold; a
text label `pass`/`fail`, or any other category compared with the judge's pass/fail as text), and for
numeric labels Pearson's r between the human and the judge score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from benchlab.analytics.quality_stats import accuracy, cohens_kappa, pearson_r

Labelled = tuple[Any, float, bool]  # (human label, judge score, judge passed)


def calibration(labelled: Mapping[str, Sequence[Labelled]], thresholds: Mapping[str, float]) -> list[dict[str, Any]]:
    report = []
    for evaluator, pairs in sorted(labelled.items()):
        threshold = thresholds.get(evaluator, 0.5)
        human = [_human_pass(label, threshold) for label, _, _ in pairs]
        judge = [passed for _, _, passed in pairs]
        numeric = [(float(label), score) for label, score, _ in pairs
                   if isinstance(label, int | float) and not isinstance(label, bool)]
        report.append({
            "evaluator": evaluator, "labelled": len(pairs), "accuracy": accuracy(human, judge),
            "kappa": cohens_kappa(human, judge), "numeric_labels": len(numeric),
            "pearson_r": pearson_r([h for h, _ in numeric], [j for _, j in numeric]) if numeric else None})
    return report


def _human_pass(label: Any, threshold: float) -> bool:
    if isinstance(label, bool):
        return label
    if isinstance(label, int | float):
        return label >= threshold
    return str(label).strip().casefold() in ("pass", "passed", "yes", "true", "good", "correct")
