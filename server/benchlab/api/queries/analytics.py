"""Query fields across runs: compare two runs, chart a project's latency over time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from benchlab.api.context import runtime_of
from benchlab.api.node_lookup import load_required
from benchlab.api.permissions import project_role, require_role
from benchlab.api.types.analytics import GroupBy, LatencySeriesResult, Metric, RunComparisonResult
from benchlab.api.types.catalog import Project
from benchlab.api.types.runs import Run
from benchlab.auth.roles import Role
from benchlab.errors import InvalidInputError

LATENCY_METRICS = [Metric.TTFT, Metric.TPOT, Metric.E2E]


@strawberry.type
class AnalyticsQueries:
    @strawberry.field(permission_classes=[project_role(Role.VIEWER, "baseline", "Run")],
                      description=(
        "Is the candidate faster than the baseline? Per group and metric: medians, their difference with a "
        "bootstrap confidence interval, a Mann-Whitney p-value and a verdict. Both runs must be of one project."))
    async def compare_runs(self, info: Info, baseline: strawberry.ID, candidate: strawberry.ID,
                           metrics: list[Metric] | None = None, group_by: list[GroupBy] | None = None,
                           confidence: float = 0.95) -> RunComparisonResult:
        from benchlab.analytics.compare import compare_runs

        base: Run = await load_required(info, baseline, Run, "baseline")
        cand: Run = await load_required(info, candidate, Run, "candidate")
        await require_role(info, cand.project_id, Role.VIEWER, "Run")
        if base.project_id != cand.project_id:
            raise InvalidInputError("baseline and candidate must be runs of the same project")
        result = await compare_runs(runtime_of(info).clickhouse, base.project_id, base.db_id, cand.db_id,
                                    [g.value for g in group_by or [GroupBy.MODEL]],
                                    [m.value for m in metrics or LATENCY_METRICS], confidence=confidence)
        return RunComparisonResult.of(result)

    @strawberry.field(permission_classes=[project_role(Role.VIEWER, "project_id", "Project")],
                      description=(
        "A metric's percentiles over time for a project (all runs), per model, in buckets of `intervalSeconds` "
        "over [from, to). For charts: columnar, approximate percentiles."))
    async def latency_series(self, info: Info, project_id: strawberry.ID,
                             from_: Annotated[datetime, strawberry.argument(name="from")], to: datetime,
                             interval_seconds: float, metric: Metric = Metric.TTFT,
                             percentiles: list[float] | None = None,
                             models: list[str] | None = None) -> LatencySeriesResult:
        from benchlab.analytics.series import latency_series

        project: Project = await load_required(info, project_id, Project, "projectId")
        result = await latency_series(runtime_of(info).clickhouse, project.db_id, from_, to, interval_seconds,
                                      models, metric.value, percentiles or [50.0, 90.0, 99.0])
        return LatencySeriesResult.of(result)
