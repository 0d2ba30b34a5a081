"""Project-level entities as GraphQL types: projects, providers, models, datasets, prompts.

Each type is built from its PostgreSQL row (`from_row`); relations and lists resolve through the request's
DataLoaders. Provider credentials are write-only: only `hasCredentials` is ever exposed.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from benchlab.api import lists
from benchlab.api.context import loaders_of
from benchlab.api.ids import encode_global_id
from benchlab.api.loaders import ListArgs
from benchlab.api.pagination import Connection
from benchlab.api.permissions import on_this_project
from benchlab.api.types.access import ApiKey, AuditEntry, ProjectMember
from benchlab.api.types.alerts import ProjectAlerts
from benchlab.api.types.node import Node, node_type
from benchlab.api.types.run_lists import RunFilter, RunOrder, run_connection
from benchlab.auth.roles import Role
from benchlab.stores import listing

if TYPE_CHECKING:
    from benchlab.api.types.production import ProductionScoring
    from benchlab.api.types.runs import Experiment, Run

ExperimentRef = Annotated["Experiment", strawberry.lazy("benchlab.api.types.runs")]
RunRef = Annotated["Run", strawberry.lazy("benchlab.api.types.runs")]
ProductionScoringRef = Annotated["ProductionScoring", strawberry.lazy("benchlab.api.types.production")]

INCLUDE_ARCHIVED = "Also list archived items (default: only active ones)."
IncludeArchived = Annotated[bool, strawberry.argument(description=INCLUDE_ARCHIVED)]


@strawberry.type(description="A workspace: its providers, models, datasets, prompts, experiments and runs.")
class Project(ProjectAlerts, Node):
    db_id: strawberry.Private[UUID]
    slug: str = strawberry.field(description="URL-safe unique name, `^[a-z0-9][a-z0-9-]{0,62}$`.")
    name: str
    description: str
    created_at: datetime
    archived_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Project:
        return cls(id=strawberry.ID(encode_global_id("Project", row["id"])), db_id=row["id"], slug=row["slug"],
                   name=row["name"], description=row["description"], created_at=row["created_at"],
                   archived_at=row["archived_at"])

    @strawberry.field(description="LLM endpoints of this project.")
    async def providers(self, info: Info, first: int, after: str | None = None,
                        include_archived: IncludeArchived = False) -> Connection[Provider]:
        return await lists.connection(info, listing.PROJECT_PROVIDERS, self.db_id, first, after, Provider.from_row,
                                      lists.archived_filter(include_archived))

    @strawberry.field(description="Models (a provider's model id with prices and fixed params).")
    async def models(self, info: Info, first: int, after: str | None = None,
                     include_archived: IncludeArchived = False) -> Connection[Model]:
        return await lists.connection(info, listing.PROJECT_MODELS, self.db_id, first, after, Model.from_row,
                                      lists.archived_filter(include_archived))

    @strawberry.field(description="Datasets, each with immutable versions.")
    async def datasets(self, info: Info, first: int, after: str | None = None,
                       include_archived: IncludeArchived = False) -> Connection[Dataset]:
        return await lists.connection(info, listing.PROJECT_DATASETS, self.db_id, first, after, Dataset.from_row,
                                      lists.archived_filter(include_archived))

    @strawberry.field(description="Prompt templates, each with immutable versions.")
    async def prompts(self, info: Info, first: int, after: str | None = None,
                      include_archived: IncludeArchived = False) -> Connection[Prompt]:
        return await lists.connection(info, listing.PROJECT_PROMPTS, self.db_id, first, after, Prompt.from_row,
                                      lists.archived_filter(include_archived))

    @strawberry.field(description="Experiments (a spec: models × prompts × params × items × repetitions).")
    async def experiments(self, info: Info, first: int, after: str | None = None,
                          include_archived: IncludeArchived = False) -> Connection[ExperimentRef]:
        return await lists.connection(info, listing.PROJECT_EXPERIMENTS, self.db_id, first, after,
                                      node_type("Experiment").from_row, lists.archived_filter(include_archived))

    @strawberry.field(permission_classes=[on_this_project(Role.VIEWER)],
                      description="Who may use the project, and with which role.")
    async def members(self, info: Info, first: int, after: str | None = None) -> Connection[ProjectMember]:
        return await lists.connection(info, listing.PROJECT_MEMBERS, self.db_id, first, after, ProjectMember.from_row)

    @strawberry.field(permission_classes=[on_this_project(Role.ADMIN)], description="API keys, newest first.")
    async def api_keys(self, info: Info, first: int, after: str | None = None,
                       include_revoked: bool = False) -> Connection[ApiKey]:
        filters = () if include_revoked else (listing.NOT_REVOKED,)
        return await lists.connection(info, listing.PROJECT_API_KEYS, self.db_id, first, after, ApiKey.from_row,
                                      filters)

    @strawberry.field(permission_classes=[on_this_project(Role.ADMIN)],
                      description="What happened in this project, newest first.")
    async def audit_log(self, info: Info, first: int, after: str | None = None) -> Connection[AuditEntry]:
        return await lists.connection(info, listing.PROJECT_AUDIT, self.db_id, first, after, AuditEntry.from_row)

    @strawberry.field(description="Runs of every experiment of the project, newest first by default.")
    async def runs(self, info: Info, first: int, after: str | None = None, filter: RunFilter | None = None,
                   order_by: RunOrder | None = None) -> Connection[RunRef]:
        return await run_connection(info, listing.PROJECT_RUNS, self.db_id, first, after, filter, order_by)

    @strawberry.field(description=(
        "How a sample of the project's production traffic is scored (setProductionScoring); null when it is not."))
    async def production_scoring(self, info: Info) -> ProductionScoringRef | None:
        from benchlab.api.types.production import production_scoring_of

        return await production_scoring_of(info, self.db_id)


@strawberry.type(description="An LLM endpoint reached through litellm (or directly when OpenAI-compatible).")
class Provider(Node):
    db_id: strawberry.Private[UUID]
    project_id: strawberry.Private[UUID]
    name: str
    type: str = strawberry.field(description="litellm provider prefix: openai, anthropic, azure, bedrock, …")
    api_base: str | None
    transport: str = strawberry.field(description="`auto`, `litellm` or `direct` (own HTTP client, "
                                                  "OpenAI-compatible endpoints only).")
    max_concurrency: int | None = strawberry.field(description="Cap on requests in flight to this provider.")
    has_credentials: bool = strawberry.field(description="An API key is stored (encrypted). The key itself is "
                                                         "write-only and never returned.")
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Provider:
        return cls(id=strawberry.ID(encode_global_id("Provider", row["id"])), db_id=row["id"],
                   project_id=row["project_id"], name=row["name"], type=row["provider_type"],
                   api_base=row["api_base"], transport=row["transport"], max_concurrency=row["max_concurrency"],
                   has_credentials=row["credentials_encrypted"] is not None, created_at=row["created_at"],
                   updated_at=row["updated_at"], archived_at=row["archived_at"])

    @strawberry.field
    async def project(self, info: Info) -> Project:
        return Project.from_row(await loaders_of(info).row("projects", self.project_id))


@strawberry.type(description="A model of a provider, with the prices used for cost and fixed request params.")
class Model(Node):
    db_id: strawberry.Private[UUID]
    project_id: strawberry.Private[UUID]
    provider_id: strawberry.Private[UUID]
    name: str = strawberry.field(description="The label results are grouped by.")
    model_id: str = strawberry.field(description="The provider's model id as litellm names it.")
    input_price_per_mtok: float | None = strawberry.field(
        description="USD per million prompt tokens; overrides litellm's price map. Null: use the price map.")
    output_price_per_mtok: float | None = strawberry.field(
        description="USD per million completion tokens; overrides litellm's price map.")
    params: JSON = strawberry.field(description="Request params fixed for this model (override grid values).")
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Model:
        return cls(id=strawberry.ID(encode_global_id("Model", row["id"])), db_id=row["id"],
                   project_id=row["project_id"], provider_id=row["provider_id"], name=row["name"],
                   model_id=row["model_id"], input_price_per_mtok=row["input_price_per_mtok"],
                   output_price_per_mtok=row["output_price_per_mtok"], params=row["params"],
                   created_at=row["created_at"], updated_at=row["updated_at"], archived_at=row["archived_at"])

    @strawberry.field
    async def provider(self, info: Info) -> Provider:
        return Provider.from_row(await loaders_of(info).row("providers", self.provider_id))

    @strawberry.field
    async def project(self, info: Info) -> Project:
        return Project.from_row(await loaders_of(info).row("projects", self.project_id))


@strawberry.type(description="A named collection of items; every change makes a new immutable version.")
class Dataset(Node):
    db_id: strawberry.Private[UUID]
    project_id: strawberry.Private[UUID]
    name: str
    description: str
    created_at: datetime
    archived_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Dataset:
        return cls(id=strawberry.ID(encode_global_id("Dataset", row["id"])), db_id=row["id"],
                   project_id=row["project_id"], name=row["name"], description=row["description"],
                   created_at=row["created_at"], archived_at=row["archived_at"])

    @strawberry.field(description="Versions, newest first.")
    async def versions(self, info: Info, first: int, after: str | None = None) -> Connection[DatasetVersion]:
        return await lists.connection(info, listing.DATASET_VERSIONS, self.db_id, first, after,
                                      DatasetVersion.from_row)

    @strawberry.field(description="The newest version, or null before any items were imported.")
    async def latest_version(self, info: Info) -> DatasetVersion | None:
        page = await loaders_of(info).page(listing.DATASET_VERSIONS, self.db_id, ListArgs(first=1))
        return DatasetVersion.from_row(page.rows[0]) if page.rows else None

    @strawberry.field
    async def project(self, info: Info) -> Project:
        return Project.from_row(await loaders_of(info).row("projects", self.project_id))


@strawberry.type(description="An immutable snapshot of a dataset's items, identified by its content.")
class DatasetVersion(Node):
    db_id: strawberry.Private[UUID]
    dataset_id: strawberry.Private[UUID]
    version: int = strawberry.field(description="1, 2, 3 … per dataset.")
    item_count: int
    content_hash: str = strawberry.field(description="Hash of the items: equal hashes, equal content.")
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> DatasetVersion:
        return cls(id=strawberry.ID(encode_global_id("DatasetVersion", row["id"])), db_id=row["id"],
                   dataset_id=row["dataset_id"], version=row["version"], item_count=row["item_count"],
                   content_hash=row["content_hash"], created_at=row["created_at"])

    @strawberry.field(description="Items in dataset order.")
    async def items(self, info: Info, first: int, after: str | None = None) -> Connection[DatasetItem]:
        return await lists.connection(info, listing.VERSION_ITEMS, self.db_id, first, after, DatasetItem.from_row)

    @strawberry.field
    async def dataset(self, info: Info) -> Dataset:
        return Dataset.from_row(await loaders_of(info).row("datasets", self.dataset_id))


@strawberry.type(description="One item as it is in a dataset version (an item revision: revisions are "
                             "append-only, so old versions keep their content).")
class DatasetItem(Node):
    dataset_id: strawberry.Private[UUID]
    external_id: str = strawberry.field(description="The item's id in the dataset (e.g. `q1`, `item-0001`).")
    revision: int = strawberry.field(description="1 for the item's first content, +1 per change.")
    input: JSON = strawberry.field(description="`{vars: {...}}` (template variables) or `{messages: [...]}`.")
    expected_output: str | None
    expected_tool_calls: JSON | None
    metadata: JSON
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> DatasetItem:
        return cls(id=strawberry.ID(encode_global_id("DatasetItem", row["id"])), dataset_id=row["dataset_id"],
                   external_id=row["external_id"],
                   revision=row["revision"], input=row["input"],
                   expected_output=row["expected_output"], expected_tool_calls=row["expected_tool_calls"],
                   metadata=row["metadata"], created_at=row["created_at"])


@strawberry.type(description="A prompt template with immutable versions.")
class Prompt(Node):
    db_id: strawberry.Private[UUID]
    project_id: strawberry.Private[UUID]
    name: str
    created_at: datetime
    archived_at: datetime | None

    @classmethod
    def from_row(cls, row: Any) -> Prompt:
        return cls(id=strawberry.ID(encode_global_id("Prompt", row["id"])), db_id=row["id"],
                   project_id=row["project_id"], name=row["name"], created_at=row["created_at"],
                   archived_at=row["archived_at"])

    @strawberry.field(description="Versions, newest first.")
    async def versions(self, info: Info, first: int, after: str | None = None) -> Connection[PromptVersion]:
        return await lists.connection(info, listing.PROMPT_VERSIONS, self.db_id, first, after, PromptVersion.from_row)

    @strawberry.field
    async def project(self, info: Info) -> Project:
        return Project.from_row(await loaders_of(info).row("projects", self.project_id))


@strawberry.type(description="An immutable prompt template: chat `messages` or a completion `text`, with "
                             "`{{variable}}` placeholders filled from dataset items.")
class PromptVersion(Node):
    db_id: strawberry.Private[UUID]
    prompt_id: strawberry.Private[UUID]
    version: str = strawberry.field(description="The version label, e.g. `v1`.")
    template: JSON = strawberry.field(description="`{messages: [{role, content}]}` or `{text: ...}`.")
    content_hash: str
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> PromptVersion:
        return cls(id=strawberry.ID(encode_global_id("PromptVersion", row["id"])), db_id=row["id"],
                   prompt_id=row["prompt_id"], version=row["version"], template=row["template"],
                   content_hash=row["content_hash"], created_at=row["created_at"])

    @strawberry.field
    async def prompt(self, info: Info) -> Prompt:
        return Prompt.from_row(await loaders_of(info).row("prompts", self.prompt_id))
