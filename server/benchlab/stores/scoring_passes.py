"""Scoring passes in PostgreSQL (`scoring_passes`): one row per scoring of a run's stored responses.

States: queued → running → completed | failed. A pass stopped by a signal ends `failed`; one whose process
was killed stays `running`. Either way its partial score rows stay under its id and are never read as the
run's current scores, which are those of the newest completed pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

import asyncpg

from benchlab.stores.postgres import PgConnection


class PassState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class PassTrigger(StrEnum):
    RUN = "run"    # right after the run's measurement
    CLI = "cli"    # benchlab eval
    API = "api"    # scoreRun


@dataclass(frozen=True)
class PassCounters:
    total_requests: int = 0
    scored_requests: int = 0
    judge_calls: int = 0
    judge_cached: int = 0
    judge_errors: int = 0
    judge_cost_usd: float = 0.0


@dataclass(frozen=True)
class ScoringPass:
    id: UUID
    project_id: UUID
    run_id: UUID
    status: PassState
    evaluators: dict[str, Any]
    trigger: PassTrigger
    counters: PassCounters
    summary: dict[str, Any] | None
    error: str | None
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> ScoringPass:
        counters = PassCounters(row["total_requests"], row["scored_requests"], row["judge_calls"],
                                row["judge_cached"], row["judge_errors"], row["judge_cost_usd"])
        return cls(row["id"], row["project_id"], row["run_id"], PassState(row["status"]), row["evaluators"],
                   PassTrigger(row["trigger"]), counters, row["summary"], row["error"], row["created_by"],
                   row["created_at"], row["started_at"], row["finished_at"])


async def create_pass(conn: PgConnection, project_id: UUID, run_id: UUID, evaluators: dict[str, Any],
                      trigger: PassTrigger, created_by: str | None) -> UUID:
    return await conn.fetchval(
        "INSERT INTO scoring_passes (project_id, run_id, evaluators, trigger, created_by) "
        "VALUES ($1, $2, $3::jsonb, $4, $5) RETURNING id", project_id, run_id, evaluators, trigger.value, created_by)


async def get_pass(conn: PgConnection, pass_id: UUID) -> ScoringPass | None:
    row = await conn.fetchrow("SELECT * FROM scoring_passes WHERE id = $1", pass_id)
    return ScoringPass.from_row(row) if row else None


async def passes_of_run(conn: PgConnection, run_id: UUID) -> list[ScoringPass]:
    """Every pass of a run, newest first."""
    rows = await conn.fetch("SELECT * FROM scoring_passes WHERE run_id = $1 ORDER BY created_at DESC, id", run_id)
    return [ScoringPass.from_row(row) for row in rows]


async def current_passes(conn: PgConnection, run_ids: list[UUID]) -> dict[UUID, ScoringPass]:
    """Each run's current scores: its newest completed pass (runs without one are absent)."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (run_id) * FROM scoring_passes WHERE run_id = ANY($1::uuid[]) AND status = $2 "
        "ORDER BY run_id, finished_at DESC, id", run_ids, PassState.COMPLETED.value)
    return {row["run_id"]: ScoringPass.from_row(row) for row in rows}


async def start_pass(conn: PgConnection, pass_id: UUID, total_requests: int) -> bool:
    result = await conn.execute(
        "UPDATE scoring_passes SET status = $2, started_at = now(), total_requests = $3 "
        "WHERE id = $1 AND status = $4", pass_id, PassState.RUNNING.value, total_requests, PassState.QUEUED.value)
    return result.endswith(" 1")


async def record_counters(conn: PgConnection, pass_id: UUID, counters: PassCounters) -> None:
    await conn.execute(
        "UPDATE scoring_passes SET scored_requests = $2, judge_calls = $3, judge_cached = $4, judge_errors = $5, "
        "judge_cost_usd = $6 WHERE id = $1", pass_id, counters.scored_requests, counters.judge_calls,
        counters.judge_cached, counters.judge_errors, counters.judge_cost_usd)


async def finish_pass(conn: PgConnection, pass_id: UUID, counters: PassCounters, *,
                      summary: dict[str, Any] | None = None, error: str | None = None) -> None:
    """completed (with its summary) or, given an error, failed."""
    await record_counters(conn, pass_id, counters)
    status = PassState.FAILED if error is not None else PassState.COMPLETED
    await conn.execute(
        "UPDATE scoring_passes SET status = $2, summary = $3::jsonb, error = $4, finished_at = now() "
        "WHERE id = $1", pass_id, status.value, summary, error)



async def newest_scored_runs(conn: PgConnection, project_id: UUID, experiment_id: UUID | None,
                             limit: int) -> list[tuple[UUID, UUID]]:
    """(run, its current pass) of the newest `limit` runs with a completed pass, in a project or experiment."""
    rows = await conn.fetch(
        "SELECT DISTINCT ON (p.run_id) p.run_id, p.id, r.created_at FROM scoring_passes p "
        "JOIN runs r ON r.id = p.run_id WHERE p.project_id = $1 AND ($2::uuid IS NULL OR r.experiment_id = $2) "
        "AND p.status = $3 ORDER BY p.run_id, p.finished_at DESC, p.id", project_id, experiment_id,
        PassState.COMPLETED.value)
    newest = sorted(rows, key=lambda row: row["created_at"], reverse=True)[:limit]
    return [(row["run_id"], row["id"]) for row in newest]
