"""`benchlab run spec.yaml`: run an experiment in this process, with a live progress line and a summary.

With `--server URL`, or while a `benchlab serve` holds the data dir, the run is submitted to that server instead
(commands/remote.py); what follows is the run in this process.
Runs on the embedded stores (or the configured ones). Ctrl-C or SIGTERM once cancels gracefully (in-flight
requests finish, the run ends `cancelled`); a second one stops at once (requests in flight are dropped, rows
already received are written or spooled to disk, the run is left `interrupted`, resumable with
`--resume RUN_ID`); later ones only say that it is stopping. Embedded PostgreSQL is stopped in every case.
Exit status: 0 completed, 1 failed or cancelled, 2 bad input or an unusable store, 128 + N when signal N
stopped the run before it finished (130 for Ctrl-C, 143 for SIGTERM).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO
from uuid import UUID

from benchlab.commands.gate import GateOptions, gate_locally, not_gated
from benchlab.commands.report import format_scores, params_text, table
from benchlab.commands.signals import (
    ShutdownRequested,
    StopSignals,
    announce_signals,
    raise_on_signals,
    restored_signal_handlers,
    say,
    signals_held,
)
from benchlab.config import Settings
from benchlab.errors import BenchlabError
from benchlab.runtime import Runtime
from benchlab.spec import ExperimentSpec, load_spec
from benchlab.stores.local import local_stores
from benchlab.stores.runs import RunState, transition

if TYPE_CHECKING:  # the engine is imported once a run starts (see _open_and_run)
    from benchlab.engine.progress import ProgressMessage

_BAR_WIDTH = 24


class ProgressLine:
    """A one-line progress bar on a terminal; a plain line every few seconds otherwise (CI logs)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self._last_plain = 0.0

    def __call__(self, message: ProgressMessage) -> None:
        done, total = message["done"], message["total"]
        if total:
            filled = min(_BAR_WIDTH, int(_BAR_WIDTH * done / total))
            bar = f"[{'#' * filled}{'.' * (_BAR_WIDTH - filled)}] {done}/{total}"
        else:
            bar = f"{done} done"
        line = (f"{bar}  {message['requestsPerSecond']:.1f} req/s  TTFT p50 {message['ttftP50Ms']:.1f} ms "
                f"p99 {message['ttftP99Ms']:.1f} ms  errors {message['failed']}")
        if self.tty:
            self.stream.write("\r" + line.ljust(100))
            self.stream.flush()
        elif time.monotonic() - self._last_plain >= 2 or message["status"] != RunState.RUNNING:
            self._last_plain = time.monotonic()
            self.stream.write(line + "\n")

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


def run_command(settings: Settings, spec_path: Path | None, resume: UUID | None, as_json: bool,
                gate: GateOptions | None = None) -> int:
    """Run the spec (or resume a run) here; with `gate`, then gate the run (commands/gate.py exit statuses)."""
    spec = load_spec(spec_path) if spec_path is not None else None  # invalid specs fail before anything starts
    stop = StopSignals()
    with restored_signal_handlers():
        raise_on_signals()  # while embedded PostgreSQL starts
        try:
            with local_stores(settings, starting=lambda: signals_held("PostgreSQL has started")) as resolved:
                completed: list[UUID] = []  # the run, once it completed
                try:
                    status = asyncio.run(_run(resolved, settings.embedded_postgres, spec, resume, as_json, stop,
                                              completed))
                    if gate is None or stop.received:
                        return status
                    if not completed:
                        return not_gated("the run did not complete")
                    return gate_locally(resolved, settings.embedded_postgres, completed[0], gate)
                except asyncio.CancelledError:  # a second signal before the run started
                    return _stopped_before_start(stop.exit_status)
                finally:
                    announce_signals()  # while embedded PostgreSQL stops
        except ShutdownRequested as exc:
            return _stopped_before_start(exc.exit_status)


def _stopped_before_start(status: int) -> int:
    say("benchlab: stopped before the run started")
    return status


async def _run(settings: Settings, embedded: bool, spec: ExperimentSpec | None, resume: UUID | None, as_json: bool,
               stop: StopSignals, completed: list[UUID]) -> int:
    main = asyncio.current_task()
    assert main is not None
    stop.install(lambda: say("stopping before the run starts (Ctrl-C again to stop at once)"), main.cancel)
    try:
        return await _open_and_run(settings, embedded, spec, resume, as_json, stop, completed)
    finally:
        stop.uninstall()


async def _open_and_run(settings: Settings, embedded: bool, spec: ExperimentSpec | None, resume: UUID | None,
                        as_json: bool, stop: StopSignals, completed: list[UUID]) -> int:
    # The engine is imported once a run starts: an invalid spec or setting fails before it costs anything.
    from benchlab.engine.runner import RunExecutor
    from benchlab.engine.runs import resume_run, submit_run

    runtime = await Runtime.open(settings, embedded_postgres=embedded)
    try:
        await runtime.migrate()
        await runtime.recover_interrupted_runs()
        if stop.received:
            return _stopped_before_start(stop.exit_status)
        deps = runtime.engine_deps()
        if resume is not None:
            await resume_run(deps, resume, enqueue=False)  # this process executes it
            run_id = resume
        elif spec is not None:
            run_id = await submit_run(deps, spec)
        else:
            raise BenchlabError("give a spec file to run, or --resume RUN_ID")
        if stop.received:  # signalled while the run was being queued: leave it resumable, not half-started
            async with deps.pg.acquire() as conn:
                await transition(conn, run_id, RunState.INTERRUPTED, error="stopped before it started; resume it")
            return _stopped_before_start(stop.exit_status)
        progress = ProgressLine(sys.stderr)
        executor = RunExecutor(deps, run_id, on_progress=progress, spec=spec)

        def cancel_gracefully() -> None:
            say("cancelling: waiting for requests in flight (Ctrl-C again to stop at once)")
            executor.cancel()

        def stop_at_once() -> None:
            say("stopping at once: requests in flight are dropped; the run stays resumable")
            executor.abort()

        stop.escalate_with(cancel_gracefully, stop_at_once)
        print(f"run {run_id} started", file=sys.stderr)
        with _stdout_to_stderr(as_json):
            run = await executor.execute()
        progress.close()
    finally:
        await runtime.close()
    print_run_report(run, as_json)
    if run.status is RunState.INTERRUPTED:
        print(f"resume it with: benchlab run --resume {run.id}", file=sys.stderr)
        return stop.exit_status if stop.received else 1
    if run.status is RunState.COMPLETED:
        completed.append(run.id)
    return 0 if run.status is RunState.COMPLETED else 1


class RunReport(Protocol):
    """What the end of `benchlab run` prints, from a stored run or a server's answer alike."""

    @property
    def id(self) -> UUID: ...
    @property
    def status(self) -> str: ...
    @property
    def error(self) -> str | None: ...
    @property
    def completed_requests(self) -> int: ...
    @property
    def failed_requests(self) -> int: ...
    @property
    def client_saturated(self) -> bool: ...
    @property
    def self_measurement(self) -> dict[str, Any] | None: ...
    @property
    def summary(self) -> dict[str, Any] | None: ...


def print_run_report(run: RunReport, as_json: bool) -> None:
    """The run's summary table (or, with --json, the JSON report) on stdout."""
    if as_json:
        print(json.dumps({"runId": str(run.id), "status": run.status, "error": run.error,
                          "completedRequests": run.completed_requests, "failedRequests": run.failed_requests,
                          "clientSaturated": run.client_saturated, "selfMeasurement": run.self_measurement,
                          "summary": run.summary}, indent=2, default=str))
    else:
        print(format_summary(run.id, run.status, run.summary or {}, run.self_measurement or {}, run.error))


@contextmanager
def _stdout_to_stderr(active: bool) -> Iterator[None]:
    """With --json, stdout carries nothing but the report: while the run executes, file descriptor 1 points at
    stderr, so whatever a library prints (litellm's banners, a C extension's output) cannot corrupt it."""
    if not active:
        yield
        return
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_summary(run_id: UUID, status: str, summary: dict[str, Any], measured: dict[str, Any],
                   error: str | None) -> str:
    header = ("phase", "model", "prompt", "params", "n", "err", "TTFT p50", "TTFT p99", "TPOT p50", "E2E p50",
              "E2E p99", "tok/s", "cost $")
    rows = [header]
    for g in summary.get("groups", []):
        rows.append((g["load_phase"], g["model"], g["prompt_version"], params_text(g.get("params"), g["params_hash"]),
                     str(g["requests"]),
                     str(g["requests"] - g["succeeded"]), _fmt(g["ttft_ms"]["p50"]), _fmt(g["ttft_ms"]["p99"]),
                     _fmt(g["tpot_ms"]["p50"], 2), _fmt(g["e2e_ms"]["p50"]), _fmt(g["e2e_ms"]["p99"]),
                     _fmt(g["output_token_throughput"]), _fmt(g["cost_usd"], 4)))
    lines = [f"run {run_id}: {status}" + (f" ({error})" if error else "")]
    lines += table(rows)
    lines.append("latencies in ms over successful requests; tok/s = output tokens per second in the window")
    for failure in summary.get("errors") or []:
        first = f": first {failure['first_message']}" if failure["first_message"] else ""
        lines.append(f"errors {failure['error_type'] or 'error'}: {failure['requests']} request(s){first}")
    unpriced = sum(g.get("cost_unknown_requests", 0) for g in summary.get("groups", []))
    if unpriced:
        lines.append(f"cost unknown for {unpriced} request(s): no price for their model (set input/output prices "
                     "on the model)")
    if measured.get("client_saturated"):
        lines.append(f"WARNING: client saturated (event-loop lag p99 {measured['loop_lag_ms']['p99']} ms, send lag "
                     f"p99 {measured['send_lag_ms']['p99']} ms > {measured['threshold_p99_ms']} ms): latencies "
                     "include client delay; lower the concurrency or rate")
    if summary.get("scores"):
        lines.append(format_scores(summary["scores"]))
    if summary.get("pending_on_disk"):
        lines.append(f"{summary['pending_on_disk']} events are waiting on disk for ClickHouse; they are written "
                     "automatically when it is reachable")
    return "\n".join(lines)
