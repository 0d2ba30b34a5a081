"""Run mutations: start, cancel, resume, through the engine's one run service (engine/runs.py).

The database decides every transition, so two clients racing to cancel or resume cannot both win; a request
that makes no sense for the run's state is a CONFLICT that names the state, except cancelling a cancelled run,
which succeeds without doing anything.
"""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from benchlab.api.auditing import audit
from benchlab.api.context import runtime_of
from benchlab.api.node_lookup import load_required, reload
from benchlab.api.permissions import project_role
from benchlab.api.types.runs import Experiment, Run
from benchlab.auth.roles import Role
from benchlab.engine.runs import cancel_run, resume_run, start_experiment_run
from benchlab.errors import ConflictError
from benchlab.spec import load_spec


@strawberry.input
class StartRunInput:
    experiment_id: strawberry.ID = strawberry.field(description="The experiment to run (its stored spec).")


@strawberry.type
class StartRunPayload:
    run: Run = strawberry.field(description="The new run, `QUEUED` or already `RUNNING`.")


@strawberry.type
class CancelRunPayload:
    run: Run


@strawberry.type
class ResumeRunPayload:
    run: Run


@strawberry.type
class RunMutations:
    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.experiment_id", "Experiment")],
                         description="Queue a run of an experiment; a worker executes it (one measuring run per "
                                     "worker at a time). While it waits, `run(id).queuePosition` says where it is. "
                                     "Progress arrives on the `runProgress` subscription; results on `run(id)`.")
    async def start_run(self, info: Info, input: StartRunInput) -> StartRunPayload:
        experiment: Experiment = await load_required(info, input.experiment_id, Experiment, "experimentId")
        if experiment.archived_at is not None:
            raise ConflictError("experimentId: the experiment is archived; start another experiment")
        if not isinstance(experiment.spec, dict):  # stored by the parser that admitted it: always a mapping
            raise TypeError(f"experiment {experiment.db_id}: the stored spec is not a JSON object")
        spec = load_spec(experiment.spec)
        runtime = runtime_of(info)
        run_id = await start_experiment_run(runtime.engine_deps(), experiment.project_id, experiment.db_id, spec)
        await audit(info, "run.start", str(run_id), experiment.project_id, experiment=experiment.name)
        return StartRunPayload(run=await reload(info, Run, run_id))

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "id", "Run")],
                         description="Stop a run: no new requests are sent, requests in flight finish or time "
                                     "out, and the run ends `CANCELLED`. Cancelling a cancelled run does nothing; "
                                     "cancelling a completed or failed run is a CONFLICT.")
    async def cancel_run(self, info: Info, id: strawberry.ID) -> CancelRunPayload:
        run: Run = await load_required(info, id, Run)
        runtime = runtime_of(info)
        await cancel_run(runtime.engine_deps(), run.db_id)
        runtime.runs.cancel(run.db_id)  # at once when a worker of this process executes it
        return CancelRunPayload(run=await reload(info, Run, run.db_id))

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "id", "Run")],
                         description="Queue an `INTERRUPTED` run again (its process stopped): the worker that "
                                     "takes it skips requests already recorded and sends the rest.")
    async def resume_run(self, info: Info, id: strawberry.ID) -> ResumeRunPayload:
        run: Run = await load_required(info, id, Run)
        runtime = runtime_of(info)
        await resume_run(runtime.engine_deps(), run.db_id)
        return ResumeRunPayload(run=await reload(info, Run, run.db_id))
