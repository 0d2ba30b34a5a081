"""The Relay `Node` interface: every object with an `id` can be fetched again with `node(id:)`.

Every Node type registers itself by name when its class is defined, so two types that refer to each other
(a project lists its runs, a run names its project) can build each other from rows through `node_type`
without importing each other; their annotations use `strawberry.lazy`. The schema imports every type module.
"""

from __future__ import annotations

from typing import Any, Self

import strawberry

_NODE_TYPES: dict[str, type[Node]] = {}


@strawberry.interface(description="An object with a global id, refetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Global id: opaque, stable, unique across types.")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _NODE_TYPES[cls.__name__] = cls

    @classmethod
    def from_row(cls, row: Any) -> Self:
        """The object from its stored row (a driver row: each Node type reads the columns it shows)."""
        raise NotImplementedError(f"{cls.__name__} cannot be built from a row")


def node_type(name: str) -> Any:
    """The Node type called `name` (e.g. `node_type("Run").from_row(row)`). Any: the caller's annotation names
    the type (through `strawberry.lazy`), which this module cannot import."""
    return _NODE_TYPES[name]
