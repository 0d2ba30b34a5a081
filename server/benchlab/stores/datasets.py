"""Datasets and their versions (tables `datasets`, `dataset_versions`, `dataset_version_items`, `dataset_items`,
`dataset_item_revisions`).

A version is an ordered list of item revisions, identified by its content hash. Revisions are append-only:
an item whose content changes gets a new revision, and older versions keep pointing at the old one.
`expected_output` is a text column: a non-string value is stored as its JSON text, and read back by
comparing with the revision's content hash, which was computed over the original value (so `4` and `"4"`
round-trip exactly, and so do the version hashes computed from read-back items). An item's own evaluators
(`assert`, stored as their documents) and `labels` are NULL when it has none, and only then left out of the
revision's content hash, so the hashes of items stored before they existed do not change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from benchlab.spec import DatasetItem
from benchlab.spec.evaluators import evaluators_from_documents
from benchlab.spec.model import canonical_hash, to_plain
from benchlab.stores.entities import Entity, StoredRecord, select_list
from benchlab.stores.postgres import PgConnection, fetch_one


@dataclass(frozen=True)
class DatasetRecord(StoredRecord):
    id: UUID
    project_id: UUID
    name: str
    description: str
    created_at: datetime
    archived_at: datetime | None


@dataclass(frozen=True)
class DatasetVersionRecord(StoredRecord):
    id: UUID
    dataset_id: UUID
    version: int
    content_hash: str
    item_count: int
    created_at: datetime


DATASET = Entity("datasets", "dataset", DatasetRecord, select_list(DatasetRecord))
VERSION_COLUMNS = select_list(DatasetVersionRecord)


async def insert_dataset(conn: PgConnection, project_id: UUID, name: str, description: str) -> DatasetRecord:
    """A new, empty dataset; a taken name raises asyncpg.UniqueViolationError."""
    row = await fetch_one(
        conn,
        f"INSERT INTO datasets (project_id, name, description) VALUES ($1, $2, $3) RETURNING {DATASET.columns}",
        project_id, name, description)
    return DatasetRecord.from_row(row)


async def find_by_name(conn: PgConnection, project_id: UUID, name: str) -> DatasetRecord | None:
    row = await conn.fetchrow(f"SELECT {DATASET.columns} FROM datasets WHERE project_id = $1 AND name = $2",
                              project_id, name)
    return None if row is None else DatasetRecord.from_row(row)


async def ensure_dataset(conn: PgConnection, project_id: UUID, name: str) -> UUID:
    """The id of the project's dataset of this name, created empty when there is none."""
    return await conn.fetchval(
        "INSERT INTO datasets (project_id, name) VALUES ($1, $2) ON CONFLICT (project_id, name) "
        "DO UPDATE SET name = EXCLUDED.name RETURNING id", project_id, name)


async def lock_versions(conn: PgConnection, dataset_id: UUID) -> None:
    """Hold the dataset's version lock until the transaction ends: whoever holds it may read the latest
    version and store the next one without another writer choosing the same number."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1::text))", str(dataset_id))


async def find_version_id_by_hash(conn: PgConnection, dataset_id: UUID, content_hash: str) -> UUID | None:
    return await conn.fetchval(
        "SELECT id FROM dataset_versions WHERE dataset_id = $1 AND content_hash = $2", dataset_id, content_hash)


async def insert_version(conn: PgConnection, dataset_id: UUID, content_hash: str, item_count: int) -> UUID:
    """A new, still empty version numbered after the latest (call with the version lock held)."""
    version = await conn.fetchval(
        "SELECT coalesce(max(version), 0) + 1 FROM dataset_versions WHERE dataset_id = $1", dataset_id)
    return await conn.fetchval(
        "INSERT INTO dataset_versions (dataset_id, version, content_hash, item_count) VALUES ($1, $2, $3, $4) "
        "RETURNING id", dataset_id, version, content_hash, item_count)


async def add_version_item(conn: PgConnection, dataset_id: UUID, version_id: UUID, position: int,
                           item: DatasetItem) -> None:
    """Put `item` at `position` of the version, as its current revision (a new one if its content changed)."""
    revision_id = await _item_revision(conn, dataset_id, item)
    await conn.execute("INSERT INTO dataset_version_items (version_id, revision_id, position) VALUES ($1, $2, $3)",
                       version_id, revision_id, position)


async def _item_revision(conn: PgConnection, dataset_id: UUID, item: DatasetItem) -> UUID:
    """The item's revision with this content: the latest one if unchanged, else a new one appended."""
    item_id = await conn.fetchval(
        "INSERT INTO dataset_items (dataset_id, external_id) VALUES ($1, $2) ON CONFLICT (dataset_id, external_id) "
        "DO UPDATE SET external_id = EXCLUDED.external_id RETURNING id", dataset_id, item.id)
    stored_input = {"messages": to_plain(item.messages)} if item.messages else {"vars": item.vars}
    asserts = None if item.asserts is None else to_plain(item.asserts)
    content_hash = _revision_hash(stored_input, item.expected_output, to_plain(item.expected_tool_calls),
                                  item.metadata, asserts, item.labels)
    latest = await conn.fetchrow(
        "SELECT id, content_hash, revision FROM dataset_item_revisions WHERE item_id = $1 "
        "ORDER BY revision DESC LIMIT 1", item_id)
    if latest is not None and latest["content_hash"] == content_hash:
        return latest["id"]
    expected = item.expected_output
    return await conn.fetchval(
        "INSERT INTO dataset_item_revisions (item_id, revision, content_hash, input, expected_output, "
        "expected_tool_calls, metadata, asserts, labels) "
        "VALUES ($1, $2, $3, $4::jsonb, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb) RETURNING id",
        item_id, (latest["revision"] + 1) if latest else 1, content_hash, stored_input,
        # expected_output is a text column, not jsonb: a non-string value is kept as its JSON text
        None if expected is None else (expected if isinstance(expected, str) else json.dumps(expected)),
        to_plain(item.expected_tool_calls), item.metadata, asserts, item.labels)


async def find_version(conn: PgConnection, version_id: UUID) -> DatasetVersionRecord:
    row = await fetch_one(conn, f"SELECT {VERSION_COLUMNS} FROM dataset_versions WHERE id = $1", version_id)
    return DatasetVersionRecord.from_row(row)


async def latest_version(conn: PgConnection, dataset_id: UUID) -> DatasetVersionRecord | None:
    row = await conn.fetchrow(f"SELECT {VERSION_COLUMNS} FROM dataset_versions WHERE dataset_id = $1 "
                              "ORDER BY version DESC LIMIT 1", dataset_id)
    return None if row is None else DatasetVersionRecord.from_row(row)


async def find_version_by_number(conn: PgConnection, dataset_id: UUID,
                                 version: int) -> DatasetVersionRecord | None:
    row = await conn.fetchrow(f"SELECT {VERSION_COLUMNS} FROM dataset_versions WHERE dataset_id = $1 "
                              "AND version = $2", dataset_id, version)
    return None if row is None else DatasetVersionRecord.from_row(row)


async def version_items(conn: PgConnection, version_id: UUID) -> list[DatasetItem]:
    """The version's items in their stored order, exactly as they were stored (see the module docstring)."""
    rows = await conn.fetch(
        "SELECT i.external_id, r.input, r.expected_output, r.expected_tool_calls, r.metadata, r.asserts, r.labels, "
        "r.content_hash "
        "FROM dataset_version_items v JOIN dataset_item_revisions r ON r.id = v.revision_id "
        "JOIN dataset_items i ON i.id = r.item_id WHERE v.version_id = $1 ORDER BY v.position", version_id)
    return [_stored_item(row) for row in rows]


def _stored_item(row: asyncpg.Record) -> DatasetItem:
    stored_input = row["input"]
    tool_calls, metadata, asserts, labels = (row[key] for key in ("expected_tool_calls", "metadata", "asserts",
                                                                   "labels"))
    item = DatasetItem(id=row["external_id"], vars=stored_input.get("vars", {}),
                       messages=tuple(stored_input.get("messages", ())), expected_output=row["expected_output"],
                       expected_tool_calls=None if tool_calls is None else tuple(tool_calls), metadata=metadata,
                       # stored as EvaluatorSpec.as_document wrote them: read back by the spec's own rules
                       asserts=None if asserts is None else evaluators_from_documents(asserts), labels=labels)
    text = row["expected_output"]
    rest = (tool_calls, metadata, asserts, labels)
    if text is None or _revision_hash(stored_input, text, *rest) == row["content_hash"]:
        return item
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError:
        return item
    if _revision_hash(stored_input, decoded, *rest) == row["content_hash"]:
        return replace(item, expected_output=decoded)
    return item


def _revision_hash(stored_input: Any, expected_output: Any, tool_calls: Any, metadata: Any, asserts: Any,
                   labels: Any) -> str:
    """A revision's content hash, the same for what `_item_revision` stores and what `_stored_item` reads back.
    `asserts` and `labels` count only when set, so an item without them keeps the hash it always had."""
    content = {"input": stored_input, "expected_output": expected_output, "expected_tool_calls": tool_calls,
               "metadata": metadata}
    if asserts is not None:
        content["asserts"] = asserts
    if labels is not None:
        content["labels"] = labels
    return canonical_hash(content)
