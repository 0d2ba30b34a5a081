"""Query fields for the caller, projects, runs and any object by id."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from benchlab.api import lists
from benchlab.api.context import identity_of, loaders_of
from benchlab.api.errors import BadUserInput, NotFound
from benchlab.api.identity import Viewer
from benchlab.api.node_lookup import load_node, load_required
from benchlab.api.pagination import Connection
from benchlab.api.types.catalog import IncludeArchived, Project
from benchlab.api.types.node import Node
from benchlab.api.types.runs import Run


@strawberry.type
class ProjectQueries:
    @strawberry.field(description="Who is asking.")
    def viewer(self, info: Info) -> Viewer:
        return Viewer.of(identity_of(info))

    @strawberry.field(description="Any object by its global id (Relay); null when it does not exist.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await load_node(info, id)

    @strawberry.field(description="Projects, newest first.")
    async def projects(self, info: Info, first: int, after: str | None = None,
                       include_archived: IncludeArchived = False) -> Connection[Project]:
        return await lists.connection(info, lists.PROJECTS, None, first, after, Project.from_row,
                                      lists.archived_filter(include_archived))

    @strawberry.field(description="One project by id or by slug (give exactly one).")
    async def project(self, info: Info, id: strawberry.ID | None = None, slug: str | None = None) -> Project:
        if (id is None) == (slug is None):
            raise BadUserInput("give exactly one of `id` and `slug`")
        if id is not None:
            return await load_required(info, id, "Project")
        row = await loaders_of(info).db.fetchrow("SELECT * FROM projects WHERE slug = $1", slug)
        if row is None:
            raise NotFound(f"slug: no project {slug!r}", argument="slug")
        return Project.from_row(row)

    @strawberry.field(description="One run by id.")
    async def run(self, info: Info, id: strawberry.ID) -> Run:
        return await load_required(info, id, "Run")
