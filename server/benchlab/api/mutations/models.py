"""Mutations for models: a provider's model with prices and fixed request params."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from benchlab import catalog
from benchlab.api.catalog_audit import audit_created
from benchlab.api.ids import expect_id
from benchlab.api.mutations.common import given, keep_unset, owned, run_command
from benchlab.api.node_lookup import reload
from benchlab.api.permissions import project_role
from benchlab.api.types.catalog import Model
from benchlab.auth.roles import Role
from benchlab.catalog import Created


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


@strawberry.type
class ModelMutations:
    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "input.provider_id", "Provider")],
                         description="Add a model of a provider, with prices and fixed params.")
    async def create_model(self, info: Info, input: CreateModelInput) -> ModelPayload:
        provider_id, project_id = await owned(info, input.provider_id, "Provider", "providerId")
        record = await run_command(info, catalog.create_model, project_id, provider_id, input.name, input.model_id,
                                   input_price_per_mtok=input.input_price_per_mtok,
                                   output_price_per_mtok=input.output_price_per_mtok, params=input.params)
        await audit_created(info, project_id, [Created("model", input.name)])
        return ModelPayload(model=await reload(info, Model, record.id))

    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "input.id", "Model")],
                         description="Change a model.")
    async def update_model(self, info: Info, input: UpdateModelInput) -> ModelPayload:
        model_id, project_id = await owned(info, input.id, "Model")
        provider = given(input.provider_id)
        await run_command(info, catalog.update_model, project_id, model_id,
                          provider_id=expect_id(provider, "Provider", "providerId") if provider else None,
                          name=given(input.name), model_id=given(input.model_id),
                          input_price_per_mtok=keep_unset(input.input_price_per_mtok),
                          output_price_per_mtok=keep_unset(input.output_price_per_mtok),
                          params=given(input.params))
        return ModelPayload(model=await reload(info, Model, model_id))

    @strawberry.mutation(permission_classes=[project_role(Role.ADMIN, "id", "Model")],
                         description="Hide a model.")
    async def archive_model(self, info: Info, id: strawberry.ID) -> ModelPayload:
        model_id, project_id = await owned(info, id, "Model")
        await run_command(info, catalog.archive_model, project_id, model_id)
        return ModelPayload(model=await reload(info, Model, model_id))
