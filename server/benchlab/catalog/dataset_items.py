"""A stored dataset version read back as spec items, so it can be extended (append) or put in a spec.

`catalog_repo` stores a non-string `expected_output` as its JSON text in a text column, so `4` and `"4"` read
back alike. The revision's content hash was computed over the original value, which tells them apart: the
text is taken as a string when that reproduces the hash, else as JSON. An exact round trip matters, since
the version's content hash (and so "is this the same version?") is computed from these items.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any
from uuid import UUID

import asyncpg

from benchlab.catalog.records import DATASET_VERSION_COLUMNS
from benchlab.spec import DatasetItem
from benchlab.spec.model import canonical_hash


async def latest_version(conn: asyncpg.Connection, dataset_id: UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {DATASET_VERSION_COLUMNS} FROM dataset_versions WHERE dataset_id = $1 "
                               "ORDER BY version DESC LIMIT 1", dataset_id)


async def version_items(conn: asyncpg.Connection, version_id: UUID) -> list[DatasetItem]:
    """The version's items in their stored order."""
    rows = await conn.fetch(
        "SELECT i.external_id, r.input, r.expected_output, r.expected_tool_calls, r.metadata, r.content_hash "
        "FROM dataset_version_items v JOIN dataset_item_revisions r ON r.id = v.revision_id "
        "JOIN dataset_items i ON i.id = r.item_id WHERE v.version_id = $1 ORDER BY v.position", version_id)
    return [_item(row) for row in rows]


def _item(row: asyncpg.Record) -> DatasetItem:
    stored_input = row["input"]
    tool_calls = row["expected_tool_calls"]
    metadata = row["metadata"]
    item = DatasetItem(id=row["external_id"], vars=stored_input.get("vars", {}),
                       messages=tuple(stored_input.get("messages", ())), expected_output=row["expected_output"],
                       expected_tool_calls=None if tool_calls is None else tuple(tool_calls), metadata=metadata)
    text = row["expected_output"]
    if text is None or _revision_hash(stored_input, text, tool_calls, metadata) == row["content_hash"]:
        return item
    try:
        decoded = json.loads(text)
    except json.JSONDecodeError:
        return item
    if _revision_hash(stored_input, decoded, tool_calls, metadata) == row["content_hash"]:
        return replace(item, expected_output=decoded)
    return item


def _revision_hash(stored_input: Any, expected_output: Any, tool_calls: Any, metadata: Any) -> str:
    """The hash `catalog_repo` gives a revision's content (same keys, same canonical JSON)."""
    return canonical_hash({"input": stored_input, "expected_output": expected_output,
                           "expected_tool_calls": tool_calls, "metadata": metadata})
