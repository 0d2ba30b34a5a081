"""Mutations for projects, providers and models."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from benchlab import catalog
from benchlab.api.auditing import audit
from benchlab.api.catalog_audit import audit_created
from benchlab.api.context import identity_of, runtime_of
from benchlab.api.ids import expect_id
from benchlab.api.mutations.common import keep_unset, owned, run_command
from benchlab.api.node_lookup import reload
from benchlab.api.permissions import SignedIn, project_role
from benchlab.api.types.catalog import Model, Project, Provider
from benchlab.auth.roles import Role
from benchlab.errors import ForbiddenError
from benchlab.stores.catalog_repo import Created


@strawberry.input
class CreateProjectInput:
    slug: str = strawberry.field(description="Unique, `^[a-z0-9][a-z0-9-]{0,62}$`.")
    name: str
    description: str = ""


@strawberry.input
class UpdateProjectInput:
    id: strawberry.ID
    name: str | None = None
    description: str | None = None


@strawberry.type
class ProjectPayload:
    project: Project


@strawberry.input
class CreateProviderInput:
    project_id: strawberry.ID
    name: str
    type: str = strawberry.field(description="litellm provider prefix: openai, anthropic, azure, bedrock, …")
    api_base: str | None = None
    transport: str = "auto"
    max_concurrency: int | None = None
    api_key: str | None = strawberry.field(default=None, description="Stored encrypted; never returned.")


@strawberry.input(description="Omitted fields stay as they are; `null` clears apiBase, maxConcurrency, apiKey.")
class UpdateProviderInput:
    id: strawberry.ID
    name: str | None = strawberry.UNSET
    type: str | None = strawberry.UNSET
    api_base: str | None = strawberry.UNSET
    transport: str | None = strawberry.UNSET
    max_concurrency: int | None = strawberry.UNSET
    api_key: str | None = strawberry.field(default=strawberry.UNSET,
                                           description="A new key (stored encrypted), or null to remove it.")


@strawberry.type
class ProviderPayload:
    provider: Provider


@strawberry.input
class CreateModelInput:
    provider_id: strawberry.ID
    name: str = strawberry.field(description="The label results are grouped by; unique in the project.")
    model_id: str = strawberry.field(description="The provider's model id as litellm names it.")
    input_price_per_mtok: float | None = None
    output_price_per_mtok: float | None = None
    params: JSON | None = strawberry.field(default=None, description="Request params fixed for this model.")


@strawberry.input(description="Omitted fields stay as they are; `null` prices fall back to litellm's price map.")
class UpdateModelInput:
    id: strawberry.ID
    provider_id: strawberry.ID | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    model_id: str | None = strawberry.UNSET
    input_price_per_mtok: float | None = strawberry.UNSET
    output_price_per_mtok: float | None = strawberry.UNSET
    params: JSON | None = strawberry.UNSET


@strawberry.type
class ModelPayload:
    model: Model


def _given(value: object) -> object:
    """Required fields in updates: omitted or null both mean "leave as is"."""
    return None if value is strawberry.UNSET else value


@strawberry.type
class ProjectMutations:
    @strawberry.mutation(permission_classes=[SignedIn],
                         description="Create a project.")
    async def create_project(self, info: Info, input: CreateProjectInput) -> ProjectPayload:
        identity = identity_of(info)
        if identity.user_id is None:
            raise ForbiddenError("projects are created by signed-in users; API keys belong to one project")
        async with runtime_of(info).pg.acquire() as conn, conn.transaction():
            record = await catalog.create_project(conn, input.slug, input.name, input.description)
            await conn.execute("INSERT INTO project_members (project_id, user_id, role) VALUES ($1, $2, 'owner')",
                               record.id, identity.user_id)
        await audit(info, "project.create", input.slug, record.id)
        return ProjectPayload(project=await reload(info, "Project", record.id))

    @strawberry.mutation(permission_classes=[project_role(Role.OWNER, "input.id", "Project")],
                         description="Rename or describe a project.")
    async def update_project(self, info: Info, input: UpdateProjectInput) -> ProjectPayload:
        project_id = expect_id(input.id, "Project")
        await run_command(info, catalog.update_project, project_id, input.name, input.description)
        return ProjectPayload(project=await reload(info, "Project", project_id))

    @strawberry.mutation(permission_classes=[project_role(Role.OWNER, "id", "Project")],
                         description="Hide a project from lists; its data stays. Archiving twice does nothing.")
    async def archive_project(self, info: Info, id: strawberry.ID) -> ProjectPayload:
        project_id = expect_id(id, "Project")
        await run_command(info, catalog.archive_project, project_id)
        return ProjectPayload(project=await reload(info, "Project", project_id))

    @strawberry.mutation(permission_classes=[project_role(Role.OWNER, "id", "Project")],
                         description="Bring an archived project back.")
    async def unarchive_project(self, info: Info, id: strawberry.ID) -> ProjectPayload:
        project_id = expect_id(id, "Project")
        await run_command(info, catalog.unarchive_project, project_id)
        return ProjectPayload(project=await reload(info, "Project", project_id))

    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "input.project_id", "Project")],
                         description="Add an LLM endpoint. The API key is stored encrypted and never returned.")
    async def create_provider(self, info: Info, input: CreateProviderInput) -> ProviderPayload:
        project_id = expect_id(input.project_id, "Project", "projectId")
        record = await run_command(info, catalog.create_provider, project_id, input.name, input.type,
                                   api_base=input.api_base, transport=input.transport,
                                   max_concurrency=input.max_concurrency, api_key=input.api_key,
                                   box=runtime_of(info).secrets)
        await audit_created(info, project_id, [Created("provider", input.name, input.api_key is not None)])
        return ProviderPayload(provider=await reload(info, "Provider", record.id))

    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "input.id", "Provider")],
                         description="Change a provider; set or remove its API key.")
    async def update_provider(self, info: Info, input: UpdateProviderInput) -> ProviderPayload:
        provider_id, project_id = await owned(info, input.id, "Provider")
        await run_command(info, catalog.update_provider, project_id, provider_id, box=runtime_of(info).secrets,
                          name=_given(input.name), type=_given(input.type), api_base=keep_unset(input.api_base),
                          transport=_given(input.transport), max_concurrency=keep_unset(input.max_concurrency),
                          api_key=keep_unset(input.api_key))
        if input.api_key is not strawberry.UNSET:
            await audit(info, "provider.credentials_" + ("cleared" if input.api_key is None else "set"),
                        str(provider_id), project_id)
        return ProviderPayload(provider=await reload(info, "Provider", provider_id))

    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "id", "Provider")],
                         description="Hide a provider; experiments using it keep their snapshot.")
    async def archive_provider(self, info: Info, id: strawberry.ID) -> ProviderPayload:
        provider_id, project_id = await owned(info, id, "Provider")
        await run_command(info, catalog.archive_provider, project_id, provider_id)
        return ProviderPayload(provider=await reload(info, "Provider", provider_id))

    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "input.provider_id", "Provider")],
                         description="Add a model of a provider, with prices and fixed params.")
    async def create_model(self, info: Info, input: CreateModelInput) -> ModelPayload:
        provider_id, project_id = await owned(info, input.provider_id, "Provider", "providerId")
        record = await run_command(info, catalog.create_model, project_id, provider_id, input.name, input.model_id,
                                   input_price_per_mtok=input.input_price_per_mtok,
                                   output_price_per_mtok=input.output_price_per_mtok, params=input.params)
        await audit_created(info, project_id, [Created("model", input.name)])
        return ModelPayload(model=await reload(info, "Model", record.id))

    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "input.id", "Model")],
                         description="Change a model.")
    async def update_model(self, info: Info, input: UpdateModelInput) -> ModelPayload:
        model_id, project_id = await owned(info, input.id, "Model")
        provider = _given(input.provider_id)
        await run_command(info, catalog.update_model, project_id, model_id,
                          provider_id=expect_id(provider, "Provider", "providerId") if provider else None,
                          name=_given(input.name), model_id=_given(input.model_id),
                          input_price_per_mtok=keep_unset(input.input_price_per_mtok),
                          output_price_per_mtok=keep_unset(input.output_price_per_mtok),
                          params=_given(input.params))
        return ModelPayload(model=await reload(info, "Model", model_id))

    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "id", "Model")],
                         description="Hide a model.")
    async def archive_model(self, info: Info, id: strawberry.ID) -> ModelPayload:
        model_id, project_id = await owned(info, id, "Model")
        await run_command(info, catalog.archive_model, project_id, model_id)
        return ModelPayload(model=await reload(info, "Model", model_id))
