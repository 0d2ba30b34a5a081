"""A run's quality-gate outcome as GraphQL types (engine/gating.py evaluates it; docs/gates.md defines it)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON


@strawberry.type(description=(
    "One gate on one group (`groupLabel`: `overall` or e.g. `model=small`): the candidate's value, the baseline's, "
    "the change with its 95 % bootstrap interval, and the verdict. A regression limit fails only when the whole "
    "interval of the change lies beyond the tolerance in the worse direction."))
class GateResult:
    gate: str
    figure: str = strawberry.field(description="What is measured, e.g. `ttft_ms p95` or `overall pass_rate`.")
    group_label: str
    group: JSON
    verdict: str = strawberry.field(description="pass, fail or inconclusive.")
    blocking: bool = strawberry.field(description="Fails the build: a failure, or inconclusive under "
                                                  "`inconclusive: fail`.")
    message: str
    limits: str
    unit: str
    candidate: float | None
    candidate_n: int
    baseline: float | None
    baseline_n: int | None
    delta: float | None
    delta_low: float | None
    delta_high: float | None
    tolerance: float | None
    needed_n: int = strawberry.field(description="Values per side the statistic needs to be conclusive.")

    @classmethod
    def of(cls, result: dict[str, Any]) -> GateResult:
        return cls(gate=result["gate"], figure=result["figure"], group_label=result["group_label"],
                   group=JSON(result["group"]), verdict=result["verdict"], blocking=result["blocking"],
                   message=result["message"], limits=result["limits"], unit=result["unit"],
                   candidate=result["candidate"], candidate_n=result["candidate_n"], baseline=result["baseline"],
                   baseline_n=result["baseline_n"], delta=result["delta"], delta_low=result["delta_low"],
                   delta_high=result["delta_high"], tolerance=result["tolerance"], needed_n=result["needed_n"])


@strawberry.type(description="The outcome of a run's quality gates, as last evaluated (`gateRun`, `benchlab gate`).")
class RunGate:
    status: str = strawberry.field(description="passed or failed (no blocking result, or some).")
    gated_at: datetime
    baseline: str | None = strawberry.field(description="The baseline name or run id compared with; null: none.")
    report: JSON = strawberry.field(description="The whole report (what `benchlab gate --json` prints).")

    @strawberry.field
    def results(self) -> list[GateResult]:
        return [GateResult.of(result) for result in dict(self.report).get("results", [])]  # type: ignore[call-overload]

    @strawberry.field(description="Cells (item × model × prompt × params) whose verdict differs between "
                                  "repetitions, per evaluator.")
    def flaky(self) -> JSON | None:
        flaky = dict(self.report).get("flaky")  # type: ignore[call-overload]
        return None if flaky is None else JSON(flaky)

    @classmethod
    def of(cls, status: str | None, gated_at: datetime | None, report: dict[str, Any] | None) -> RunGate | None:
        if status is None or gated_at is None or report is None:
            return None
        return cls(status=status, gated_at=gated_at, baseline=report.get("baseline_label"), report=JSON(report))
