"""Re-scoring a run from its stored responses: `benchlab eval RUN_ID [--evaluators FILE]` and `scoreRun`.

Nothing is sent to the models under test: the pass reads the run's recorded responses. With no evaluators
given, the run is scored with its own spec's (e.g. after a judge outage). Given evaluators (a YAML/JSON
document with `evaluators`, and optionally `judges`, `evaluation` and extra `providers` for the judges) replace
the spec's; items keep their own `assert` and `labels`. The merged spec is validated like any spec, every
problem listed, before the pass is created.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from benchlab.engine.deps import EngineDeps
from benchlab.engine.scoring_pass import create_pass, has_evaluators
from benchlab.errors import ConflictError, InvalidInputError, NotFoundError
from benchlab.spec import ExperimentSpec, SpecError, load_spec
from benchlab.stores.runs import ENDED_STATES, RunRecord, get_run
from benchlab.stores.scoring_passes import PassTrigger

EVALUATOR_KEYS = ("evaluators", "judges", "evaluation", "providers")


def scoring_spec(run: RunRecord, evaluators: Mapping[str, Any] | None) -> ExperimentSpec:
    """The spec a pass over `run` scores with: the run's snapshot, its evaluators replaced by `evaluators`."""
    document = dict(run.config_snapshot)
    if evaluators is not None:
        unknown = sorted(set(evaluators) - set(EVALUATOR_KEYS))
        if unknown:
            raise SpecError([f"evaluators file: unknown key {key!r}: give {', '.join(EVALUATOR_KEYS)}"
                             for key in unknown])
        for key in ("evaluators", "judges", "evaluation"):
            document.pop(key, None)
            if key in evaluators:
                document[key] = evaluators[key]
        extra = evaluators.get("providers") or []
        if not isinstance(extra, list):
            raise SpecError(["evaluators file: providers: must be a list"])
        known = {provider.get("name") for provider in document.get("providers", []) if isinstance(provider, dict)}
        document["providers"] = [*document.get("providers", []),
                                 *(p for p in extra if not (isinstance(p, dict) and p.get("name") in known))]
    spec = load_spec(document)
    if not has_evaluators(spec):
        raise InvalidInputError("the run's experiment has no evaluators: give some (an evaluators file with an "
                                "`evaluators:` list)")
    return spec


async def prepare_rescoring(deps: EngineDeps, run_id: UUID, evaluators: Mapping[str, Any] | None,
                            trigger: PassTrigger, created_by: str | None) -> tuple[RunRecord, ExperimentSpec, UUID]:
    """Check the run can be scored, build the spec, create the pass (queued)."""
    async with deps.pg.acquire() as conn:
        run = await get_run(conn, run_id)
    if run is None:
        raise NotFoundError(f"run {run_id} does not exist")
    if run.status not in ENDED_STATES:
        raise ConflictError(f"run {run_id} is {run.status}; score it once it has ended", status=run.status.upper())
    spec = scoring_spec(run, evaluators)
    return run, spec, await create_pass(deps, run, spec, trigger, created_by)
