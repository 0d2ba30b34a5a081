"""Query fields for instance administrators: every user, the whole audit log."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from benchlab.api import lists
from benchlab.api.pagination import Connection
from benchlab.api.permissions import InstanceAdmin
from benchlab.api.types.access import AuditEntry, User
from benchlab.stores import listing


@strawberry.type
class AdminQueries:
    @strawberry.field(permission_classes=[InstanceAdmin], description="Everyone who signed in, newest first.")
    async def users(self, info: Info, first: int, after: str | None = None) -> Connection[User]:
        return await lists.connection(info, listing.USERS, None, first, after, User.from_row)

    @strawberry.field(permission_classes=[InstanceAdmin],
                      description="Sign-ins, keys, role and credential changes, run starts: newest first.")
    async def audit_log(self, info: Info, first: int, after: str | None = None,
                        action: str | None = None) -> Connection[AuditEntry]:
        filters = (listing.audit_action_is(action),) if action else ()
        return await lists.connection(info, listing.AUDIT, None, first, after, AuditEntry.from_row, filters)
