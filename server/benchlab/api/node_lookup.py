"""`node(id:)`: from a global id to the object, through the same by-id loaders as every relation."""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

import asyncpg
from strawberry.types import Info

from benchlab.api.context import loaders_of, runtime_of
from benchlab.api.ids import decode_global_id, expect_id
from benchlab.api.node_tables import NODE_TABLES
from benchlab.api.types import access, alerts, catalog, runs, schedules
from benchlab.api.types.node import Node
from benchlab.errors import NotFoundError
from benchlab.stores import listing

N = TypeVar("N", bound=Node)

NODE_CLASSES: dict[str, type[Node]] = {node_class.__name__: node_class for node_class in (
    catalog.Project, catalog.Provider, catalog.Model, catalog.Dataset, catalog.DatasetVersion, catalog.DatasetItem,
    catalog.Prompt, catalog.PromptVersion, runs.Experiment, runs.Run, access.ApiKey, access.User,
    schedules.Schedule, alerts.AlertRule, alerts.AlertEvent, alerts.AlertWebhook)}
NODE_TYPES = {name: (NODE_TABLES[name], node_class.from_row) for name, node_class in NODE_CLASSES.items()}


async def load_node(info: Info, global_id: str) -> Node | None:
    """The object a global id names, or None when it no longer exists."""
    type_name, db_id = decode_global_id(global_id)
    if type_name not in NODE_TYPES:
        raise NotFoundError(f"no object has the id {global_id!r}")
    table, convert = NODE_TYPES[type_name]
    row = await loaders_of(info).row(table, db_id)
    return convert(row) if row is not None else None


async def required_row(info: Info, global_id: str, type_name: str, argument: str = "id") -> asyncpg.Record:
    """The stored row of the `type_name` a global id names; NOT_FOUND (naming the argument) when there is none."""
    db_id = expect_id(global_id, type_name, argument)
    row = await loaders_of(info).row(NODE_TABLES[type_name], db_id)
    if row is None:
        raise NotFoundError(f"{argument}: no {type_name} with id {global_id!r}; it may have been deleted",
                            argument=argument)
    return row


async def load_required(info: Info, global_id: str, node_class: type[N], argument: str = "id") -> N:
    """The `node_class` object a global id names; NOT_FOUND (naming the argument) when there is none."""
    return node_class.from_row(await required_row(info, global_id, node_class.__name__, argument))


async def reload(info: Info, node_class: type[N], db_id: UUID) -> N:
    """The object as stored now, read past the request's loader cache (after a change, or to re-check a
    run's state in a long subscription), as its GraphQL type."""
    return node_class.from_row(
        await listing.row_by_id(runtime_of(info).pg, NODE_TABLES[node_class.__name__], db_id))


async def project_of(info: Info, node: Node) -> UUID | None:
    """The project an object belongs to (for access checks), or None for objects outside projects."""
    if isinstance(node, catalog.Project):
        return node.db_id
    project_id = getattr(node, "project_id", None)
    if isinstance(project_id, UUID):
        return project_id
    if isinstance(node, catalog.DatasetVersion | catalog.DatasetItem):
        row = await loaders_of(info).row("datasets", node.dataset_id)
    elif isinstance(node, catalog.PromptVersion):
        row = await loaders_of(info).row("prompts", node.prompt_id)
    else:
        return None
    return row["project_id"] if row else None
