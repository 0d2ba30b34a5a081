"""productionTraffic: what an application's live traffic did over a time range (docs/production.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

import strawberry
from strawberry.types import Info

from benchlab.api.context import runtime_of
from benchlab.api.node_lookup import load_required
from benchlab.api.permissions import project_role
from benchlab.api.types.catalog import Project
from benchlab.api.types.production import ProductionTrafficResult
from benchlab.auth.roles import Role

DEFAULT_RANGE = timedelta(hours=24)


@strawberry.type
class ProductionQueries:
    @strawberry.field(permission_classes=[project_role(Role.VIEWER, "project_id", "Project")], description=(
        "The project's production traffic (requests its applications sent, ingested with its API keys) sent in "
        "[from, to) (default: the last 24 hours): per provider and model requests, errors, TTFT/E2E/TPOT "
        "percentiles (default p50, p95, p99; exact), tokens and cost; the sampled scores' pass rate per "
        "evaluator; and the requests themselves, newest first. Experiment runs never count here."))
    async def production_traffic(self, info: Info, project_id: strawberry.ID,
                                 from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
                                 to: datetime | None = None, models: list[str] | None = None,
                                 percentiles: list[float] | None = None) -> ProductionTrafficResult:
        from benchlab.analytics.production import DEFAULT_PERCENTILES, production_traffic

        project: Project = await load_required(info, project_id, Project, "projectId")
        end = to or datetime.now(UTC)
        start = from_ or end - DEFAULT_RANGE
        traffic = await production_traffic(runtime_of(info).clickhouse, project.db_id, start, end, models,
                                           percentiles or list(DEFAULT_PERCENTILES))
        return ProductionTrafficResult.of(traffic, project.db_id, models)
