"""What the catalog commands return: one frozen record per stored row, built from a fixed column list.

Each record type has an `Entity` describing where its rows live and which columns make it, so the shared
guards (`common`) can look up, archive and rename any entity with one piece of code. A provider's
credentials are never selected: its record says only whether a key is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self
from uuid import UUID

import asyncpg


class _FromRow:
    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Self:
        return cls(**{f.name: row[f.name] for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True)
class ProjectRecord(_FromRow):
    id: UUID
    slug: str
    name: str
    description: str
    created_at: datetime
    archived_at: datetime | None


@dataclass(frozen=True)
class ProviderRecord(_FromRow):
    id: UUID
    project_id: UUID
    name: str
    type: str
    api_base: str | None
    transport: str
    max_concurrency: int | None
    has_credentials: bool
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


@dataclass(frozen=True)
class ModelRecord(_FromRow):

    id: UUID
    project_id: UUID
    provider_id: UUID
    name: str
    model_id: str
    input_price_per_mtok: float | None
    output_price_per_mtok: float | None
    params: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


@dataclass(frozen=True)
class DatasetRecord(_FromRow):
    id: UUID
    project_id: UUID
    name: str
    description: str
    created_at: datetime
    archived_at: datetime | None


@dataclass(frozen=True)
class DatasetVersionRecord(_FromRow):
    id: UUID
    dataset_id: UUID
    version: int
    content_hash: str
    item_count: int
    created_at: datetime


@dataclass(frozen=True)
class DatasetImportResult:
    """The version an import resulted in; `created` is False when identical content was already a version."""

    version: DatasetVersionRecord
    created: bool
    imported_items: int


@dataclass(frozen=True)
class PromptRecord(_FromRow):
    id: UUID
    project_id: UUID
    name: str
    created_at: datetime
    archived_at: datetime | None


@dataclass(frozen=True)
class PromptVersionRecord(_FromRow):

    id: UUID
    prompt_id: UUID
    version: str
    template: dict[str, Any]  # {"messages": [{"role", "content"}, ...]} or {"text": "..."}
    content_hash: str
    created_at: datetime


@dataclass(frozen=True)
class ExperimentRecord(_FromRow):

    id: UUID
    project_id: UUID
    name: str
    description: str
    spec: dict[str, Any]  # the resolved, validated spec (references filled in, secrets removed)
    dataset_version_id: UUID | None
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


@dataclass(frozen=True)
class Entity:
    """Where an entity's rows live. `table` and the column lists are constants here, never user input."""

    table: str
    label: str            # how a person names the kind of thing: "provider"
    columns: str          # the SELECT (and RETURNING) list its record is built from
    owner_column: str = "project_id"   # the column that must equal the caller's project id
    name_column: str = "name"          # the unique, human-chosen key


def _columns(record: type[_FromRow], **expressions: str) -> str:
    return ", ".join(f"{expressions[f.name]} AS {f.name}" if f.name in expressions else f.name
                     for f in fields(record))  # type: ignore[arg-type]


PROJECT = Entity("projects", "project", _columns(ProjectRecord), owner_column="id", name_column="slug")
PROVIDER = Entity("providers", "provider", _columns(
    ProviderRecord, type="provider_type", has_credentials="credentials_encrypted IS NOT NULL"))
MODEL = Entity("models", "model", _columns(ModelRecord))
DATASET = Entity("datasets", "dataset", _columns(DatasetRecord))
PROMPT = Entity("prompts", "prompt", _columns(PromptRecord))
EXPERIMENT = Entity("experiments", "experiment", _columns(ExperimentRecord))
DATASET_VERSION_COLUMNS = _columns(DatasetVersionRecord)
PROMPT_VERSION_COLUMNS = _columns(PromptVersionRecord)
