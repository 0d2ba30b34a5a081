"""`benchlab run` and `benchlab eval` against a server: the same output, the run executes in the server.

Used with `--server URL` (or BENCHLAB_SERVER_URL) and an API key (BENCHLAB_API_KEY), or when a local
`benchlab serve` holds the data dir (client/target.py). Nothing local is opened: no database, no data dir.

`run`: the spec is validated here, sent (client/runs.py), started, and followed live by the `runProgress`
subscription with the local command's progress line; then the run's summary is read back and printed exactly
as a local run prints it (`--json`: the same JSON). Ctrl-C or SIGTERM once cancels the run in the server
(`cancelRun`: no new requests, those in flight finish, it ends `cancelled`); a second one stops following it:
the run goes on in the server, and the command says how to cancel it. Before the run has started, a signal
stops the command (a second one at once) and nothing is started.
Exit status as the local command: 0 completed, 1 failed, cancelled or interrupted, 2 bad input, an unreachable
server or a refused credential, 128 + N when signal N made the command stop following.

`eval`: `scoreRun`, then `run.scoring(passId)` polled until the pass ends, printed as the local command does.
A signal stops waiting (the pass goes on in the server).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from benchlab.client.graphql import GraphQLClient, ServerError
from benchlab.client.runs import (
    SpecDocument,
    cancel_run,
    follow_run,
    get_run,
    project_id_for,
    read_spec_file,
    resume_run,
    score_run,
    start_run,
    store_experiment,
    wait_for_pass,
)
from benchlab.client.target import ServerTarget
from benchlab.commands.gate import GateOptions, not_gated, remote_gate_command
from benchlab.commands.report import format_scores
from benchlab.commands.signals import StopSignals, restored_signal_handlers, say

if TYPE_CHECKING:
    from benchlab.engine.progress import ProgressMessage


def remote_run_command(target: ServerTarget, spec_path: Path | None, resume: UUID | None, as_json: bool,
                       gate: GateOptions | None = None) -> int:
    """Run in the server; with `gate`, then gate the run there (commands/gate.py exit statuses)."""
    spec = read_spec_file(spec_path) if spec_path is not None else None  # invalid specs fail before anything is sent
    stop = StopSignals()
    completed: list[UUID] = []
    with restored_signal_handlers():
        try:
            status = asyncio.run(_run(target, spec, resume, as_json, stop, completed))
        except asyncio.CancelledError:  # a second signal before the run started
            return _stopped_before_start(stop.exit_status)
    if gate is None or stop.received:
        return status
    if not completed:
        return not_gated("the run did not complete")
    return remote_gate_command(target.url, target.credential, completed[0], gate)


def _stopped_before_start(status: int) -> int:
    say("benchlab: stopped before the run started")
    return status


async def _run(target: ServerTarget, spec: SpecDocument | None, resume: UUID | None, as_json: bool,
               stop: StopSignals, completed: list[UUID]) -> int:
    main = asyncio.current_task()
    assert main is not None
    stop.install(lambda: say("stopping before the run starts (Ctrl-C again to stop at once)"), main.cancel)
    try:
        async with GraphQLClient(target.url, target.credential) as client:
            return await _submit_and_follow(client, target, spec, resume, as_json, stop, completed)
    finally:
        stop.uninstall()


async def _submit_and_follow(client: GraphQLClient, target: ServerTarget, spec: SpecDocument | None,
                             resume: UUID | None, as_json: bool, stop: StopSignals, completed: list[UUID]) -> int:
    from benchlab.commands.run import ProgressLine, print_run_report

    if resume is not None:
        run = await resume_run(client, resume)
    elif spec is not None:
        project_id = await project_id_for(client, spec.project)
        experiment_id = await store_experiment(client, project_id, spec)
        if stop.received:
            return _stopped_before_start(stop.exit_status)
        run = await start_run(client, experiment_id)
    else:
        raise ServerError("give a spec file to run, or --resume RUN_ID")
    if stop.received:  # signalled while the run was being started: do not leave it running unattended
        await _cancel_quietly(client, run.id)
        return _stopped_before_start(stop.exit_status)
    where = (f" in the benchlab serve holding the data dir ({target.url})" if target.local is not None
             else f" on {target.url}")
    print(f"run {run.id} started{where}", file=sys.stderr)
    progress = ProgressLine(sys.stderr)
    following = asyncio.ensure_future(_follow(client, run.id, progress))
    cancelling: list[asyncio.Future[None]] = []

    def cancel_gracefully() -> None:
        say("cancelling in the server: no new requests, those in flight finish (Ctrl-C again to stop following; "
            "the run goes on in the server)")
        cancelling.append(asyncio.ensure_future(_cancel_quietly(client, run.id)))

    def stop_following() -> None:
        following.cancel()

    stop.escalate_with(cancel_gracefully, stop_following)
    try:
        await following
    except asyncio.CancelledError:
        progress.close()
        if cancelling:  # two quick signals: let the cancellation reach the server before this command ends
            await asyncio.wait(cancelling, timeout=10)
        cancelled = " (cancelling: requests in flight finish)" if cancelling else ""
        say(f"stopped following run {run.id}; it goes on in the server at {target.url}{cancelled}. Follow or cancel "
            f"it in the API: run(id: \"{run.id}\") {{ status }}, cancelRun(id: \"{run.id}\")")
        return stop.exit_status
    progress.close()
    if cancelling:
        await asyncio.gather(*cancelling)
    final = await get_run(client, run.id)
    print_run_report(final, as_json)
    if final.status == "interrupted":
        print(f"resume it with: benchlab run --resume {final.id}{target.server_flag}", file=sys.stderr)
        return stop.exit_status if stop.received else 1
    if final.status == "completed":
        completed.append(final.id)
    return 0 if final.status == "completed" else 1


async def _follow(client: GraphQLClient, run_id: UUID, progress: Any) -> None:
    async for message in follow_run(client, run_id):
        progress(cast("ProgressMessage", message))


async def _cancel_quietly(client: GraphQLClient, run_id: UUID) -> None:
    """Cancel the run; one that ended meanwhile (CONFLICT) needs nothing, other failures are said, not raised."""
    try:
        await cancel_run(client, run_id)
    except ServerError as exc:
        if exc.code != "CONFLICT":
            say(f"could not cancel run {run_id}: {exc}")


def remote_eval_command(target: ServerTarget, run_id: UUID, evaluators_path: Path | None, as_json: bool) -> int:
    from benchlab.commands.evaluate import read_evaluators

    evaluators = read_evaluators(evaluators_path) if evaluators_path is not None else None
    stop = StopSignals()
    with restored_signal_handlers():
        try:
            return asyncio.run(_eval(target, run_id, evaluators, as_json, stop))
        except asyncio.CancelledError:
            say("benchlab: stopped waiting; the scoring pass goes on in the server")
            return stop.exit_status


async def _eval(target: ServerTarget, run_id: UUID, evaluators: dict[str, object] | None, as_json: bool,
                stop: StopSignals) -> int:
    main = asyncio.current_task()
    assert main is not None
    stop.install(main.cancel)
    try:
        async with GraphQLClient(target.url, target.credential) as client:
            pass_id = await score_run(client, run_id, evaluators)
            print(f"scoring run {run_id} (pass {pass_id})", file=sys.stderr)

            async def progress(scored: int, total: int) -> None:
                print(f"scored {scored}/{total}", file=sys.stderr)

            finished = await wait_for_pass(client, run_id, pass_id, progress)
    finally:
        stop.uninstall()
    summary = {"pass_id": finished["id"], "status": finished["status"], "error": finished["error"],
               **(finished.get("summary") or {})}
    if as_json:
        print(json.dumps({"runId": str(run_id), "passId": finished["id"], "status": finished["status"],
                          "scoredRequests": finished["scoredRequests"], "scores": summary}, indent=2, default=str))
    else:
        print(format_scores(summary))
    return 0 if finished["status"] == "completed" else 1
