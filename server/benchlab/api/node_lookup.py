"""`node(id:)`: from a global id to the object, through the same by-id loaders as every relation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from strawberry.types import Info

from benchlab.api.context import loaders_of, runtime_of
from benchlab.api.ids import decode_global_id, expect_id
from benchlab.api.node_tables import NODE_TABLES
from benchlab.api.types import access, catalog, runs
from benchlab.errors import NotFoundError
from benchlab.stores import listing

_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "Project": catalog.Project.from_row, "Provider": catalog.Provider.from_row, "Model": catalog.Model.from_row,
    "Dataset": catalog.Dataset.from_row, "DatasetVersion": catalog.DatasetVersion.from_row,
    "DatasetItem": catalog.DatasetItem.from_row, "Prompt": catalog.Prompt.from_row,
    "PromptVersion": catalog.PromptVersion.from_row, "Experiment": runs.Experiment.from_row,
    "Run": runs.Run.from_row, "ApiKey": access.ApiKey.from_row, "User": access.User.from_row,
}
NODE_TYPES = {name: (NODE_TABLES[name], convert) for name, convert in _CONVERTERS.items()}


async def load_node(info: Info, global_id: str) -> Any | None:
    """The object a global id names, or None when it no longer exists."""
    type_name, db_id = decode_global_id(global_id)
    if type_name not in NODE_TYPES:
        raise NotFoundError(f"no object has the id {global_id!r}")
    table, convert = NODE_TYPES[type_name]
    row = await loaders_of(info).row(table, db_id)
    return convert(row) if row is not None else None


async def load_required(info: Info, global_id: str, type_name: str, argument: str = "id") -> Any:
    """The `type_name` a global id names; NOT_FOUND (naming the argument) when there is none."""
    db_id = expect_id(global_id, type_name, argument)
    table, convert = NODE_TYPES[type_name]
    row = await loaders_of(info).row(table, db_id)
    if row is None:
        raise NotFoundError(f"{argument}: no {type_name} with id {global_id!r}; it may have been deleted",
                       argument=argument)
    return convert(row)


async def reload(info: Info, type_name: str, db_id: UUID) -> Any:
    """The object as stored now, read past the request's loader cache (after a change, or to re-check a
    run's state in a long subscription), as its GraphQL type."""
    table, convert = NODE_TYPES[type_name]
    return convert(await listing.row_by_id(runtime_of(info).pg, table, db_id))


async def project_of(info: Info, node: Any) -> UUID | None:
    """The project an object belongs to (for access checks), or None for objects outside projects."""
    if isinstance(node, catalog.Project):
        return node.db_id
    if hasattr(node, "project_id"):
        return node.project_id
    parent = {catalog.DatasetVersion: ("datasets", "dataset_id"), catalog.DatasetItem: ("datasets", "dataset_id"),
              catalog.PromptVersion: ("prompts", "prompt_id")}.get(type(node))
    if parent is None:
        return None
    row = await loaders_of(info).row(parent[0], getattr(node, parent[1]))
    return row["project_id"] if row else None
