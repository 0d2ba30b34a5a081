"""`benchlab eval RUN_ID [--evaluators FILE]`: score a run again from its stored responses, print the scores.

Nothing is sent to the models under test. Runs on the embedded stores (or the configured ones), like
`benchlab run`. Ctrl-C or SIGTERM stops the pass (it ends `failed`; the run's current scores stay those of
its last completed pass). Exit status: 0 scored, 1 the pass failed, 2 bad input, 128 + N stopped by signal N.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from uuid import UUID

from benchlab.commands.report import format_scores
from benchlab.commands.signals import ShutdownRequested, raise_on_signals, restored_signal_handlers, say
from benchlab.config import Settings
from benchlab.runtime import Runtime
from benchlab.spec import SpecError
from benchlab.spec.load import read_yaml_file
from benchlab.stores.local import local_stores
from benchlab.stores.scoring_passes import PassState, PassTrigger, ScoringPass


def read_evaluators(path: Path) -> dict[str, object]:
    """An evaluators file: YAML (or JSON) with `evaluators`, and optionally `judges`, `evaluation`, `providers`."""
    document = read_yaml_file(path)
    if not isinstance(document, dict):
        raise SpecError([f"{path}: must be a mapping with an `evaluators:` list"])
    return document


def eval_command(settings: Settings, run_id: UUID, evaluators_path: Path | None, as_json: bool) -> int:
    evaluators = read_evaluators(evaluators_path) if evaluators_path is not None else None
    with restored_signal_handlers():
        raise_on_signals()
        try:
            with local_stores(settings) as resolved:
                finished = asyncio.run(_score(resolved, settings.embedded_postgres, run_id, evaluators))
        except ShutdownRequested as exc:
            say("benchlab: scoring stopped; the run keeps the scores of its last completed pass")
            return exc.exit_status
    summary = {"pass_id": str(finished.id), "status": finished.status.value, "error": finished.error,
               **(finished.summary or {})}
    if as_json:
        print(json.dumps({"runId": str(run_id), "passId": str(finished.id), "status": finished.status.value,
                          "scoredRequests": finished.counters.scored_requests, "scores": summary}, indent=2,
                         default=str))
    else:
        print(format_scores(summary))
    return 0 if finished.status is PassState.COMPLETED else 1


async def _score(settings: Settings, embedded: bool, run_id: UUID, evaluators: dict[str, object] | None,
                 ) -> ScoringPass:
    from benchlab.engine.rescoring import prepare_rescoring
    from benchlab.engine.scoring_pass import ScoringPass as Scorer

    runtime = await Runtime.open(settings, embedded_postgres=embedded)
    try:
        await runtime.migrate()
        deps = runtime.engine_deps()
        run, spec, pass_id = await prepare_rescoring(deps, run_id, evaluators, PassTrigger.CLI, "cli")
        print(f"scoring run {run_id} (pass {pass_id})", file=sys.stderr)

        async def progress(scored: int, total: int) -> None:
            print(f"scored {scored}/{total}", file=sys.stderr)

        try:
            return await Scorer(deps, run, spec, pass_id, on_progress=progress).execute()
        except Exception:
            async with deps.pg.acquire() as conn:
                from benchlab.stores.scoring_passes import get_pass

                failed = await get_pass(conn, pass_id)
            if failed is None:
                raise
            return failed
    finally:
        await runtime.close()
