"""Connections with keyset cursors (Relay style), shared by every list in the API.

Every list takes a required `first` (1..MAX_PAGE_SIZE) and an optional `after` cursor. A cursor holds the
sort value and id of the last row seen, so pages stay stable while rows are added (offsets would skip or
repeat rows). Cursors are opaque to clients: base64url of a small JSON array.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar
from uuid import UUID

import strawberry

from benchlab.errors import InvalidInputError

MAX_PAGE_SIZE = 500
T = TypeVar("T")
R = TypeVar("R")  # a row as loaded (a PostgreSQL record, an analytics row)


@strawberry.type(description="Where a page sits in its list (Relay).")
class PageInfo:
    has_next_page: bool = strawberry.field(description="More items follow: pass `endCursor` as `after`.")
    end_cursor: str | None = strawberry.field(description="Cursor of the last item of this page.")
    has_previous_page: bool = strawberry.field(description="True when this page was asked for with `after`.")
    start_cursor: str | None = strawberry.field(description="Cursor of the first item of this page.")


@strawberry.type(description="An item of a list with its cursor.")
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A page of a list: `nodes` (or `edges` with cursors) and `pageInfo`.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    nodes: list[T]
    page_info: PageInfo
    total_count_resolver: strawberry.Private[Callable[[], Awaitable[int]] | None] = None

    @strawberry.field(description="Number of items in the whole list (with the same filters), not just this page.")
    async def total_count(self) -> int:
        if self.total_count_resolver is None:
            return len(self.nodes)
        return await self.total_count_resolver()


def check_first(first: int) -> int:
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise InvalidInputError(f"first must be between 1 and {MAX_PAGE_SIZE}, got {first}; ask for a page at a "
                           "time and pass pageInfo.endCursor as `after` for the next", argument="first")
    return first


@dataclass(frozen=True)
class Page(Generic[R]):
    """One page of rows as loaded, before they become GraphQL objects."""

    rows: Sequence[R]
    has_next: bool
    had_cursor: bool
    cursor_of: Callable[[R], str]


def to_connection(page: Page[R], convert: Callable[[R], T],
                  total_count: Callable[[], Awaitable[int]] | None = None) -> Connection[T]:
    nodes = [convert(row) for row in page.rows]
    cursors = [page.cursor_of(row) for row in page.rows]
    edges = [Edge(cursor=c, node=n) for c, n in zip(cursors, nodes, strict=True)]
    info = PageInfo(has_next_page=page.has_next, end_cursor=cursors[-1] if cursors else None,
                    has_previous_page=page.had_cursor, start_cursor=cursors[0] if cursors else None)
    return Connection(edges=edges, nodes=nodes, page_info=info, total_count_resolver=total_count)


def as_uuid(value: str, argument: str = "after") -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise InvalidInputError(f"{argument}: malformed cursor", argument=argument) from None
