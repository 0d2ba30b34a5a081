"""Mutations for projects: create (the creator becomes its owner), rename or describe, archive, unarchive."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from benchlab import catalog
from benchlab.api.auditing import audit
from benchlab.api.context import identity_of, runtime_of
from benchlab.api.ids import expect_id
from benchlab.api.mutations.common import run_command
from benchlab.api.node_lookup import reload
from benchlab.api.permissions import SignedIn, project_role
from benchlab.api.types.catalog import Project
from benchlab.auth.roles import Role
from benchlab.errors import ForbiddenError
from benchlab.stores import memberships


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
            await memberships.set_role(conn, record.id, identity.user_id, Role.OWNER.value)
        await audit(info, "project.create", input.slug, record.id)
        return ProjectPayload(project=await reload(info, Project, record.id))

    @strawberry.mutation(permission_classes=[project_role(Role.OWNER, "input.id", "Project")],
                         description="Rename or describe a project.")
    async def update_project(self, info: Info, input: UpdateProjectInput) -> ProjectPayload:
        project_id = expect_id(input.id, "Project")
        await run_command(info, catalog.update_project, project_id, input.name, input.description)
        return ProjectPayload(project=await reload(info, Project, project_id))

    @strawberry.mutation(permission_classes=[project_role(Role.OWNER, "id", "Project")],
                         description="Hide a project from lists; its data stays. Archiving twice does nothing.")
    async def archive_project(self, info: Info, id: strawberry.ID) -> ProjectPayload:
        project_id = expect_id(id, "Project")
        await run_command(info, catalog.archive_project, project_id)
        return ProjectPayload(project=await reload(info, Project, project_id))

    @strawberry.mutation(permission_classes=[project_role(Role.OWNER, "id", "Project")],
                         description="Bring an archived project back.")
    async def unarchive_project(self, info: Info, id: strawberry.ID) -> ProjectPayload:
        project_id = expect_id(id, "Project")
        await run_command(info, catalog.unarchive_project, project_id)
        return ProjectPayload(project=await reload(info, Project, project_id))
