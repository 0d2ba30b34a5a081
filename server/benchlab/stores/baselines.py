"""Baselines (table `baselines`): an experiment's named reference runs, e.g. `main`, that later runs are compared with.

One run per (experiment, name). Setting a name again replaces its run in place and records who set it and when;
setting the run it already holds changes nothing. Only a completed run of the same experiment can be a
baseline: a failed, cancelled or interrupted run measured only part of the plan, so comparing with it would
judge a change against an accident. Changes of one experiment's baselines are serialised on its row, so the
run a change replaced is the one it really replaced.

`resolve_baseline` turns what a person types (`--baseline main`, or a run id) into the run to compare with.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import asyncpg

from benchlab.errors import ConflictError, InvalidInputError, NotFoundError
from benchlab.stores.listing import Reader
from benchlab.stores.postgres import PgConnection, fetch_one

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,99}")
NAME_RULE = ("1 to 100 letters, digits, `.`, `_`, `/` or `-`, starting with a letter or digit (e.g. `main`, "
             "`release-1.4`), and not shaped like a run id")
_COLUMNS = "experiment_id, name, run_id, set_by, set_at"


@dataclass(frozen=True)
class BaselineRecord:
    experiment_id: UUID
    name: str
    run_id: UUID
    set_by: str
    set_at: datetime

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> BaselineRecord:
        return cls(row["experiment_id"], row["name"], row["run_id"], row["set_by"], row["set_at"])


@dataclass(frozen=True)
class BaselineChange:
    baseline: BaselineRecord
    replaced_run_id: UUID | None   # the run the name held before, when it held another one


def check_name(name: str) -> str:
    """The name if it is a valid baseline name; InvalidInputError saying the rule otherwise."""
    if NAME_PATTERN.fullmatch(name) is None or _as_uuid(name) is not None:
        raise InvalidInputError(f"baseline name {name!r}: use {NAME_RULE}", argument="name")
    return name


async def set_baseline(conn: PgConnection, run_id: UUID, name: str, set_by: str,
                       experiment_id: UUID | None = None) -> BaselineChange:
    """Make the run its experiment's baseline `name` (replacing the run the name held).

    `experiment_id`, when given, must be the run's experiment. NotFoundError when the run does not exist;
    ConflictError when it belongs to another experiment or has not completed.
    """
    check_name(name)
    async with conn.transaction():
        run = await conn.fetchrow(
            "SELECT r.experiment_id, r.status, e.name AS experiment FROM runs r "
            "JOIN experiments e ON e.id = r.experiment_id WHERE r.id = $1", run_id)
        if run is None:
            raise NotFoundError(f"no run with id {run_id}", argument="runId")
        if experiment_id is not None and run["experiment_id"] != experiment_id:
            raise ConflictError(f"run {run_id} belongs to experiment '{run['experiment']}', not to the one given: "
                                "a baseline is a run of the experiment it is the baseline of", argument="runId")
        _check_completed(run_id, run["status"])
        await conn.execute("SELECT 1 FROM experiments WHERE id = $1 FOR NO KEY UPDATE", run["experiment_id"])
        previous = await conn.fetchrow(f"SELECT {_COLUMNS} FROM baselines WHERE experiment_id = $1 AND name = $2",
                                       run["experiment_id"], name)
        if previous is not None and previous["run_id"] == run_id:
            return BaselineChange(BaselineRecord.from_row(previous), None)
        row = await fetch_one(
            conn,
            "INSERT INTO baselines (experiment_id, name, run_id, set_by) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (experiment_id, name) DO UPDATE SET run_id = EXCLUDED.run_id, set_by = EXCLUDED.set_by, "
            f"set_at = now() RETURNING {_COLUMNS}", run["experiment_id"], name, run_id, set_by)
    return BaselineChange(BaselineRecord.from_row(row), previous["run_id"] if previous is not None else None)


def _check_completed(run_id: UUID, status: str) -> None:
    if status == "completed":
        return
    if status in ("pending", "queued", "running"):
        raise ConflictError(f"run {run_id} is {status}: set it as a baseline once it has completed",
                            argument="runId")
    raise ConflictError(f"run {run_id} is {status}: only a completed run can be a baseline (a {status} run did not "
                        "measure its whole plan); pick a completed run of the experiment", argument="runId")


async def get_baseline(conn: PgConnection, experiment_id: UUID, name: str) -> BaselineRecord | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM baselines WHERE experiment_id = $1 AND name = $2",
                              experiment_id, name)
    return BaselineRecord.from_row(row) if row is not None else None


async def list_baselines(conn: PgConnection, experiment_id: UUID) -> list[BaselineRecord]:
    """The experiment's baselines, by name."""
    return (await baselines_of_experiments(conn, [experiment_id])).get(experiment_id, [])


async def remove_baseline(conn: PgConnection, experiment_id: UUID, name: str) -> BaselineRecord:
    """Remove the baseline `name` of the experiment; returns what it was. NotFoundError (listing the names the
    experiment has) when there is no such baseline."""
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM experiments WHERE id = $1 FOR NO KEY UPDATE", experiment_id)
        row = await conn.fetchrow(
            f"DELETE FROM baselines WHERE experiment_id = $1 AND name = $2 RETURNING {_COLUMNS}", experiment_id, name)
        if row is None:
            names = [b.name for b in await list_baselines(conn, experiment_id)]
            known = f"its baselines are: {', '.join(names)}" if names else "it has none"
            raise NotFoundError(f"the experiment has no baseline named {name!r}; {known}", argument="name")
    return BaselineRecord.from_row(row)


async def baselines_of_experiments(db: Reader, experiment_ids: Sequence[UUID]) -> dict[UUID, list[BaselineRecord]]:
    """Each experiment's baselines, by name, in one statement."""
    found: dict[UUID, list[BaselineRecord]] = defaultdict(list)
    for row in await db.fetch(f"SELECT {_COLUMNS} FROM baselines WHERE experiment_id = ANY($1::uuid[]) "
                              "ORDER BY experiment_id, name", list(experiment_ids)):
        found[row["experiment_id"]].append(BaselineRecord.from_row(row))
    return dict(found)


async def names_of_runs(db: Reader, run_ids: Sequence[UUID]) -> dict[UUID, list[str]]:
    """For each run, the names it is its experiment's baseline under, sorted, in one statement."""
    found: dict[UUID, list[str]] = defaultdict(list)
    for row in await db.fetch("SELECT run_id, name FROM baselines WHERE run_id = ANY($1::uuid[]) ORDER BY run_id, name",
                              list(run_ids)):
        found[row["run_id"]].append(row["name"])
    return dict(found)


async def resolve_baseline(conn: PgConnection, experiment_id: UUID, name_or_run_id: str | UUID) -> UUID | None:
    """The run to compare with: the run of the experiment's baseline named so, or the run with that id if it is
    a run of the experiment (any state: the caller decides what it accepts). None when there is neither.

    Baseline names cannot look like run ids (`check_name`), so the two never clash.
    """
    run_id = name_or_run_id if isinstance(name_or_run_id, UUID) else _as_uuid(name_or_run_id.strip())
    if run_id is not None:
        return await conn.fetchval("SELECT id FROM runs WHERE id = $1 AND experiment_id = $2", run_id, experiment_id)
    assert isinstance(name_or_run_id, str)
    return await conn.fetchval("SELECT run_id FROM baselines WHERE experiment_id = $1 AND name = $2",
                               experiment_id, name_or_run_id.strip())


def _as_uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None
