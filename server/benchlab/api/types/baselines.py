"""Baselines as GraphQL types: an experiment's named reference runs (stores/baselines.py), batched per request.

`Experiment.baselines` and `Run.baselineNames` read through request-scoped loaders, so a list of experiments or
runs costs one statement for all of their baselines.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import strawberry
from strawberry.types import Info

from benchlab.api.context import loaders_of
from benchlab.api.types.node import node_type
from benchlab.stores import baselines as baseline_store
from benchlab.stores.baselines import BaselineRecord

if TYPE_CHECKING:
    from benchlab.api.types.runs import Experiment, Run

RunRef = Annotated["Run", strawberry.lazy("benchlab.api.types.runs")]
ExperimentRef = Annotated["Experiment", strawberry.lazy("benchlab.api.types.runs")]


@strawberry.type(description=(
    "A named reference run of an experiment (e.g. `main`): later runs are compared with it. One run per name; "
    "only completed runs of the experiment qualify."))
class Baseline:
    experiment_id: strawberry.Private[UUID]
    run_id: strawberry.Private[UUID]
    name: str = strawberry.field(description="E.g. `main`; unique within the experiment.")
    set_by: str = strawberry.field(description="Who set it, as the audit log names them (an email, "
                                               "`api-key:<id>`, `cli:<user>`).")
    set_at: datetime = strawberry.field(description="When the name was last given its current run.")

    @classmethod
    def of(cls, record: BaselineRecord) -> Baseline:
        return cls(experiment_id=record.experiment_id, run_id=record.run_id, name=record.name,
                   set_by=record.set_by, set_at=record.set_at)

    @strawberry.field(description="The baseline run.")
    async def run(self, info: Info) -> RunRef:
        return node_type("Run").from_row(await loaders_of(info).row("runs", self.run_id))

    @strawberry.field
    async def experiment(self, info: Info) -> ExperimentRef:
        return node_type("Experiment").from_row(await loaders_of(info).row("experiments", self.experiment_id))


async def baselines_of_experiment(info: Info, experiment_id: UUID) -> list[Baseline]:
    loaders = loaders_of(info)

    async def load(ids: list[UUID]) -> list[list[BaselineRecord]]:
        found = await baseline_store.baselines_of_experiments(loaders.db, ids)
        return [found.get(i, []) for i in ids]

    return [Baseline.of(record) for record in await loaders.keyed("experiment_baselines", load).load(experiment_id)]


async def baseline_names_of_run(info: Info, run_id: UUID) -> list[str]:
    loaders = loaders_of(info)

    async def load(ids: list[UUID]) -> list[list[str]]:
        found = await baseline_store.names_of_runs(loaders.db, ids)
        return [found.get(i, []) for i in ids]

    return await loaders.keyed("run_baseline_names", load).load(run_id)
