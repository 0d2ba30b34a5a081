"""Live subscriptions (graphql-transport-ws only)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import UTC, datetime

import strawberry
from strawberry.types import Info

from benchlab.api import run_feeds
from benchlab.api.alert_feed import alert_updates
from benchlab.api.permissions import SignedIn, project_role
from benchlab.api.types.alerts import AlertUpdate
from benchlab.api.types.live import RunProgressEvent, RunRequestsBatch
from benchlab.api.types.server_info import Heartbeat
from benchlab.auth.roles import Role
from benchlab.errors import InvalidInputError


@strawberry.type
class Subscription:
    @strawberry.subscription(permission_classes=[SignedIn],

        description="Ticks every `intervalMs` milliseconds, `count` times: a cheap way for a client to prove "
                    "its subscription path (proxies, auth, keep-alives) works end to end.")
    async def heartbeat(self, interval_ms: int = 1000, count: int = 10) -> AsyncGenerator[Heartbeat, None]:
        if not 10 <= interval_ms <= 60_000:
            raise InvalidInputError("intervalMs must be between 10 and 60000")
        if not 1 <= count <= 10_000:
            raise InvalidInputError("count must be between 1 and 10000")
        for sequence in range(1, count + 1):
            if sequence > 1:
                await asyncio.sleep(interval_ms / 1000)
            yield Heartbeat(sequence=sequence, at=datetime.now(UTC))

    @strawberry.subscription(permission_classes=[project_role(Role.VIEWER, "run_id", "Run")],
                             description=(
        "Progress of a run: first its current state, then live updates (at most about two per second), ending "
        "with its final status. Subscribing to a finished run yields its final state and ends."))
    async def run_progress(self, info: Info, run_id: strawberry.ID) -> AsyncGenerator[RunProgressEvent, None]:
        async for event in run_feeds.run_progress(info, run_id):
            yield event

    @strawberry.subscription(permission_classes=[project_role(Role.VIEWER, "run_id", "Run")],
                             description=(
        "Every request of a run as it finishes, in batches (about ten per second). `replay: N` first sends the "
        "N most recent requests already stored. Ends when the run ends."))
    async def run_requests(self, info: Info, run_id: strawberry.ID,
                           replay: int = 0) -> AsyncGenerator[RunRequestsBatch, None]:
        async for batch in run_feeds.run_requests(info, run_id, replay):
            yield batch

    @strawberry.subscription(permission_classes=[project_role(Role.VIEWER, "project_id", "Project")],
                             description=(
        "Every FIRING and RESOLVED event of the project's alert rules as it is recorded, on any replica "
        "(docs/alerts.md). Live only: `Project.alerts` has the history; `gap: true` says messages were lost."))
    async def alerts(self, info: Info, project_id: strawberry.ID) -> AsyncGenerator[AlertUpdate, None]:
        async for update in alert_updates(info, project_id):
            yield update
