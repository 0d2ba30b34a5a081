"""Mutations for datasets: create, import items (JSONL or CSV) as a new version, archive."""

from __future__ import annotations

from enum import Enum

import strawberry
from strawberry.types import Info

from benchlab import catalog
from benchlab.api.ids import expect_id
from benchlab.api.mutations.common import owned, run_command
from benchlab.api.node_lookup import reload
from benchlab.api.permissions import project_role
from benchlab.api.types.catalog import Dataset, DatasetVersion
from benchlab.auth.roles import Role


@strawberry.enum
class ImportFormat(Enum):
    JSONL = "jsonl"
    CSV = "csv"


@strawberry.enum
class ImportMode(Enum):
    APPEND = "append"
    REPLACE = "replace"


@strawberry.input
class CreateDatasetInput:
    project_id: strawberry.ID
    name: str
    description: str = ""


@strawberry.type
class DatasetPayload:
    dataset: Dataset


@strawberry.input(description=(
    "Items as JSONL (one JSON object per line: id, vars or messages, expected_output, expected_tool_calls, "
    "metadata) or CSV (a header row; columns id, expected_output, expected_tool_calls and metadata are special, "
    "every other column is a template variable)."))
class ImportDatasetItemsInput:
    dataset_id: strawberry.ID
    text: str
    format: ImportFormat
    mode: ImportMode = strawberry.field(default=ImportMode.APPEND, description=(
        "APPEND: the latest version's items plus these (same id: new content). REPLACE: exactly these."))


@strawberry.type
class ImportDatasetItemsPayload:
    version: DatasetVersion = strawberry.field(description="The resulting version.")
    created: bool = strawberry.field(description="False when identical content was already a version.")
    imported_items: int


@strawberry.type
class DatasetMutations:
    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.project_id", "Project")],
                         description="Create an empty dataset; add items with importDatasetItems.")
    async def create_dataset(self, info: Info, input: CreateDatasetInput) -> DatasetPayload:
        project_id = expect_id(input.project_id, "Project", "projectId")
        record = await run_command(info, catalog.create_dataset, project_id, input.name, input.description)
        return DatasetPayload(dataset=await reload(info, Dataset, record.id))

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "id", "Dataset")],
                         description="Hide a dataset; its versions stay readable by the runs that used them.")
    async def archive_dataset(self, info: Info, id: strawberry.ID) -> DatasetPayload:
        dataset_id, project_id = await owned(info, id, "Dataset")
        await run_command(info, catalog.archive_dataset, project_id, dataset_id)
        return DatasetPayload(dataset=await reload(info, Dataset, dataset_id))

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.dataset_id", "Dataset")],
                         description=(
        "Import items from JSONL or CSV text as a new dataset version. Every bad line is reported (in "
        "`extensions.problems`, with its line number) and then nothing is imported."))
    async def import_dataset_items(self, info: Info, input: ImportDatasetItemsInput) -> ImportDatasetItemsPayload:
        dataset_id, project_id = await owned(info, input.dataset_id, "Dataset", "datasetId")
        result = await run_command(info, catalog.import_dataset_items, project_id, dataset_id, input.text,
                                   input.format.value, input.mode.value)
        return ImportDatasetItemsPayload(version=await reload(info, DatasetVersion, result.version.id),
                                         created=result.created, imported_items=result.imported_items)
