"""Types of `createExport`: what to export, in which format, and the download link it returns (docs/exports.md)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import cast

import strawberry

from benchlab.api.types.production import RequestSource


@strawberry.enum(description="What an export holds.")
class ExportTable(Enum):
    REQUESTS = cast(str, strawberry.enum_value("requests", description=(
        "Request events (ClickHouse `request_events`): one row per request, every column.")))
    SCORES = cast(str, strawberry.enum_value("scores", description=(
        "Scores (ClickHouse `scores`): one row per scoring pass x request x score name.")))
    DATASET = cast(str, strawberry.enum_value("dataset", description=(
        "A dataset version's items as JSONL in the importDatasetItems format: importing the file gives the same "
        "items (and the same version content hash).")))


@strawberry.enum(description="The file format of an export.")
class ExportFormat(Enum):
    JSONL = cast(str, strawberry.enum_value("jsonl", description="One JSON object per row (application/x-ndjson)."))
    CSV = cast(str, strawberry.enum_value("csv", description=(
        "A header row, then one row per row (RFC 4180); arrays as their JSON text in one cell.")))
    PARQUET = cast(str, strawberry.enum_value("parquet", description=(
        "Apache Parquet, one row group per page of rows; UUIDs as strings, times as timestamp[us, UTC].")))


@strawberry.enum(description="Which scoring passes a SCORES export takes.")
class ScorePasses(Enum):
    CURRENT = cast(str, strawberry.enum_value("current", description=(
        "Each run's current scores: its newest completed pass (as `run.scoring`).")))
    ALL = cast(str, strawberry.enum_value("all", description="Every pass's rows, each naming its `pass_id`."))


@strawberry.input(description=(
    "One of `runId` (a run's rows) or `projectId` (a project's rows, optionally within `from`/`to` and of one "
    "`source`); for DATASET, `projectId` with `dataset` and optionally `datasetVersion`."))
class CreateExportInput:
    table: ExportTable
    format: ExportFormat = ExportFormat.JSONL
    run_id: strawberry.ID | None = strawberry.field(default=None, description="Export this run's rows.")
    project_id: strawberry.ID | None = strawberry.field(default=None, description="Export this project's rows.")
    from_: datetime | None = strawberry.field(default=None, name="from", description=(
        "Project scope: only rows with `ts` at or after this time."))
    to: datetime | None = strawberry.field(default=None, description="Project scope: only rows with `ts` before this "
                                                                     "time.")
    source: RequestSource | None = strawberry.field(default=None, description=(
        "Only rows of this source (a score belongs to its run's source); null: every source."))
    passes: ScorePasses = strawberry.field(default=ScorePasses.CURRENT, description="SCORES: which passes.")
    dataset: str | None = strawberry.field(default=None, description="DATASET: the dataset's name.")
    dataset_version: int | None = strawberry.field(default=None, description=(
        "DATASET: the version number; null: the latest."))


@strawberry.type(description=(
    "A download link: `GET url` (no other header needed: the link is the credential) streams the file. The caller's "
    "access is checked again when the download starts."))
class ExportPayload:
    url: str = strawberry.field(description="Absolute URL of the file, valid until `expiresAt`.")
    expires_at: datetime = strawberry.field(description="When the link stops working (10 minutes after it was made).")
    filename: str = strawberry.field(description="The file's name (also in the download's Content-Disposition).")
    content_type: str = strawberry.field(description="The download's Content-Type.")
