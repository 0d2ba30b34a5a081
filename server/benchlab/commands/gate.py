"""`benchlab gate RUN_ID` (and `benchlab run ... --gate`): a run's quality gates, its reports, the exit status.

Gates (the spec's `gates:`, docs/gates.md) are evaluated against a baseline (`--baseline NAME|RUN_ID`, default
the experiment's `main` baseline when it has one) in this process on the configured stores, or in a server
through `gateRun` (with `--server URL` / BENCHLAB_SERVER_URL and BENCHLAB_API_KEY, or a local `benchlab serve`
holding the data dir). The outcome is kept on the run either way (`run.gate` in the API).

Output: the Markdown table on stdout (`--json`: the whole report as JSON instead); `--junit FILE` writes JUnit
XML (one test case per gate x group), `--markdown FILE` the Markdown table (append it to $GITHUB_STEP_SUMMARY).
Exit status: 0 every gate passed (or was inconclusive where the spec allows it), 3 a gate failed, 4 the run
could not be gated (it failed, was cancelled or interrupted), 2 bad input (no gates, unknown baseline or run,
an unreachable server).
"""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from benchlab.config import Settings
from benchlab.errors import ConflictError

EXIT_PASSED = 0
EXIT_GATE_FAILED = 3
EXIT_NOT_GATED = 4

GATE_RUN = """mutation($id: ID!, $baseline: String) { gateRun(input: {runId: $id, baseline: $baseline}) {
  passed junit markdown run { gate { status report } } } }"""


@dataclass(frozen=True)
class GateOptions:
    baseline: str | None = None
    junit: Path | None = None
    markdown: Path | None = None
    as_json: bool = False
    table_to_stderr: bool = False  # `run --json --gate`: stdout holds the run's JSON only


@dataclass(frozen=True)
class GateOutput:
    passed: bool
    report: dict[str, Any]
    junit: str
    markdown: str


def publish(output: GateOutput, options: GateOptions) -> int:
    """Write the reports asked for, print the table (or the JSON), and return the exit status."""
    if options.junit is not None:
        options.junit.write_text(output.junit, encoding="utf-8")
    if options.markdown is not None:
        options.markdown.write_text(output.markdown, encoding="utf-8")
    if options.as_json:
        print(json.dumps(output.report, indent=2, default=str))
    else:
        print(output.markdown, file=sys.stderr if options.table_to_stderr else sys.stdout)
    return EXIT_PASSED if output.passed else EXIT_GATE_FAILED


def not_gated(reason: str) -> int:
    print(f"benchlab: the run cannot be gated: {reason}", file=sys.stderr)
    return EXIT_NOT_GATED


def gate_command(settings: Settings, run_id: UUID, options: GateOptions) -> int:
    from benchlab.commands.signals import raise_on_signals, restored_signal_handlers
    from benchlab.stores.local import local_stores

    with restored_signal_handlers():
        raise_on_signals()
        with local_stores(settings) as resolved:
            return gate_locally(resolved, settings.embedded_postgres, run_id, options)


def gate_locally(settings: Settings, embedded: bool, run_id: UUID, options: GateOptions) -> int:
    """Gate on the stores of `settings` (already resolved by `local_stores`)."""
    try:
        output = asyncio.run(_gate_locally(settings, embedded, run_id, options.baseline))
    except ConflictError as exc:
        return not_gated(str(exc))
    return publish(output, options)


async def _gate_locally(settings: Settings, embedded: bool, run_id: UUID, baseline: str | None) -> GateOutput:
    from benchlab.analytics.gate_reports import as_json, junit_xml, markdown
    from benchlab.engine.gating import gate_run
    from benchlab.runtime import Runtime

    runtime = await Runtime.open(settings, embedded_postgres=embedded)
    try:
        await runtime.migrate()
        outcome = await gate_run(runtime.engine_deps(), run_id, baseline)
    finally:
        await runtime.close()
    report = {**as_json(outcome.report), "baseline_label": outcome.baseline_label}
    return GateOutput(outcome.report.passed, report, junit_xml(outcome.report), markdown(outcome.report))


def remote_gate_command(url: str, credential: str, run_id: UUID, options: GateOptions) -> int:
    from benchlab.client.graphql import ServerError

    try:
        output = asyncio.run(gate_remotely(url, credential, run_id, options.baseline))
    except ServerError as exc:
        if exc.code == "CONFLICT":
            return not_gated(str(exc))
        raise
    return publish(output, options)


async def gate_remotely(url: str, credential: str, run_id: UUID, baseline: str | None) -> GateOutput:
    from benchlab.client.graphql import GraphQLClient

    async with GraphQLClient(url, credential) as client:
        data = await client.execute(GATE_RUN, {"id": str(run_id), "baseline": baseline})
    payload = data["gateRun"]
    return GateOutput(payload["passed"], payload["run"]["gate"]["report"], payload["junit"], payload["markdown"])
