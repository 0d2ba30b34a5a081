"""Dataset commands: a dataset is a named home for versions; its items arrive through `import_dataset_items`
or with an experiment spec (`register_dataset_version`)."""

from __future__ import annotations

from uuid import UUID

from benchlab.catalog.common import active_project, set_archived, write_unique
from benchlab.catalog.validation import checked, description_field, name_field
from benchlab.spec import DatasetSpec
from benchlab.spec.fields import Section
from benchlab.stores import datasets as dataset_store
from benchlab.stores.datasets import DATASET, DatasetRecord
from benchlab.stores.postgres import PgConnection


async def create_dataset(conn: PgConnection, project_id: UUID, name: str, description: str = "") -> DatasetRecord:
    def read(section: Section) -> tuple[str, str]:
        return name_field(section), description_field(section)

    name, description = checked(read, {"name": name, "description": description})
    async with conn.transaction():
        await active_project(conn, project_id)
        return await write_unique(conn, DATASET, project_id, name,
                                  lambda: dataset_store.insert_dataset(conn, project_id, name, description))


async def archive_dataset(conn: PgConnection, project_id: UUID, dataset_id: UUID) -> DatasetRecord:
    return await set_archived(conn, DATASET, project_id, dataset_id, True)


async def register_dataset_version(conn: PgConnection, project_id: UUID, dataset: DatasetSpec) -> UUID:
    """The id of the version holding exactly `dataset`'s items, stored (with the dataset) when new.

    A version is identified by its content: the same items again reuse the version that holds them, and
    any other content becomes the next version, whose items reuse their unchanged revisions. Run inside the
    caller's transaction: the version lock is held until it ends.
    """
    dataset_id = await dataset_store.ensure_dataset(conn, project_id, dataset.name)
    await dataset_store.lock_versions(conn, dataset_id)
    existing = await dataset_store.find_version_id_by_hash(conn, dataset_id, dataset.content_hash)
    if existing is not None:
        return existing
    version_id = await dataset_store.insert_version(conn, dataset_id, dataset.content_hash, len(dataset.items))
    for position, item in enumerate(dataset.items):
        await dataset_store.add_version_item(conn, dataset_id, version_id, position, item)
    return version_id
