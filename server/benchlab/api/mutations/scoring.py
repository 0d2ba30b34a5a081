"""scoreRun: score a finished run again from its stored responses (engine/rescoring.py).

Nothing is sent to the models under test. The pass runs in this server process in the background; it is
returned `queued` and its progress is on `run.scoring(passId)`. Evaluators given here replace the spec's;
giving `providers` (for judges the spec does not reach) needs the admin role, like creating providers does.
"""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from benchlab.api.auditing import audit
from benchlab.api.context import identity_of, runtime_of
from benchlab.api.mutations.experiments import spec_document
from benchlab.api.node_lookup import load_required, reload
from benchlab.api.permissions import project_role, role_in
from benchlab.api.types.runs import Run
from benchlab.api.types.scoring import ScoringPass
from benchlab.auth.roles import Role
from benchlab.engine.rescoring import prepare_rescoring
from benchlab.errors import ForbiddenError
from benchlab.stores import scoring_passes
from benchlab.stores.scoring_passes import PassTrigger


@strawberry.input(description=(
    "The run to score, and optionally the evaluators to score it with (JSON `evaluators` or YAML "
    "`evaluatorsYaml`: a mapping with `evaluators`, and optionally `judges`, `evaluation`, `providers`). "
    "Without them the run is scored with its own spec's evaluators."))
class ScoreRunInput:
    run_id: strawberry.ID
    evaluators: JSON | None = None
    evaluators_yaml: str | None = None


@strawberry.type
class ScoreRunPayload:
    run: Run
    scoring_pass: ScoringPass = strawberry.field(description="The new pass (`queued`); poll `run.scoring(passId)`.")


@strawberry.type
class ScoringMutations:
    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.run_id", "Run")],
                         description="Score an ended run again from its stored responses, with its own or new "
                                     "evaluators; nothing is sent to the models under test. Each pass keeps its "
                                     "own scores, so old and new can be compared.")
    async def score_run(self, info: Info, input: ScoreRunInput) -> ScoreRunPayload:
        run: Run = await load_required(info, input.run_id, Run, "runId")
        document = None
        if input.evaluators is not None or input.evaluators_yaml is not None:
            document = spec_document(input.evaluators, input.evaluators_yaml)
        if document and document.get("providers"):
            role = await role_in(info, run.project_id)
            if role is None or not role.allows(Role.ADMIN):
                raise ForbiddenError("evaluators with `providers` need the admin role in the project (they add "
                                     "endpoints the server calls); use the spec's providers instead")
        runtime = runtime_of(info)
        record, spec, pass_id = await prepare_rescoring(runtime.engine_deps(), run.db_id, document,
                                                        PassTrigger.API, identity_of(info).actor)
        runtime.runs.score(record, spec, pass_id)
        await audit(info, "run.score", str(run.db_id), run.project_id, scoring_pass=str(pass_id))
        async with runtime.pg.acquire() as conn:
            created = await scoring_passes.get_pass(conn, pass_id)
        assert created is not None
        return ScoreRunPayload(run=await reload(info, Run, run.db_id), scoring_pass=ScoringPass.of(created))
