"""The Relay `Node` interface: every object with an `id` can be fetched again with `node(id:)`.

Every Node type registers itself by name when its class is defined, so two types that refer to each other
(a project lists its runs, a run names its project) can build each other from rows through `node_type`
without importing each other; their annotations use `strawberry.lazy`. The schema imports every type module.
"""

from __future__ import annotations

from typing import Any

import strawberry

_NODE_TYPES: dict[str, Any] = {}


@strawberry.interface(description="An object with a global id, refetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Global id: opaque, stable, unique across types.")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _NODE_TYPES[cls.__name__] = cls


def node_type(name: str) -> Any:
    """The Node type called `name` (e.g. `node_type("Run").from_row(row)`)."""
    return _NODE_TYPES[name]
