"""Mutations for datasets (with bulk item import), prompts with immutable versions, and experiments.

An experiment spec may define providers and models the project does not store yet; that creates them, so it
needs the role createProvider and createModel need (admin), and is audited like them.
"""

from __future__ import annotations

from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
import yaml
from strawberry.scalars import JSON
from strawberry.types import Info

from benchlab import catalog
from benchlab.api.catalog_audit import audit_created
from benchlab.api.context import runtime_of
from benchlab.api.ids import expect_id
from benchlab.api.mutations.common import owned, run_command
from benchlab.api.node_lookup import reload
from benchlab.api.permissions import project_role, role_in
from benchlab.api.types.catalog import Dataset, DatasetVersion, Prompt, PromptVersion
from benchlab.api.types.runs import Experiment
from benchlab.auth.roles import Role
from benchlab.catalog.experiments import CreatesCatalogEntries
from benchlab.catalog.records import ExperimentRecord
from benchlab.errors import ForbiddenError, InvalidInputError
from benchlab.stores.catalog_repo import Created


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


@strawberry.input
class CreatePromptInput:
    project_id: strawberry.ID
    name: str


@strawberry.type
class PromptPayload:
    prompt: Prompt


@strawberry.input(description="A chat template (`messages`) or a completion template (`text`), not both.")
class CreatePromptVersionInput:
    prompt_id: strawberry.ID
    version: str = strawberry.field(description="A label such as `v2`; the same label with the same content "
                                                "returns the existing version, with other content it is a CONFLICT.")
    messages: JSON | None = strawberry.field(default=None, description="[{role, content}] with {{variables}}.")
    text: str | None = None


@strawberry.type
class PromptVersionPayload:
    prompt_version: PromptVersion


@strawberry.input(description=(
    "The experiment spec, as a JSON object (`spec`) or YAML text (`specYaml`), in the same shape as a spec "
    "file. Models, prompts and the dataset may refer to ones stored in the project by name."))
class CreateExperimentInput:
    project_id: strawberry.ID
    spec: JSON | None = None
    spec_yaml: str | None = None


@strawberry.input
class UpdateExperimentInput:
    id: strawberry.ID
    spec: JSON | None = None
    spec_yaml: str | None = None


@strawberry.type
class ExperimentPayload:
    experiment: Experiment


def spec_document(spec: object, spec_yaml: str | None) -> dict:
    """The spec as a mapping, from exactly one of the two inputs."""
    if (spec is None) == (spec_yaml is None):
        raise InvalidInputError("give exactly one of `spec` (a JSON object) and `specYaml` (YAML text)")
    if spec_yaml is not None:
        try:
            spec = yaml.safe_load(spec_yaml)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            raise InvalidInputError(f"specYaml: not valid YAML{where}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(spec, dict):
        raise InvalidInputError("the spec must be a mapping (an object) at the top level")
    return spec


async def _store_experiment(info: Info, command: Any, project_id: UUID, *args: Any, spec: JSON | None,
                            spec_yaml: str | None) -> ExperimentRecord:
    """Run the create or update command, letting only admins create providers and models through the spec,
    and audit what it created."""
    role = await role_in(info, project_id)
    created: list[Created] = []
    try:
        record = await run_command(info, command, project_id, *args, spec_document(spec, spec_yaml),
                                   runtime_of(info).secrets, may_create=role is not None and role.allows(Role.ADMIN),
                                   created=created)
    except CreatesCatalogEntries as exc:
        raise ForbiddenError(
            f"this spec would create {exc}: creating providers and models needs the admin role in the project; you "
            f"have {role.value if role else 'none'}. Ask an admin to create them (createProvider, createModel), "
            "then refer to them by name alone, e.g. models: [{name: <model>}]", requiredRole="ADMIN") from None
    await audit_created(info, project_id, created, experiment=record.name)
    return record


@strawberry.type
class ContentMutations:
    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.project_id", "Project")],
                         description="Create an empty dataset; add items with importDatasetItems.")
    async def create_dataset(self, info: Info, input: CreateDatasetInput) -> DatasetPayload:
        project_id = expect_id(input.project_id, "Project", "projectId")
        record = await run_command(info, catalog.create_dataset, project_id, input.name, input.description)
        return DatasetPayload(dataset=await reload(info, "Dataset", record.id))

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "id", "Dataset")],
                         description="Hide a dataset; its versions stay readable by the runs that used them.")
    async def archive_dataset(self, info: Info, id: strawberry.ID) -> DatasetPayload:
        dataset_id, project_id = await owned(info, id, "Dataset")
        await run_command(info, catalog.archive_dataset, project_id, dataset_id)
        return DatasetPayload(dataset=await reload(info, "Dataset", dataset_id))

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.dataset_id", "Dataset")],
                         description=(
        "Import items from JSONL or CSV text as a new dataset version. Every bad line is reported (in "
        "`extensions.problems`, with its line number) and then nothing is imported."))
    async def import_dataset_items(self, info: Info, input: ImportDatasetItemsInput) -> ImportDatasetItemsPayload:
        dataset_id, project_id = await owned(info, input.dataset_id, "Dataset", "datasetId")
        result = await run_command(info, catalog.import_dataset_items, project_id, dataset_id, input.text,
                                   input.format.value, input.mode.value)
        return ImportDatasetItemsPayload(version=await reload(info, "DatasetVersion", result.version.id),
                                         created=result.created, imported_items=result.imported_items)

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.project_id", "Project")],
                         description="Create a prompt; add templates with createPromptVersion.")
    async def create_prompt(self, info: Info, input: CreatePromptInput) -> PromptPayload:
        project_id = expect_id(input.project_id, "Project", "projectId")
        record = await run_command(info, catalog.create_prompt, project_id, input.name)
        return PromptPayload(prompt=await reload(info, "Prompt", record.id))

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.prompt_id", "Prompt")],
                         description="Add an immutable version to a prompt (idempotent for identical content).")
    async def create_prompt_version(self, info: Info, input: CreatePromptVersionInput) -> PromptVersionPayload:
        prompt_id, project_id = await owned(info, input.prompt_id, "Prompt", "promptId")
        record = await run_command(info, catalog.create_prompt_version, project_id, prompt_id, input.version,
                                   messages=input.messages, text=input.text)
        return PromptVersionPayload(prompt_version=await reload(info, "PromptVersion", record.id))

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "id", "Prompt")],
                         description="Hide a prompt.")
    async def archive_prompt(self, info: Info, id: strawberry.ID) -> PromptPayload:
        prompt_id, project_id = await owned(info, id, "Prompt")
        await run_command(info, catalog.archive_prompt, project_id, prompt_id)
        return PromptPayload(prompt=await reload(info, "Prompt", prompt_id))

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.project_id", "Project")],
                         description=(
        "Store an experiment. The spec is validated completely before anything is stored: every problem is "
        "listed in `extensions.problems` with its path, e.g. `models[2].params.temperature: must be between 0 "
        "and 2`."))
    async def create_experiment(self, info: Info, input: CreateExperimentInput) -> ExperimentPayload:
        project_id = expect_id(input.project_id, "Project", "projectId")
        record = await _store_experiment(info, catalog.create_experiment, project_id, spec=input.spec,
                                         spec_yaml=input.spec_yaml)
        return ExperimentPayload(experiment=await reload(info, "Experiment", record.id))

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.id", "Experiment")],
                         description="Replace an experiment's spec (runs keep the spec they ran).")
    async def update_experiment(self, info: Info, input: UpdateExperimentInput) -> ExperimentPayload:
        experiment_id, project_id = await owned(info, input.id, "Experiment")
        await _store_experiment(info, catalog.update_experiment, project_id, experiment_id, spec=input.spec,
                                spec_yaml=input.spec_yaml)
        return ExperimentPayload(experiment=await reload(info, "Experiment", experiment_id))

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "id", "Experiment")],
                         description="Hide an experiment; its runs stay.")
    async def archive_experiment(self, info: Info, id: strawberry.ID) -> ExperimentPayload:
        experiment_id, project_id = await owned(info, id, "Experiment")
        await run_command(info, catalog.archive_experiment, project_id, experiment_id)
        return ExperimentPayload(experiment=await reload(info, "Experiment", experiment_id))
