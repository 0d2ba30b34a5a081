"""Baseline mutations: make a completed run its experiment's baseline under a name (replacing the run the name
held), or remove a name. Members may, like starting runs; both are audited. The rules are in stores/baselines.py.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from benchlab.api.auditing import audit
from benchlab.api.context import identity_of, runtime_of
from benchlab.api.ids import expect_id
from benchlab.api.node_lookup import load_required, reload
from benchlab.api.permissions import project_role
from benchlab.api.types.baselines import Baseline
from benchlab.api.types.runs import Experiment, Run
from benchlab.auth.roles import Role
from benchlab.stores import baselines as baseline_store


@strawberry.input
class SetBaselineInput:
    run_id: strawberry.ID = strawberry.field(description="A completed run.")
    name: str = strawberry.field(description="E.g. `main`: 1 to 100 letters, digits, `.`, `_`, `/` or `-`, starting "
                                             "with a letter or digit.")
    experiment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Optional: the experiment the run must belong to (a check; the run decides).")


@strawberry.input
class RemoveBaselineInput:
    experiment_id: strawberry.ID
    name: str


@strawberry.type
class SetBaselinePayload:
    baseline: Baseline
    replaced_run: Run | None = strawberry.field(description="The run the name held before, if it held another one.")


@strawberry.type
class RemoveBaselinePayload:
    experiment: Experiment
    removed_run: Run = strawberry.field(description="The run the name held.")


@strawberry.type
class BaselineMutations:
    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.run_id", "Run")],
                         description="Make a completed run its experiment's baseline under `name` (e.g. `main`), "
                                     "replacing the run the name held. Setting the run a name already holds "
                                     "changes nothing. A run that has not completed, or of another experiment "
                                     "than `experimentId`, is a CONFLICT.")
    async def set_baseline(self, info: Info, input: SetBaselineInput) -> SetBaselinePayload:
        run: Run = await load_required(info, input.run_id, Run, "runId")
        experiment_id = None if input.experiment_id is None else expect_id(input.experiment_id, "Experiment",
                                                                            "experimentId")
        async with runtime_of(info).pg.acquire() as conn:
            change = await baseline_store.set_baseline(conn, run.db_id, input.name, identity_of(info).actor,
                                                       experiment_id)
        experiment: Experiment = await reload(info, Experiment, run.experiment_id)
        await audit(info, "baseline.set", f"{experiment.name}/{input.name}", run.project_id,
                    experiment=experiment.name, experiment_id=str(run.experiment_id), name=input.name,
                    run=str(run.db_id), replaced_run=change.replaced_run_id and str(change.replaced_run_id))
        replaced = None if change.replaced_run_id is None else await reload(info, Run, change.replaced_run_id)
        return SetBaselinePayload(baseline=Baseline.of(change.baseline), replaced_run=replaced)

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.experiment_id", "Experiment")],
                         description="Remove the experiment's baseline `name` (the run stays). NOT_FOUND when the "
                                     "experiment has no baseline of that name.")
    async def remove_baseline(self, info: Info, input: RemoveBaselineInput) -> RemoveBaselinePayload:
        experiment: Experiment = await load_required(info, input.experiment_id, Experiment, "experimentId")
        async with runtime_of(info).pg.acquire() as conn:
            removed = await baseline_store.remove_baseline(conn, experiment.db_id, input.name)
        await audit(info, "baseline.remove", f"{experiment.name}/{input.name}", experiment.project_id,
                    experiment=experiment.name, experiment_id=str(experiment.db_id), name=input.name,
                    run=str(removed.run_id))
        return RemoveBaselinePayload(experiment=await reload(info, Experiment, experiment.db_id),
                                     removed_run=await reload(info, Run, removed.run_id))
