"""Gate a run: evaluate its experiment's quality gates against a baseline and keep the outcome on the run.

`benchlab gate`, `benchlab run --gate` and the `gateRun` mutation all come here. The baseline is a name the
experiment gave a run (`setBaseline`) or a run id; without one, the experiment's `main` baseline is used when
it has one, else regression limits are inconclusive (absolute limits still apply). Only completed runs are
gated: a failed, cancelled or interrupted run has no figures worth a verdict (a ConflictError says so, which
the CLI reports with its own exit status). Score gates read each run's current scoring pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from benchlab.analytics.gate_reports import as_json
from benchlab.analytics.gates import GateReport, evaluate_gates
from benchlab.engine.deps import EngineDeps
from benchlab.errors import ConflictError, InvalidInputError, NotFoundError
from benchlab.spec import load_spec
from benchlab.stores import baselines, scoring_passes
from benchlab.stores.postgres import PgConnection
from benchlab.stores.runs import RunRecord, RunState, get_run, record_gate

DEFAULT_BASELINE = "main"


@dataclass(frozen=True)
class GateOutcome:
    run: RunRecord
    report: GateReport
    baseline_label: str | None  # the name or run id the baseline was found by; None without one


async def gate_run(deps: EngineDeps, run_id: UUID, baseline: str | None = None) -> GateOutcome:
    async with deps.pg.acquire() as conn:
        run = await get_run(conn, run_id)
        if run is None:
            raise NotFoundError(f"run {run_id} does not exist")
        if run.status is not RunState.COMPLETED:
            raise ConflictError(f"run {run_id} is {run.status}; only completed runs are gated"
                                + (f" ({run.error})" if run.error else ""), status=run.status.upper())
        spec = load_spec(run.config_snapshot)
        if not spec.gates:
            raise InvalidInputError(f"run {run_id}: its experiment has no gates; add a `gates:` list to the spec "
                                    "(docs/gates.md)")
        baseline_id, label = await _baseline(conn, run, baseline)
        passes = await scoring_passes.current_passes(conn, [run.id, *([baseline_id] if baseline_id else [])])
    report = await evaluate_gates(
        deps.clickhouse, run.project_id, run.id, passes[run.id].id if run.id in passes else None,
        (baseline_id, passes[baseline_id].id if baseline_id in passes else None) if baseline_id else None,
        spec.gates)
    async with deps.pg.acquire() as conn:
        await record_gate(conn, run.id, report.passed, {**as_json(report), "baseline_label": label})
    return GateOutcome(run, report, label)


async def _baseline(conn: PgConnection, run: RunRecord, wanted: str | None) -> tuple[UUID | None, str | None]:
    name = wanted or DEFAULT_BASELINE
    found = await baselines.resolve_baseline(conn, run.experiment_id, name)
    if found is None:
        if wanted is None:
            return None, None  # no `main` baseline yet: regression limits are inconclusive
        names = [b.name for b in await baselines.list_baselines(conn, run.experiment_id)]
        raise NotFoundError(f"baseline {wanted!r}: no such baseline name or run of this experiment"
                            + (f" (baselines: {', '.join(names)})" if names else
                               "; set one with setBaseline (or give a run id)"))
    if found == run.id:
        raise InvalidInputError(f"baseline {name!r} is the run being gated; gate a later run against it")
    return found, name
