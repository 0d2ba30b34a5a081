"""What an export holds: a table (requests, scores or a dataset version), a scope and a format (docs/exports.md).

A scope is a run, or a project with an optional time range (`start` inclusive, `end` exclusive, on the rows'
`ts`) and source (`experiment` or `production`). Scores are by default each run's current scoring pass (its
newest completed one, as `run.scoring`), `all_passes` keeps every pass's rows (each row names its `pass_id`).
Everything is checked here, before a byte is sent, so bad input is an error and never a truncated file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from benchlab.errors import InvalidInputError, NotFoundError
from benchlab.stores import datasets as dataset_store
from benchlab.stores.postgres import PgConnection

SOURCES = ("experiment", "production")
_TS_MIN = datetime.fromisoformat("1900-01-01T00:00:00+00:00")
_TS_MAX = datetime.fromisoformat("2299-12-31T23:59:59.999999+00:00")


class ExportTable(StrEnum):
    REQUESTS = "requests"  # ClickHouse request_events
    SCORES = "scores"      # ClickHouse scores
    DATASET = "dataset"    # a dataset version's items (PostgreSQL), in the importDatasetItems JSONL format


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"
    PARQUET = "parquet"


@dataclass(frozen=True)
class ExportScope:
    """The rows of one export. For DATASET, `dataset` and `dataset_version` (None: the latest) are used."""

    table: ExportTable
    format: ExportFormat
    project_id: UUID
    run_id: UUID | None = None
    start: datetime | None = None
    end: datetime | None = None
    source: str | None = None
    all_passes: bool = False
    dataset: str | None = None
    dataset_version: int | None = None

    def claims(self) -> dict[str, Any]:
        """The scope as JSON (in a signed download token); `from_claims` reads it back."""
        return {"t": self.table.value, "f": self.format.value, "p": str(self.project_id),
                "r": self.run_id and str(self.run_id), "s": self.start and self.start.isoformat(),
                "e": self.end and self.end.isoformat(), "src": self.source, "all": self.all_passes,
                "d": self.dataset, "v": self.dataset_version}

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> ExportScope:
        def when(text: str | None) -> datetime | None:
            return None if text is None else datetime.fromisoformat(text)

        return cls(ExportTable(claims["t"]), ExportFormat(claims["f"]), UUID(claims["p"]),
                   None if claims["r"] is None else UUID(claims["r"]), when(claims["s"]), when(claims["e"]),
                   claims["src"], bool(claims["all"]), claims["d"], claims["v"])


def checked_scope(scope: ExportScope) -> ExportScope:
    """The scope, or InvalidInputError listing every problem (and how to fix it)."""
    problems = []
    for name, value in (("from", scope.start), ("to", scope.end)):
        if value is not None and (value.tzinfo is None or not _TS_MIN <= value <= _TS_MAX):
            problems.append(f"{name}: {value.isoformat()} must be a time with a UTC offset between 1900-01-01 and "
                            "2299-12-31")
    if scope.start is not None and scope.end is not None and not problems and scope.start >= scope.end:
        problems.append(f"from ({scope.start.isoformat()}) must be before to ({scope.end.isoformat()})")
    if scope.source is not None and scope.source not in SOURCES:
        problems.append(f"source: '{scope.source}' is not one of {', '.join(SOURCES)}")
    if scope.table is ExportTable.DATASET:
        if scope.format is not ExportFormat.JSONL:
            problems.append("format: a dataset version exports as JSONL only (the importDatasetItems format, which "
                            "keeps every field of every item)")
        if not scope.dataset:
            problems.append("dataset: name the dataset to export")
        if scope.dataset_version is not None and scope.dataset_version < 1:
            problems.append(f"version: {scope.dataset_version} is not a version number (1, 2, ...)")
        if scope.run_id is not None or scope.start or scope.end or scope.source:
            problems.append("a dataset export takes a project, a dataset and a version only (no run, time range "
                            "or source)")
    elif scope.dataset is not None or scope.dataset_version is not None:
        problems.append(f"dataset, version: only for table dataset, not {scope.table.value}")
    if scope.all_passes and scope.table is not ExportTable.SCORES:
        problems.append("all passes: only for table scores")
    if problems:
        raise InvalidInputError(problems)
    return scope


async def run_project(conn: PgConnection, run_id: UUID) -> UUID:
    """The project of a run; NotFoundError when there is no such run."""
    project_id = await conn.fetchval("SELECT project_id FROM runs WHERE id = $1", run_id)
    if project_id is None:
        raise NotFoundError(f"run: no run with id {run_id}")
    return project_id


async def superseded_passes(conn: PgConnection, scope: ExportScope) -> list[UUID]:
    """The scoring passes whose rows a current-pass export leaves out: every pass of the scope's runs that is
    not its run's newest completed pass. Rows of passes PostgreSQL does not know are kept."""
    run_filter = "AND run_id = $2" if scope.run_id is not None else ""
    args: list[Any] = [scope.project_id] + ([scope.run_id] if scope.run_id is not None else [])
    rows = await conn.fetch(
        "SELECT id FROM scoring_passes p WHERE project_id = $1 " + run_filter + " AND id IS DISTINCT FROM ("
        "SELECT c.id FROM scoring_passes c WHERE c.run_id = p.run_id AND c.status = 'completed' "
        "ORDER BY c.finished_at DESC, c.id LIMIT 1)", *args)
    return [row["id"] for row in rows]


@dataclass(frozen=True)
class DatasetVersionRef:
    dataset_id: UUID
    name: str
    version_id: UUID
    version: int
    content_hash: str
    item_count: int


async def dataset_version(conn: PgConnection, scope: ExportScope) -> DatasetVersionRef:
    """The dataset version a DATASET export names; NotFoundError (saying what exists) when there is none."""
    assert scope.dataset is not None
    dataset = await dataset_store.find_by_name(conn, scope.project_id, scope.dataset)
    if dataset is None:
        raise NotFoundError(f"dataset: the project has no dataset named {scope.dataset!r}")
    if scope.dataset_version is None:
        version = await dataset_store.latest_version(conn, dataset.id)
        if version is None:
            raise NotFoundError(f"dataset {scope.dataset!r} has no version yet (import items first)")
    else:
        version = await dataset_store.find_version_by_number(conn, dataset.id, scope.dataset_version)
        if version is None:
            latest = await dataset_store.latest_version(conn, dataset.id)
            raise NotFoundError(f"version: dataset {scope.dataset!r} has no version {scope.dataset_version} "
                                f"(its versions are 1 to {latest.version if latest else 0})")
    return DatasetVersionRef(dataset.id, dataset.name, version.id, version.version, version.content_hash,
                             version.item_count)
