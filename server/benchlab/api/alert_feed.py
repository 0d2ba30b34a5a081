"""The `alerts(projectId)` subscription: every FIRING and RESOLVED event of a project's rules as it is recorded.

The evaluator that recorded a transition publishes it on `alerts:<project id>` after its commit; the realtime hub
(Redis across replicas) brings it to subscribers on every replica, so a subscriber sees each transition once
whichever replica made it. Live only: there is no snapshot (`Project.alerts` is the history); a lost message
arrives as `gap: true`. The project is followed by the connection, so losing access to it ends the
subscription (api/live_connections.py).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from strawberry.types import Info

from benchlab.alerts.evaluator import alerts_channel, event_from_message
from benchlab.api.context import runtime_of
from benchlab.api.ids import expect_id
from benchlab.api.live_connections import following
from benchlab.api.permissions import require_role
from benchlab.api.types.alerts import AlertEvent, AlertUpdate
from benchlab.auth.roles import Role
from benchlab.realtime.subscription import is_gap


async def alert_updates(info: Info, project_id: strawberry.ID) -> AsyncGenerator[AlertUpdate, None]:
    project = expect_id(project_id, "Project", "projectId")
    with following(info, project):
        # Checked again once followed: an access change from now on closes the connection, and one that landed
        # since the permission check is seen here.
        await require_role(info, project, Role.VIEWER, "Project")
        async with runtime_of(info).hub.subscribe(alerts_channel(project)) as subscription:
            async for message in subscription:
                if is_gap(message):
                    dropped = message.get("dropped")
                    yield AlertUpdate(event=None, gap=True, missed=dropped if isinstance(dropped, int) else 0)
                elif message.get("type") == "alert":
                    yield AlertUpdate(event=AlertEvent.of(event_from_message(message["event"])), gap=False,
                                      missed=0)
