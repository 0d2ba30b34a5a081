"""Query fields across runs: compare two runs, chart a project's latency over time."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from benchlab.api.context import runtime_of
from benchlab.api.ids import encode_global_id
from benchlab.api.node_lookup import load_required
from benchlab.api.permissions import project_role, require_role
from benchlab.api.types.analytics import EXACT_ARGUMENT, GroupBy, LatencySeriesResult, Metric, RunComparisonResult
from benchlab.api.types.catalog import Project
from benchlab.api.types.production import SOURCE_ARGUMENT, RequestSource
from benchlab.api.types.runs import Experiment, Run
from benchlab.api.types.scoring import Leaderboard, LeaderboardBy, LeaderboardRow
from benchlab.auth.roles import Role
from benchlab.errors import InvalidInputError
from benchlab.stores import scoring_passes

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
        comparison = RunComparisonResult.of(result)
        comparison.runs = (base.project_id, base.db_id, cand.db_id)
        return comparison

    @strawberry.field(permission_classes=[project_role(Role.VIEWER, "project_id", "Project")],
                      description=(
        "Which model (or prompt version) is best for my data: ranked by a quality score (the mean of "
        "`evaluator`'s score, default `overall`) with TTFT/E2E p50/p95 and cost per 1,000 requests, each with "
        "a 95 % interval, over the newest `runs` scored runs of the experiment (or of the project)."))
    async def leaderboard(self, info: Info, project_id: strawberry.ID, experiment_id: strawberry.ID | None = None,
                          by: LeaderboardBy = LeaderboardBy.MODEL, evaluator: str = "overall",
                          runs: int = 1) -> Leaderboard:
        from benchlab.analytics.leaderboard import leaderboard

        project: Project = await load_required(info, project_id, Project, "projectId")
        experiment_db_id = None
        if experiment_id is not None:
            experiment: Experiment = await load_required(info, experiment_id, Experiment, "experimentId")
            if experiment.project_id != project.db_id:
                raise InvalidInputError("experimentId: the experiment is not in this project")
            experiment_db_id = experiment.db_id
        if not 1 <= runs <= 100:
            raise InvalidInputError("runs: give a number of runs between 1 and 100")
        runtime = runtime_of(info)
        async with runtime.pg.acquire() as conn:
            scored = await scoring_passes.newest_scored_runs(conn, project.db_id, experiment_db_id, runs)
        entries = await leaderboard(runtime.clickhouse, project.db_id, scored, by=by.value, evaluator=evaluator)
        return Leaderboard(by=by, evaluator=evaluator,
                           run_ids=[strawberry.ID(encode_global_id("Run", run)) for run, _ in scored],
                           rows=[LeaderboardRow.of(entry) for entry in entries])

    @strawberry.field(permission_classes=[project_role(Role.VIEWER, "project_id", "Project")],
                      description=(
        "A metric's percentiles over time for a project (all runs, and production traffic), per model, in buckets "
        "of `intervalSeconds` over [from, to). For charts: columnar. Percentiles are exact, or approximate "
        "(`quantileMethod`) when the range holds many requests, `intervalSeconds`, `from` and `to` are whole "
        "minutes and no `source` is given."))
    async def latency_series(self, info: Info, project_id: strawberry.ID,
                             from_: Annotated[datetime, strawberry.argument(name="from")], to: datetime,
                             interval_seconds: float, metric: Metric = Metric.TTFT,
                             percentiles: list[float] | None = None,
                             models: list[str] | None = None,
                             exact: Annotated[bool, strawberry.argument(description=EXACT_ARGUMENT)] = False,
                             # Not `source` in Python: strawberry's permission extension takes that name itself.
                             request_source: Annotated[RequestSource | None, strawberry.argument(
                                 name="source", description=SOURCE_ARGUMENT)] = None,
                             ) -> LatencySeriesResult:
        from benchlab.analytics.series import latency_series

        project: Project = await load_required(info, project_id, Project, "projectId")
        result = await latency_series(runtime_of(info).clickhouse, project.db_id, from_, to, interval_seconds,
                                      models, metric.value, percentiles or [50.0, 90.0, 99.0], prefer_exact=exact,
                                      source=request_source.value if request_source is not None else None)
        return LatencySeriesResult.of(result)
