"""Experiments and runs as GraphQL types, with the run list's filters and orderings.

Metric definitions (benchlab.metrics) are written into the field descriptions so a client's tooling shows
exactly what each number means.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from benchlab.api.context import loaders_of, runtime_of
from benchlab.api.ids import encode_global_id
from benchlab.api.pagination import Connection, Page, check_first, to_connection
from benchlab.api.types.analytics import (
    EXACT_ARGUMENT,
    GroupBy,
    KeyValues,
    Metric,
    RunMetricsResult,
    RunTimelineResult,
)
from benchlab.api.types.baselines import Baseline, baseline_names_of_run, baselines_of_experiment
from benchlab.api.types.catalog import DatasetVersion
from benchlab.api.types.gates import RunGate
from benchlab.api.types.node import Node, node_type
from benchlab.api.types.requests import RequestEvent, RequestFilterInput
from benchlab.api.types.run_lists import RunFilter, RunOrder, RunStatus, run_connection
from benchlab.api.types.schedules import Schedule, schedules_of_experiment
from benchlab.api.types.scoring import ScoringPass, pass_uuid
from benchlab.engine.planner import params_by_hash
from benchlab.spec import describe_params, load_spec
from benchlab.stores import listing, run_queue, scoring_passes

if TYPE_CHECKING:
    from benchlab.analytics.requests import RequestRow
    from benchlab.api.types.catalog import Project

ProjectRef = Annotated["Project", strawberry.lazy("benchlab.api.types.catalog")]
DEFAULT_PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


def _cursor_of(row: RequestRow) -> str:
    """A request's keyset cursor, made by the analytics layer (ClickHouse's (ts, event_id) order)."""
    return row.cursor


@strawberry.type(description="A stored experiment: the full spec (models × prompts × params × dataset items × "
                             "repetitions, load profile, SLOs), secrets removed.")
class Experiment(Node):
    db_id: strawberry.Private[UUID]
    project_id: strawberry.Private[UUID]
    dataset_version_id: strawberry.Private[UUID | None]
    name: str
    description: str
    spec: JSON = strawberry.field(description="The experiment spec as stored (same shape as the YAML spec).")
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Experiment:
        return cls(id=strawberry.ID(encode_global_id("Experiment", row["id"])), db_id=row["id"],
                   project_id=row["project_id"], dataset_version_id=row["dataset_version_id"], name=row["name"],
                   description=row["description"], spec=row["spec"], created_at=row["created_at"],
                   updated_at=row["updated_at"], archived_at=row["archived_at"])

    @strawberry.field
    async def project(self, info: Info) -> ProjectRef:
        return node_type("Project").from_row(await loaders_of(info).row("projects", self.project_id))

    @strawberry.field(description="The dataset version the experiment runs on.")
    async def dataset_version(self, info: Info) -> DatasetVersion | None:
        if self.dataset_version_id is None:
            return None
        return DatasetVersion.from_row(await loaders_of(info).row("dataset_versions", self.dataset_version_id))

    @strawberry.field(description="Runs of this experiment, newest first by default.")
    async def runs(self, info: Info, first: int, after: str | None = None, filter: RunFilter | None = None,
                   order_by: RunOrder | None = None) -> Connection[Run]:
        return await run_connection(info, listing.EXPERIMENT_RUNS, self.db_id, first, after, filter, order_by)

    @strawberry.field(description="The experiment's baselines (named reference runs, e.g. `main`), by name.")
    async def baselines(self, info: Info) -> list[Baseline]:
        return await baselines_of_experiment(info, self.db_id)

    @strawberry.field(description="The experiment's cron schedules (`createSchedule`), oldest first.")
    async def schedules(self, info: Info) -> list[Schedule]:
        return await schedules_of_experiment(info, self.db_id)


@strawberry.type(description="Counters of a run as last stored (updated about twice a second while running).")
class RunProgress:
    planned: int = strawberry.field(description="Requests the run will send; 0 when bound by duration only.")
    completed: int = strawberry.field(description="Requests finished, successful or not.")
    failed: int = strawberry.field(description="Requests finished with an error (after retries).")

    @strawberry.field(description="completed / planned, or null when the total is not known in advance.")
    def fraction(self) -> float | None:
        return min(1.0, self.completed / self.planned) if self.planned else None


@strawberry.type(description="One execution of an experiment.")
class Run(Node):
    db_id: strawberry.Private[UUID]
    project_id: strawberry.Private[UUID]
    experiment_id: strawberry.Private[UUID]
    status: RunStatus
    config_snapshot: JSON = strawberry.field(description="The spec this run executed, secrets removed.")
    progress: RunProgress
    summary: JSON | None = strawberry.field(description=(
        "Computed in ClickHouse when the run ends, per load phase × model × prompt version × parameter set: "
        "counts, errors by class, p50/p90/p95/p99/p99.9, mean, std, min and max of TTFT, TTFOT, TPOT, E2E and "
        "queue delay (successful requests only), inter-event gaps, tokens, cost, throughput and goodput over "
        "the measurement window (warm-up and cool-down excluded). Null until the run finishes."))
    client_saturated: bool = strawberry.field(description=(
        "The load generator itself lagged (send lag or event-loop lag p99 above 1 ms): its latency numbers "
        "include client-side delay. See `selfMeasurement` for the figures."))
    self_measurement: JSON | None = strawberry.field(description="Send lag and event-loop lag percentiles (ms).")
    error: str | None = strawberry.field(description="Why the run failed, stopped or was interrupted.")
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    gate: RunGate | None = strawberry.field(default=None, description=(
        "The outcome of this run's quality gates as last evaluated (`gateRun`, `benchlab gate`, `benchlab run "
        "--gate`); null when it was never gated."))

    @classmethod
    def from_row(cls, row: Any) -> Run:
        return cls(id=strawberry.ID(encode_global_id("Run", row["id"])), db_id=row["id"],
                   project_id=row["project_id"], experiment_id=row["experiment_id"],
                   status=RunStatus(row["status"]), config_snapshot=row["config_snapshot"],
                   progress=RunProgress(planned=row["planned_requests"], completed=row["completed_requests"],
                                        failed=row["failed_requests"]),
                   summary=row["summary"], client_saturated=row["client_saturated"],
                   self_measurement=row["self_measurement"], error=row["error"],
                   cancel_requested=row["cancel_requested"], created_at=row["created_at"],
                   started_at=row["started_at"], finished_at=row["finished_at"],
                   gate=RunGate.of(row.get("gate_status"), row.get("gated_at"), row.get("gate_report")))

    @strawberry.field(description=(
        "While the run waits in the run queue (`QUEUED`): its 1-based place among all waiting runs, oldest first "
        "(workers take one measuring run each at a time); null once a worker took it, or when it is not queued."))
    async def queue_position(self, info: Info) -> int | None:
        if self.status is not RunStatus.QUEUED:
            return None
        async with runtime_of(info).pg.acquire() as conn:
            return (await run_queue.queue_positions(conn, [self.db_id])).get(self.db_id)

    @strawberry.field
    async def experiment(self, info: Info) -> Experiment:
        return Experiment.from_row(await loaders_of(info).row("experiments", self.experiment_id))

    @strawberry.field
    async def project(self, info: Info) -> ProjectRef:
        return node_type("Project").from_row(await loaders_of(info).row("projects", self.project_id))

    @strawberry.field(description="The names this run is its experiment's baseline under (e.g. `main`), sorted.")
    async def baseline_names(self, info: Info) -> list[str]:
        return await baseline_names_of_run(info, self.db_id)

    @strawberry.field(description=(
        "Aggregates of this run's requests in the measurement window (warm-up and cool-down excluded), per "
        "group, as columns. Percentiles are exact, as in the run's summary, unless the run has so many requests "
        "that they come from the rollup (`quantileMethod`: APPROXIMATE). Grouped by `PARAMS`, the keys hold the "
        "parameter set's hash (`params`) and, beside it, its values (`params_values`, e.g. "
        "`max_tokens=64 temperature=0.7`)."))
    async def metrics(self, info: Info, metrics: list[Metric], group_by: list[GroupBy] | None = None,
                      percentiles: list[float] | None = None,
                      exact: Annotated[bool, strawberry.argument(description=EXACT_ARGUMENT)] = False,
                      ) -> RunMetricsResult:
        from benchlab.analytics.run_metrics import run_metrics

        result = await run_metrics(runtime_of(info).clickhouse, self.project_id, [self.db_id],
                                   [g.value for g in group_by or [GroupBy.MODEL, GroupBy.PROMPT_VERSION,
                                                                  GroupBy.PARAMS]],
                                   [m.value for m in metrics], percentiles or list(DEFAULT_PERCENTILES),
                                   prefer_exact=exact)
        described = RunMetricsResult.of(result)
        hashes = next((key.values for key in described.keys if key.name == GroupBy.PARAMS.value), None)
        if hashes is not None and isinstance(self.config_snapshot, dict):
            known = {h: describe_params(p) for h, p in params_by_hash(load_spec(self.config_snapshot)).items()}
            described.keys.append(KeyValues(name="params_values", values=[known.get(h, h) for h in hashes]))
        return described

    @strawberry.field(description="This run's requests in send order, oldest first.")
    async def requests(self, info: Info, first: int, after: str | None = None,
                       filter: RequestFilterInput | None = None) -> Connection[RequestEvent]:
        from benchlab.analytics.requests import RequestFilter, count_requests, list_requests

        store = runtime_of(info).clickhouse
        conditions = RequestFilter(**{k: v for k, v in vars(filter).items() if v is not None}) if filter else None
        page = await list_requests(store, self.project_id, self.db_id, check_first(first), after, conditions)
        run_key = (self.project_id, self.db_id)
        return to_connection(Page(page.items, page.has_next_page, after is not None, _cursor_of),
                             lambda row: RequestEvent.from_row(row, run_key),
                             lambda: count_requests(store, self.project_id, self.db_id, conditions))

    @strawberry.field(description=(
        "A scoring pass of this run: the one given by `passId`, else the current one (the newest completed "
        "pass). Null before the run was scored."))
    async def scoring(self, info: Info, pass_id: str | None = None) -> ScoringPass | None:
        async with runtime_of(info).pg.acquire() as conn:
            if pass_id is None:
                found = (await scoring_passes.current_passes(conn, [self.db_id])).get(self.db_id)
            else:
                found = await scoring_passes.get_pass(conn, pass_uuid(pass_id))
        return ScoringPass.of(found) if found is not None and found.run_id == self.db_id else None

    @strawberry.field(description="Every scoring pass of this run, newest first (to compare old and new scores).")
    async def scoring_passes(self, info: Info) -> list[ScoringPass]:
        async with runtime_of(info).pg.acquire() as conn:
            return [ScoringPass.of(record) for record in await scoring_passes.passes_of_run(conn, self.db_id)]

    @strawberry.field(description="This run over time, one row per `intervalSeconds` bucket.")
    async def timeline(self, info: Info, interval_seconds: float = 1.0) -> RunTimelineResult:
        from benchlab.analytics.timeline import run_timeline

        return RunTimelineResult.of(await run_timeline(runtime_of(info).clickhouse, self.project_id, self.db_id,
                                                       interval_seconds))
