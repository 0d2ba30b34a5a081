"""A list the API serves (a `stores.listing.ListSpec`) as a Relay connection, batched with every sibling list
of the request."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

import asyncpg
from strawberry.types import Info

from benchlab.api.context import loaders_of
from benchlab.api.loaders import ListArgs
from benchlab.api.pagination import Connection, check_first, to_connection
from benchlab.stores.listing import NOT_ARCHIVED, Filter, ListSpec

T = TypeVar("T")


async def connection(info: Info, spec: ListSpec, parent_id: UUID | None, first: int, after: str | None,
                     convert: Callable[[asyncpg.Record], T], filters: tuple[Filter, ...] = (),
                     sort_column: str | None = None, descending: bool | None = None) -> Connection[T]:
    """A page of `spec` under `parent_id` as a connection; its total count is read only when asked for."""
    args = ListArgs(check_first(first), after, filters, sort_column, descending)
    loaders = loaders_of(info)
    page = await loaders.page(spec, parent_id, args)
    return to_connection(page, convert, lambda: loaders.count(spec, parent_id, filters))


def archived_filter(include_archived: bool) -> tuple[Filter, ...]:
    return () if include_archived else (NOT_ARCHIVED,)
