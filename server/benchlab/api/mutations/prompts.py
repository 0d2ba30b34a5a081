"""Mutations for prompts and their immutable versions."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from benchlab import catalog
from benchlab.api.ids import expect_id
from benchlab.api.mutations.common import owned, run_command
from benchlab.api.node_lookup import reload
from benchlab.api.permissions import project_role
from benchlab.api.types.catalog import Prompt, PromptVersion
from benchlab.auth.roles import Role


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


@strawberry.type
class PromptMutations:
    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.project_id", "Project")],
                         description="Create a prompt; add templates with createPromptVersion.")
    async def create_prompt(self, info: Info, input: CreatePromptInput) -> PromptPayload:
        project_id = expect_id(input.project_id, "Project", "projectId")
        record = await run_command(info, catalog.create_prompt, project_id, input.name)
        return PromptPayload(prompt=await reload(info, Prompt, record.id))

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "input.prompt_id", "Prompt")],
                         description="Add an immutable version to a prompt (idempotent for identical content).")
    async def create_prompt_version(self, info: Info, input: CreatePromptVersionInput) -> PromptVersionPayload:
        prompt_id, project_id = await owned(info, input.prompt_id, "Prompt", "promptId")
        record = await run_command(info, catalog.create_prompt_version, project_id, prompt_id, input.version,
                                   messages=input.messages, text=input.text)
        return PromptVersionPayload(prompt_version=await reload(info, PromptVersion, record.id))

    @strawberry.mutation(permission_classes=[project_role(Role.MEMBER, "id", "Prompt")],
                         description="Hide a prompt.")
    async def archive_prompt(self, info: Info, id: strawberry.ID) -> PromptPayload:
        prompt_id, project_id = await owned(info, id, "Prompt")
        await run_command(info, catalog.archive_prompt, project_id, prompt_id)
        return PromptPayload(prompt=await reload(info, Prompt, prompt_id))
