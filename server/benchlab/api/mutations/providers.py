"""Mutations for providers: LLM endpoints whose API key is stored encrypted and never returned."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from benchlab import catalog
from benchlab.api.auditing import audit
from benchlab.api.catalog_audit import audit_created
from benchlab.api.context import runtime_of
from benchlab.api.ids import expect_id
from benchlab.api.mutations.common import given, keep_unset, owned, run_command
from benchlab.api.node_lookup import reload
from benchlab.api.permissions import project_role
from benchlab.api.types.catalog import Provider
from benchlab.auth.roles import Role
from benchlab.catalog import Created


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


@strawberry.type
class ProviderMutations:
    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "input.project_id", "Project")],
                         description="Add an LLM endpoint. The API key is stored encrypted and never returned.")
    async def create_provider(self, info: Info, input: CreateProviderInput) -> ProviderPayload:
        project_id = expect_id(input.project_id, "Project", "projectId")
        record = await run_command(info, catalog.create_provider, project_id, input.name, input.type,
                                   api_base=input.api_base, transport=input.transport,
                                   max_concurrency=input.max_concurrency, api_key=input.api_key,
                                   box=runtime_of(info).secrets)
        await audit_created(info, project_id, [Created("provider", input.name, input.api_key is not None)])
        return ProviderPayload(provider=await reload(info, Provider, record.id))

    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "input.id", "Provider")],
                         description="Change a provider; set or remove its API key.")
    async def update_provider(self, info: Info, input: UpdateProviderInput) -> ProviderPayload:
        provider_id, project_id = await owned(info, input.id, "Provider")
        await run_command(info, catalog.update_provider, project_id, provider_id, box=runtime_of(info).secrets,
                          name=given(input.name), type=given(input.type), api_base=keep_unset(input.api_base),
                          transport=given(input.transport), max_concurrency=keep_unset(input.max_concurrency),
                          api_key=keep_unset(input.api_key))
        if input.api_key is not strawberry.UNSET:
            await audit(info, "provider.credentials_" + ("cleared" if input.api_key is None else "set"),
                        str(provider_id), project_id)
        return ProviderPayload(provider=await reload(info, Provider, provider_id))

    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "id", "Provider")],
                         description="Hide a provider; experiments using it keep their snapshot.")
    async def archive_provider(self, info: Info, id: strawberry.ID) -> ProviderPayload:
        provider_id, project_id = await owned(info, id, "Provider")
        await run_command(info, catalog.archive_provider, project_id, provider_id)
        return ProviderPayload(provider=await reload(info, Provider, provider_id))
