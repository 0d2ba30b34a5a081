"""The Relay `Node` interface: every object with an `id` can be fetched again with `node(id:)`."""

from __future__ import annotations

import strawberry


@strawberry.interface(description="An object with a global id, refetchable with `node(id:)`.")
class Node:
    id: strawberry.ID = strawberry.field(description="Global id: opaque, stable, unique across types.")
