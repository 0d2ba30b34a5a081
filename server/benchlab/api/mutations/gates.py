"""gateRun: evaluate a completed run's quality gates against a baseline (engine/gating.py), keep the outcome."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from benchlab.analytics.gate_reports import junit_xml, markdown
from benchlab.api.auditing import audit
from benchlab.api.context import runtime_of
from benchlab.api.node_lookup import load_required, reload
from benchlab.api.permissions import project_role
from benchlab.api.types.runs import Run
from benchlab.auth.roles import Role
from benchlab.engine.gating import gate_run


@strawberry.input
class GateRunInput:
    run_id: strawberry.ID
    baseline: str | None = strawberry.field(default=None, description=(
        "A baseline name of the run's experiment (`setBaseline`) or a run id; default: the `main` baseline when "
        "there is one, else regression limits are inconclusive."))


@strawberry.type
class GateRunPayload:
    run: Run = strawberry.field(description="The run, with `gate` holding the outcome.")
    passed: bool = strawberry.field(description="No blocking result: what a CI job's exit status follows.")
    junit: str = strawberry.field(description="The report as JUnit XML (one test case per gate × group).")
    markdown: str = strawberry.field(description="The report as a Markdown table (PR comments, step summaries).")


@strawberry.type
class GateMutations:
    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.run_id", "Run")],
                         description="Evaluate a completed run's quality gates (its spec's `gates:`) against a "
                                     "baseline and keep the outcome on the run (`run.gate`).")
    async def gate_run(self, info: Info, input: GateRunInput) -> GateRunPayload:
        run: Run = await load_required(info, input.run_id, Run, "runId")
        outcome = await gate_run(runtime_of(info).engine_deps(), run.db_id, input.baseline)
        await audit(info, "run.gate", str(run.db_id), run.project_id, passed=outcome.report.passed,
                    baseline=outcome.baseline_label)
        return GateRunPayload(run=await reload(info, Run, run.db_id), passed=outcome.report.passed,
                              junit=junit_xml(outcome.report), markdown=markdown(outcome.report))
