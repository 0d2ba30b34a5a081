"""Query fields for the caller, projects, runs and any object by id."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from benchlab.api import lists
from benchlab.api.context import identity_of, loaders_of
from benchlab.api.node_lookup import load_node, load_required, project_of
from benchlab.api.pagination import Connection
from benchlab.api.permissions import Public, SignedIn, project_role, role_in
from benchlab.api.types.catalog import IncludeArchived, Project
from benchlab.api.types.node import Node
from benchlab.api.types.runs import Run
from benchlab.api.types.viewer import Viewer
from benchlab.auth.identity import IdentityKind
from benchlab.auth.roles import Role
from benchlab.errors import InvalidInputError, NotFoundError
from benchlab.stores import listing
from benchlab.stores.listing import Filter
from benchlab.stores.projects import find_row_by_slug


def visible_projects(info: Info) -> tuple[Filter, ...]:
    """The projects list narrowed to the caller's: all for instance admins, its own for an API key."""
    identity = identity_of(info)
    if identity.is_instance_admin:
        return ()
    if identity.kind is IdentityKind.API_KEY:
        assert identity.key_project_id is not None  # an API key always opens its one project
        return (listing.project_is(identity.key_project_id),)
    assert identity.user_id is not None  # signed in and not a key: a user
    return (listing.projects_of_member(identity.user_id),)


@strawberry.type
class ProjectQueries:
    @strawberry.field(permission_classes=[Public],
                      description="Who is asking.")
    def viewer(self, info: Info) -> Viewer:
        return Viewer.of(identity_of(info))

    @strawberry.field(permission_classes=[SignedIn],
                      description="Any object by its global id (Relay); null when it does not exist.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        node = await load_node(info, id)
        if node is None:
            return None
        project_id = await project_of(info, node)
        if project_id is None or await role_in(info, project_id) is None:
            return None  # not yours: indistinguishable from not existing
        return node

    @strawberry.field(permission_classes=[SignedIn],
                      description="Projects, newest first.")
    async def projects(self, info: Info, first: int, after: str | None = None,
                       include_archived: IncludeArchived = False) -> Connection[Project]:
        return await lists.connection(info, listing.PROJECTS, None, first, after, Project.from_row,
                                      lists.archived_filter(include_archived) + visible_projects(info))

    @strawberry.field(permission_classes=[project_role(Role.VIEWER, "id", "Project")],
                      description="One project by id or by slug (give exactly one).")
    async def project(self, info: Info, id: strawberry.ID | None = None, slug: str | None = None) -> Project:
        if id is not None and slug is None:
            return await load_required(info, id, Project)
        if id is not None or slug is None:
            raise InvalidInputError("give exactly one of `id` and `slug`")
        row = await find_row_by_slug(loaders_of(info).db, slug)
        if row is None or await role_in(info, row["id"]) is None:
            raise NotFoundError(f"slug: no project {slug!r} that you are a member of", argument="slug")
        return Project.from_row(row)

    @strawberry.field(permission_classes=[project_role(Role.VIEWER, "id", "Run")],
                      description="One run by id.")
    async def run(self, info: Info, id: strawberry.ID) -> Run:
        return await load_required(info, id, Run)
