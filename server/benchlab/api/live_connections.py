"""The WebSocket connections this process holds, by principal, so a change of access can end them at once.

A subscription checks its permissions when it starts; without more, a revoked API key or a removed member
would keep receiving events for as long as the socket stays open. Each connection is registered here when
`connection_init` is accepted, with the projects its live subscriptions follow. When access changes
(access/changes.py: an event on the realtime hub, heard by every replica) the connections of that principal
check themselves again: a credential no longer valid, or a followed project no longer visible, closes the
socket with 4403 and a reason saying why. Connections of other principals are not touched.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from uuid import UUID

from strawberry.types import Info

from benchlab.api.context import Context
from benchlab.api.loaders import Loaders
from benchlab.api.permissions import role_of
from benchlab.auth.changes import AccessChange
from benchlab.auth.identity import Identity
from benchlab.errors import BenchlabError

log = logging.getLogger(__name__)

ACCESS_REVOKED_CODE = 4403
PROJECT_ACCESS_REMOVED = "your access to a project this connection follows was removed; reconnect to continue"

Closer = Callable[[int, str], Awaitable[None]]
Recheck = Callable[[Identity], Awaitable[Identity]]


@dataclass(eq=False)
class LiveConnection:
    """One accepted graphql-transport-ws connection: its context (shared by its operations) and how to close it."""

    context: Context
    close: Closer
    projects: Counter[UUID] = field(default_factory=Counter)

    @property
    def identity(self) -> Identity:
        return self.context["identity"]

    def concerns(self, change: AccessChange) -> bool:
        identity = self.identity
        return change.is_everything or (change.key_id is not None and identity.key_id == change.key_id) or (
            change.user_id is not None and identity.user_id == change.user_id)

    async def recheck(self, recheck_identity: Recheck) -> None:
        """Identify the principal again (fresh from the database) and close the socket if access is gone."""
        try:
            identity = await recheck_identity(self.identity)
        except BenchlabError as exc:
            await self.close(ACCESS_REVOKED_CODE, str(exc))
            return
        # Later subscriptions on this connection must see the change too: fresh identity, empty loader caches.
        self.context["identity"] = identity
        self.context["loaders"] = Loaders(self.context["db"])
        for project_id in list(self.projects):
            if await role_of(identity, self.context["loaders"], project_id) is None:
                await self.close(ACCESS_REVOKED_CODE, PROJECT_ACCESS_REMOVED)
                return


class LiveConnections:
    def __init__(self) -> None:
        self._connections: set[LiveConnection] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, connection: LiveConnection) -> None:
        self._connections.add(connection)

    def remove(self, connection: LiveConnection) -> None:
        self._connections.discard(connection)

    def __len__(self) -> int:
        return len(self._connections)

    def recheck(self, change: AccessChange, recheck_identity: Recheck) -> None:
        """Start a re-check of every connection the change concerns (called from the hub's fan-out: no waiting)."""
        for connection in [c for c in self._connections if c.concerns(change)]:
            task = asyncio.create_task(self._recheck(connection, recheck_identity), name="access-recheck")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _recheck(self, connection: LiveConnection, recheck_identity: Recheck) -> None:
        try:
            await connection.recheck(recheck_identity)
        except Exception:  # the database may be unreachable; the next change or gap checks again
            log.exception("could not re-check a WebSocket connection after an access change")


@contextmanager
def following(info: Info, project_id: UUID) -> Iterator[None]:
    """Mark `project_id` as followed by a live subscription of this connection (no-op over HTTP)."""
    connection = info.context.get("live") if isinstance(info.context, dict) else None
    if connection is None:
        yield
        return
    connection.projects[project_id] += 1
    try:
        yield
    finally:
        connection.projects[project_id] -= 1
        if connection.projects[project_id] <= 0:
            del connection.projects[project_id]
