"""Dataset commands: a dataset is a named home for versions; its items arrive through `import_dataset_items`."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from benchlab.catalog.common import active_project, set_archived, write_unique
from benchlab.catalog.records import DATASET, DatasetRecord
from benchlab.catalog.validation import checked, description_field, name_field
from benchlab.spec.fields import Section


async def create_dataset(conn: asyncpg.Connection, project_id: UUID, name: str, description: str = "") -> DatasetRecord:
    def read(section: Section) -> tuple[str, str]:
        return name_field(section), description_field(section)

    name, description = checked(read, {"name": name, "description": description})
    async with conn.transaction():
        await active_project(conn, project_id)
        row = await write_unique(
            conn, DATASET, project_id, name,
            f"INSERT INTO datasets (project_id, name, description) VALUES ($1, $2, $3) RETURNING {DATASET.columns}",
            project_id, name, description)
    return DatasetRecord.from_row(row)


async def archive_dataset(conn: asyncpg.Connection, project_id: UUID, dataset_id: UUID) -> DatasetRecord:
    return DatasetRecord.from_row(await set_archived(conn, DATASET, project_id, dataset_id, True))


async def unarchive_dataset(conn: asyncpg.Connection, project_id: UUID, dataset_id: UUID) -> DatasetRecord:
    return DatasetRecord.from_row(await set_archived(conn, DATASET, project_id, dataset_id, False))
