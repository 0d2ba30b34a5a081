"""Import JSONL or CSV items into a stored dataset as a new version (stored by `register_dataset_version`).

- `replace`: the new version holds exactly the imported items.
- `append`: the latest version's items, then the imported ones; an imported item whose id already exists
  takes that item's place with its new content (a new revision; older versions keep the old one).
An item without an id is numbered by its position in the text (`item-0001`, ...), as in spec files. When
appending, such a default id must not silently overwrite a different stored item: that is reported, so
adding id-less items twice is refused instead of replacing the first batch.

A version is identified by its content: an import that results in content already stored (a repeated
import, say) returns that version with `created` False. Note that this may be an older version than the
latest. The text is parsed before the transaction starts, and any problem leaves the database untouched.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from uuid import UUID

from benchlab.catalog.common import active_project, ensure_active, fetch_owned
from benchlab.catalog.dataset_text import ImportedItem, parse_items
from benchlab.catalog.datasets import register_dataset_version
from benchlab.errors import InvalidInputError
from benchlab.spec import DatasetItem, DatasetSpec
from benchlab.stores import datasets as dataset_store
from benchlab.stores.datasets import DATASET, DatasetVersionRecord
from benchlab.stores.postgres import PgConnection

MODES = ("append", "replace")


@dataclass(frozen=True)
class DatasetImportResult:
    """The version an import resulted in; `created` is False when identical content was already a version."""

    version: DatasetVersionRecord
    created: bool
    imported_items: int


async def import_dataset_items(conn: PgConnection, project_id: UUID, dataset_id: UUID, text: str,
                               format: str, mode: str) -> DatasetImportResult:
    if mode not in MODES:
        raise InvalidInputError([f"mode: '{mode}' is not one of {', '.join(MODES)}"])
    # Up to 20 MB of parsing: off the event loop, which may be timing a benchmark run meanwhile.
    imported = await asyncio.to_thread(parse_items, text, format)
    async with conn.transaction():
        await active_project(conn, project_id)
        dataset = await fetch_owned(conn, DATASET, project_id, dataset_id)
        ensure_active(dataset, DATASET)
        # The lock register_dataset_version takes before choosing a version number: the latest version cannot
        # change between reading it here and storing the next one.
        await dataset_store.lock_versions(conn, dataset_id)
        latest = await dataset_store.latest_version(conn, dataset_id)
        items = [entry.item for entry in imported]
        if mode == "append" and latest is not None:
            items = _appended(await dataset_store.version_items(conn, latest.id), imported)
        version_id = await register_dataset_version(conn, project_id, DatasetSpec(dataset.name, tuple(items)))
        version = await dataset_store.find_version(conn, version_id)
    created = latest is None or version.version > latest.version
    return DatasetImportResult(version, created, len(imported))


def _appended(current: list[DatasetItem], imported: list[ImportedItem]) -> list[DatasetItem]:
    items = list(current)
    index_of = {item.id: index for index, item in enumerate(items)}
    problems = []
    for entry in imported:
        index = index_of.get(entry.item.id)
        if index is None:
            index_of[entry.item.id] = len(items)
            items.append(entry.item)
        elif entry.has_own_id or items[index] == entry.item:
            items[index] = entry.item
        else:
            problems.append(f"line {entry.line}: has no id, and the id it gets by position, '{entry.item.id}', "
                            "names a stored item with other content; give it an id of its own (or "
                            f"id: {entry.item.id} to replace that item), or import with mode replace")
    if problems:
        raise InvalidInputError(problems)
    return items
