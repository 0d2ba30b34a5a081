"""Run lists: the statuses, filters and orderings every list of runs takes, and the list itself (a project's
runs, an experiment's runs)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING
from uuid import UUID

import strawberry
from strawberry.types import Info

from benchlab.api import lists
from benchlab.api.ids import expect_id
from benchlab.api.pagination import Connection
from benchlab.api.types.node import node_type
from benchlab.stores import listing
from benchlab.stores.listing import Filter, ListSpec
from benchlab.stores.runs import RunState

if TYPE_CHECKING:
    from benchlab.api.types.runs import Run

# The GraphQL face of stores' RunState: strawberry.enum registers the class itself, so this is the same class.
RunStatus = RunState
strawberry.enum(RunStatus, name="RunStatus", description=(
    "Where a run is in its life: PENDING → QUEUED → RUNNING → COMPLETED | FAILED | CANCELLED | INTERRUPTED; an "
    "INTERRUPTED run can be resumed (QUEUED again)."))


@strawberry.input(description="Narrow a run list; all conditions must hold.")
class RunFilter:
    status: list[RunStatus] | None = strawberry.field(default=None, description="Any of these statuses.")
    experiment_id: strawberry.ID | None = strawberry.field(default=None, description="Runs of this experiment.")
    created_after: datetime | None = strawberry.field(default=None, description="Created at or after (UTC).")
    created_before: datetime | None = strawberry.field(default=None, description="Created before (UTC).")


@strawberry.enum
class RunOrderField(Enum):
    CREATED_AT = "created_at"
    FINISHED_AT = "finished_at"


@strawberry.enum
class OrderDirection(Enum):
    ASC = "asc"
    DESC = "desc"


@strawberry.input(description="Sort a run list. Ordering by FINISHED_AT lists finished runs only.")
class RunOrder:
    field: RunOrderField = RunOrderField.CREATED_AT
    direction: OrderDirection = OrderDirection.DESC


def run_filters(run_filter: RunFilter | None, order: RunOrder | None) -> tuple[Filter, ...]:
    """The stores' run-list conditions for a GraphQL filter and order."""
    wanted = run_filter or RunFilter()
    return listing.run_filters(
        statuses=[status.value for status in wanted.status or ()],
        experiment_id=None if wanted.experiment_id is None else expect_id(wanted.experiment_id, "Experiment",
                                                                          "filter.experimentId"),
        created_after=wanted.created_after, created_before=wanted.created_before,
        finished_only=order is not None and order.field is RunOrderField.FINISHED_AT)


async def run_connection(info: Info, spec: ListSpec, parent_id: UUID, first: int, after: str | None,
                         run_filter: RunFilter | None, order: RunOrder | None) -> Connection[Run]:
    order = order or RunOrder()
    return await lists.connection(info, spec, parent_id, first, after, node_type("Run").from_row,
                                  run_filters(run_filter, order),
                                  order.field.value, order.direction is OrderDirection.DESC)
