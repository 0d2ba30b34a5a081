"""Runs in PostgreSQL: creation, the guarded state machine, progress, heartbeats and crash detection.

States: pending → queued → running → completed | failed | cancelled | interrupted, and interrupted → queued
on resume. Every transition is one `UPDATE … WHERE status = ANY(allowed)`, so two processes can never both
move a run, and a caller learns whether its transition happened.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, TypedDict, Unpack
from uuid import UUID

import asyncpg
import psutil

from benchlab.stores.postgres import PgConnection


class RunState(StrEnum):
    """Where a run is in its life (the `runs.status` column holds the value)."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"


TERMINAL_STATES = frozenset({RunState.COMPLETED, RunState.FAILED, RunState.CANCELLED})
ENDED_STATES = TERMINAL_STATES | {RunState.INTERRUPTED}  # no process is executing the run
ALLOWED_FROM: dict[RunState, tuple[RunState, ...]] = {
    RunState.QUEUED: (RunState.PENDING, RunState.INTERRUPTED),
    RunState.RUNNING: (RunState.QUEUED,),
    RunState.COMPLETED: (RunState.RUNNING,),
    RunState.FAILED: (RunState.PENDING, RunState.QUEUED, RunState.RUNNING),
    RunState.CANCELLED: (RunState.PENDING, RunState.QUEUED, RunState.RUNNING, RunState.INTERRUPTED),
    RunState.INTERRUPTED: (RunState.QUEUED, RunState.RUNNING),
}
HEARTBEAT_STALE_S = 60


class RunUpdate(TypedDict, total=False):
    """What a transition may store besides the state (JSON payloads as computed by the engine)."""

    summary: dict[str, Any] | None
    self_measurement: dict[str, Any] | None
    error: str | None
    client_saturated: bool
    completed_requests: int
    failed_requests: int


def process_owner() -> str:
    """Identity of this process as a run owner: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class RunRecord:
    id: UUID
    project_id: UUID
    experiment_id: UUID
    status: RunState
    config_snapshot: dict[str, Any]
    planned_requests: int
    completed_requests: int
    failed_requests: int
    summary: dict[str, Any] | None
    client_saturated: bool
    self_measurement: dict[str, Any] | None
    error: str | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    claim: int = 0                 # the fencing token of the worker executing it (stores/run_queue.py)
    queue_job_id: int | None = None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> RunRecord:
        return cls(row["id"], row["project_id"], row["experiment_id"], RunState(row["status"]),
                   row["config_snapshot"], row["planned_requests"], row["completed_requests"],
                   row["failed_requests"], row["summary"], row["client_saturated"],
                   row["self_measurement"], row["error"], row["cancel_requested"], row["created_at"],
                   row["started_at"], row["finished_at"], row["claim"], row["queue_job_id"])


async def create_run(conn: PgConnection, project_id: UUID, experiment_id: UUID,
                     config_snapshot: dict[str, Any], planned_requests: int) -> UUID:
    return await conn.fetchval(
        "INSERT INTO runs (project_id, experiment_id, config_snapshot, planned_requests) "
        "VALUES ($1, $2, $3::jsonb, $4) RETURNING id",
        project_id, experiment_id, config_snapshot, planned_requests)


async def get_run(conn: PgConnection, run_id: UUID) -> RunRecord | None:
    row = await conn.fetchrow("SELECT * FROM runs WHERE id = $1", run_id)
    return RunRecord.from_row(row) if row else None


async def transition(conn: PgConnection, run_id: UUID, to_status: RunState, *,
                     only_from: tuple[RunState, ...] | None = None, claim: int | None = None,
                     **fields: Unpack[RunUpdate]) -> bool:
    """Move the run to `to_status` if its current state allows it (and is one of `only_from`, when given, and
    `claim` is still the run's claim, when given: a worker that lost its run changes nothing); returns whether
    it moved."""
    allowed = [state.value for state in ALLOWED_FROM[to_status] if only_from is None or state in only_from]
    assignments = ["status = $2"]
    values: list[Any] = [run_id, to_status.value, allowed]
    if to_status is RunState.RUNNING:
        assignments += ["started_at = coalesce(started_at, now())", "heartbeat_at = now()",
                        f"owner = ${len(values) + 1}"]
        values.append(process_owner())
    if to_status in ENDED_STATES:
        assignments.append("finished_at = now()")
    if to_status is RunState.QUEUED:
        assignments += ["finished_at = NULL", "error = NULL", "cancel_requested = false"]
    for name, value in fields.items():
        if name not in RunUpdate.__annotations__:
            raise ValueError(f"cannot set runs.{name} in a transition")
        cast = "::jsonb" if name in {"summary", "self_measurement"} else ""
        values.append(value)
        assignments.append(f"{name} = ${len(values)}{cast}")
    guard = ""
    if claim is not None:
        values.append(claim)
        guard = f" AND claim = ${len(values)}"
    result = await conn.execute(
        f"UPDATE runs SET {', '.join(assignments)} WHERE id = $1 AND status = ANY($3::text[]){guard}", *values)
    return result.endswith(" 1")


async def record_progress(conn: PgConnection, run_id: UUID, completed: int, failed: int,
                          claim: int | None = None) -> bool | None:
    """Store counters and beat the heart; returns whether someone asked to cancel the run, None when the run
    is gone or (with `claim`) was taken over by another worker."""
    return await conn.fetchval(
        "UPDATE runs SET completed_requests = $2, failed_requests = $3, heartbeat_at = now() "
        "WHERE id = $1 AND ($4::int IS NULL OR claim = $4) RETURNING cancel_requested", run_id, completed, failed,
        claim)


async def beat(conn: PgConnection, run_id: UUID, claim: int | None) -> bool:
    """The executing process is alive (through every phase, scoring included); False when the run was taken
    over by another worker (`claim` no longer current) or is gone."""
    # A sweep that took a late beat for a dead worker's put the run back in `queued`; its claim is still this
    # executor's (nobody took it over), so the run is running again.
    result = await conn.execute(
        "UPDATE runs SET heartbeat_at = now(), status = CASE WHEN $2::int IS NOT NULL AND status = 'queued' "
        "THEN 'running' ELSE status END WHERE id = $1 AND ($2::int IS NULL OR claim = $2)", run_id, claim)
    return result.endswith(" 1")


NOT_STARTED_CANCELLABLE = (RunState.PENDING, RunState.QUEUED, RunState.INTERRUPTED)


async def request_cancel(conn: PgConnection, run_id: UUID) -> RunState | None:
    """Ask a run to stop; returns its status afterwards (None when there is no such run).

    A run that is not executing (pending, queued, interrupted) is cancelled at once. A running run gets
    `cancel_requested`: its executor sees the flag at its next progress beat, stops sending, lets requests in
    flight finish, and ends `cancelled` itself. Finished runs are left as they are.
    """
    cancelled = await conn.execute(
        "UPDATE runs SET status = $3, finished_at = now() WHERE id = $1 AND status = ANY($2::text[])",
        run_id, [state.value for state in NOT_STARTED_CANCELLABLE], RunState.CANCELLED.value)
    if not cancelled.endswith(" 1"):
        await conn.execute("UPDATE runs SET cancel_requested = true WHERE id = $1 AND status = $2", run_id,
                           RunState.RUNNING.value)
    return await status_of(conn, run_id)


async def status_of(conn: PgConnection, run_id: UUID) -> RunState | None:
    status = await conn.fetchval("SELECT status FROM runs WHERE id = $1", run_id)
    return None if status is None else RunState(status)


async def requeue_interrupted(conn: PgConnection, run_id: UUID) -> bool:
    """interrupted → queued (resume); returns whether it moved. Pending runs are not resumable."""
    return await transition(conn, run_id, RunState.QUEUED, only_from=(RunState.INTERRUPTED,))


def owner_is_gone(owner: str | None) -> bool:
    """The owner ran on this host and its pid no longer exists (another host's owner: see the heartbeat)."""
    owner_host, _, pid = (owner or ":").rpartition(":")
    return owner_host == socket.gethostname() and pid.isdigit() and not psutil.pid_exists(int(pid))


async def mark_orphans_interrupted(conn: PgConnection, stale_after_s: float = HEARTBEAT_STALE_S) -> list[UUID]:
    """Runs left `running` (or `queued` and never started) by a process that is gone, with no job in the run
    queue to hand them to another worker, become `interrupted` (resumable by hand).

    A run's owner is gone when it ran on this host and its pid no longer exists, or when its heartbeat is
    older than `stale_after_s` (another host that stopped beating). A queued run without a job was created by
    a `benchlab run` process that executes it itself; it is an orphan once that long passed since then.
    Runs whose job is in the queue are the queue's business (stores/run_queue.py, `requeue_stale`).
    """
    rows = await conn.fetch(
        "SELECT id, status, owner, coalesce(heartbeat_at, created_at) < now() - make_interval(secs => $1) AS stale "
        "FROM runs WHERE status = ANY($2::text[]) "
        "AND NOT EXISTS (SELECT 1 FROM pgqueuer job WHERE job.id = runs.queue_job_id)",
        stale_after_s, [RunState.RUNNING.value, RunState.QUEUED.value])
    orphans = []
    for row in rows:
        never_started = row["status"] == RunState.QUEUED.value and row["owner"] is None
        orphaned = owner_is_gone(row["owner"]) or row["stale"] or (never_started and row["stale"])
        if orphaned and await transition(conn, row["id"], RunState.INTERRUPTED,
                                         error="the process running it stopped before it finished; resume it"):
            orphans.append(row["id"])
    return orphans


async def record_gate(conn: PgConnection, run_id: UUID, passed: bool, report: dict[str, Any]) -> None:
    """Keep the outcome of the run's quality gates on the run (gating again replaces it)."""
    await conn.execute("UPDATE runs SET gate_status = $2, gate_report = $3::jsonb, gated_at = now() WHERE id = $1",
                       run_id, "passed" if passed else "failed", report)
