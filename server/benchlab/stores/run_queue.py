"""The run queue: pgqueuer's job table in PostgreSQL, and the run-side bookkeeping of claims (fencing tokens).

pgqueuer (a maintained PostgreSQL job queue speaking asyncpg) owns the jobs: enqueue with a per-run dedupe
key, claims with `FOR UPDATE SKIP LOCKED`, heartbeats, and re-picking a job whose heartbeat went stale (its
worker died). We use its repository (`Queries`) directly instead of its `QueueManager` loop, because that loop
cannot express "one measuring run per worker": it refuses a per-worker cap below twice its batch size. Our
worker loop (engine/worker.py) passes the cap to the same dequeue statement, which enforces it in SQL.

The run itself carries `claim`, incremented each time a worker takes it; the executing worker's writes to the
run are guarded by its claim number, so a worker presumed dead (its heartbeat stopped, another worker resumed
the run) cannot change the run when it wakes up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

import asyncpg
from pgqueuer.domain.models import Job
from pgqueuer.domain.settings import db_settings
from pgqueuer.domain.types import JobId, QueueEntrypoint, QueueManagerId
from pgqueuer.ports.repository import EntrypointExecutionParameter
from pgqueuer.queries import Queries

from benchlab.stores.postgres import PgConnection
from benchlab.stores.runs import RunState, owner_is_gone

RUN_ENTRYPOINT = "benchlab.run"
NOTIFY_CHANNEL = db_settings().channel  # pgqueuer's trigger notifies it when a job is queued
_ENTRYPOINTS = {QueueEntrypoint(RUN_ENTRYPOINT): EntrypointExecutionParameter(concurrency_limit=0)}


async def install_queue(conn: PgConnection) -> bool:
    """Create pgqueuer's tables (and upgrade them to the installed library's version); True when created."""
    queries = Queries.from_asyncpg_connection(conn)  # type: ignore[arg-type]  # a pool connection proxy
    if await queries.schema_is_installed():
        await queries.upgrade()
        return False
    await queries.install()
    return True


def queue(pool: asyncpg.Pool) -> Queries:
    return Queries.from_asyncpg_pool(pool)


async def enqueue_run(conn: PgConnection, run_id: UUID) -> None:
    """Put a queued run's job in the queue (once: the run id is the job's dedupe key) and stamp its wait; on
    the caller's connection, so a run and its job are committed together."""
    queries = Queries.from_asyncpg_connection(conn)  # type: ignore[arg-type]  # a pool connection proxy
    job_ids = await queries.enqueue(RUN_ENTRYPOINT, str(run_id).encode(), dedupe_key=str(run_id),
                                    on_conflict="skip")
    await conn.execute("UPDATE runs SET queued_at = now(), queue_job_id = coalesce($2, queue_job_id) "
                       "WHERE id = $1", run_id, job_ids[0])


async def dequeue_run(pool: asyncpg.Pool, worker_id: QueueManagerId, slots: int,
                      heartbeat_timeout_s: float) -> Job | None:
    """Claim at most one job: a waiting one, or one whose worker stopped heartbeating. `slots` caps the jobs
    this worker holds at once (in the dequeue statement itself)."""
    jobs = await queue(pool).dequeue(1, _ENTRYPOINTS, worker_id, slots, timedelta(seconds=heartbeat_timeout_s))
    return jobs[0] if jobs else None


async def beat(pool: asyncpg.Pool, job_ids: list[JobId]) -> None:
    if job_ids:
        await queue(pool).update_heartbeat(job_ids)


async def finish_job(pool: asyncpg.Pool, job: Job) -> None:
    """The job is done with: its run ended (or no longer waits)."""
    await queue(pool).log_jobs([(job, "successful", None)])


async def give_back(executor: asyncpg.Pool | PgConnection, job: Job, delay_s: float) -> None:
    """The job waits in the queue again after `delay_s` (no longer this worker's); on a connection, inside the
    caller's transaction."""
    queries = (Queries.from_asyncpg_pool(executor) if isinstance(executor, asyncpg.Pool)
               else Queries.from_asyncpg_connection(executor))  # type: ignore[arg-type]  # a connection proxy
    await queries.retry_job(job, timedelta(seconds=delay_s), None)


async def cancel_job(pool: asyncpg.Pool, job_id: int | None) -> None:
    """Take a cancelled run's job out of the queue (a worker picking it anyway would find the run cancelled)."""
    if job_id is not None:
        await queue(pool).mark_job_as_cancelled([JobId(job_id)])


def job_run_id(job: Job) -> UUID:
    return UUID((job.payload or b"").decode())


@dataclass(frozen=True)
class Claim:
    run_id: UUID
    number: int          # the fencing token
    resumed: bool        # another worker had it before (its heartbeat stopped)


async def claim_run(conn: PgConnection, run_id: UUID, worker: str) -> Claim | None:
    """Take a queued run, or a running one whose worker is gone (the queue re-picked its job), for `worker`.
    The run goes (back) to `queued`, from where its executor starts it as a resumed run; None when the run
    is no longer waiting (cancelled, finished, deleted)."""
    async with conn.transaction():
        before = await conn.fetchval("SELECT status FROM runs WHERE id = $1 FOR UPDATE", run_id)
        if before not in (RunState.QUEUED.value, RunState.RUNNING.value):
            return None
        number = await conn.fetchval(
            "UPDATE runs SET claim = claim + 1, owner = $2, status = 'queued', heartbeat_at = now() WHERE id = $1 "
            "RETURNING claim", run_id, worker)
    return Claim(run_id, number, before == RunState.RUNNING.value)


async def queue_job_of(conn: PgConnection, run_id: UUID) -> int | None:
    return await conn.fetchval("SELECT queue_job_id FROM runs WHERE id = $1", run_id)


async def holds_claim(conn: PgConnection, run_id: UUID, claim: int) -> bool:
    """Whether `claim` is still the run's current claim (no other worker took the run over)."""
    return bool(await conn.fetchval("SELECT claim = $2 FROM runs WHERE id = $1", run_id, claim))


async def in_flight_in_project(conn: PgConnection, project_id: UUID, other_than: UUID) -> int:
    """Runs of the project held by a worker now (their job picked), `other_than` aside: the per-project limit.
    A dead worker's run counts until another worker resumes it: it is still in flight."""
    return await conn.fetchval(
        "SELECT count(*) FROM runs r JOIN pgqueuer job ON job.id = r.queue_job_id "
        "WHERE r.project_id = $1 AND r.id <> $2 AND job.status = 'picked'", project_id, other_than)


async def project_of(conn: PgConnection, run_id: UUID) -> UUID | None:
    return await conn.fetchval("SELECT project_id FROM runs WHERE id = $1", run_id)


async def queue_positions(conn: PgConnection, run_ids: list[UUID]) -> dict[UUID, int]:
    """1-based place of each queued run among all waiting runs, oldest first (runs not waiting are absent)."""
    rows = await conn.fetch(
        "SELECT id, position FROM (SELECT id, row_number() OVER (ORDER BY queued_at, id) AS position FROM runs "
        "WHERE status = $2) waiting WHERE id = ANY($1::uuid[])", run_ids, RunState.QUEUED.value)
    return {row["id"]: row["position"] for row in rows}


async def requeue_stale(conn: PgConnection, stale_after_s: float) -> list[UUID]:
    """Runs marked running whose worker stopped heartbeating (or died on this host) and whose job is still in
    the queue go back to `queued`: the queue hands the job to the next worker that asks once the job's own
    heartbeat is as old, and that worker resumes the run. Returns the runs moved."""
    rows = await conn.fetch(
        "SELECT r.id, r.owner, coalesce(r.heartbeat_at, r.created_at) < now() - make_interval(secs => $2) AS stale "
        "FROM runs r JOIN pgqueuer job ON job.id = r.queue_job_id WHERE r.status = $1",
        RunState.RUNNING.value, stale_after_s)
    moved = []
    for row in rows:
        if row["stale"] or owner_is_gone(row["owner"]):
            result = await conn.execute("UPDATE runs SET status = $2 WHERE id = $1 AND status = $3", row["id"],
                                        RunState.QUEUED.value, RunState.RUNNING.value)
            if result.endswith(" 1"):
                moved.append(row["id"])
    return moved
