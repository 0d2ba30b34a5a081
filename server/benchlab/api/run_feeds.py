"""The live run subscriptions: progress and finished requests, each starting from the current state.

Both subscribe to the realtime hub before reading the stored state, so nothing published in between is
missed; a progress message older than the snapshot is skipped by its counters. Both end after the run's
final status. Both mark the run's project as followed by their connection, so losing access to it ends them
(api/live_connections.py). Over graphql-transport-ws their live messages come from a shared feed, executed
once for every subscriber of the same operation and role, and are sent by the subscriber's own operation
(api/shared_feeds.py); snapshots, replays and gap handling stay per subscriber.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from benchlab.api.context import runtime_of
from benchlab.api.feed_member import PAYLOAD, FeedKind, FeedMember
from benchlab.api.live_connections import following
from benchlab.api.node_lookup import load_required, reload
from benchlab.api.permissions import require_role
from benchlab.api.shared_feeds import CURRENT_OPERATION
from benchlab.api.types.live import RunProgressEvent, RunRequestsBatch
from benchlab.api.types.requests import RequestEvent
from benchlab.api.types.run_lists import RunStatus
from benchlab.api.types.runs import Run
from benchlab.auth.roles import Role
from benchlab.engine.request_feed import feed_channel
from benchlab.engine.runner import progress_channel
from benchlab.errors import InvalidInputError
from benchlab.realtime.subscription import Subscription, is_gap
from benchlab.stores.runs import ENDED_STATES

ENDED = ENDED_STATES
MAX_REPLAY = 500


def _snapshot(run: Run, *, gap: bool = False, missed: int = 0) -> RunProgressEvent:
    """The run as stored: the first message of a subscription, and the stand-in for lost messages."""
    return RunProgressEvent(run_id=run.id, sequence=0, status=run.status, done=run.progress.completed,
                            total=run.progress.planned or None, failed=run.progress.failed,
                            requests_per_second=0.0, ttft_p50_ms=0.0, ttft_p99_ms=0.0, errors=JSON({}),
                            elapsed_seconds=0.0, snapshot=True, gap=gap, missed=missed,
                            phase="ended" if run.status in ENDED else "measuring")


async def _still_visible(info: Info, run: Run) -> Role:
    """Called once the run's project is followed: an access change from now on reaches the connection's
    re-check, and one that landed since the permission check is seen here (its re-check reset the loaders)."""
    return await require_role(info, run.project_id, Role.VIEWER, "Run")


@dataclass(frozen=True)
class LiveMessages:
    """The channel's messages for one subscriber. From a shared feed (`member`), only those it must handle
    itself arrive here (gaps, the final message, the end marker): the feed writes the others to its socket."""

    messages: Subscription
    member: FeedMember | None

    def written(self, message: dict[str, Any]) -> bool:
        """Whether the feed has written this message's frame already (False: execute and send it here)."""
        return self.member is not None and PAYLOAD in message

    def release(self) -> None:
        """What this subscriber sent itself (a snapshot) is out: the feed may write live frames again."""
        if self.member is not None:
            self.member.release()


@asynccontextmanager
async def _live(info: Info, channel: str, project_id: UUID, role: Role, kind: FeedKind) -> AsyncIterator[LiveMessages]:
    """The messages published on `channel` from now on: from a shared feed over graphql-transport-ws, held
    until `release()` (the subscriber first sends its own snapshot)."""
    operation = CURRENT_OPERATION.get()
    if operation is None:
        async with runtime_of(info).hub.subscribe(channel, kind.weigh) as subscription:
            yield LiveMessages(subscription, None)
        return
    key = operation.key(channel, project_id, role)
    async with operation.feeds.join(key, info.context, kind, operation) as member:
        yield LiveMessages(member.attention, member)


def _requests_in(message: dict[str, Any]) -> int:
    """A lost requests message counts as its requests in `missed`, which promises requests, not messages."""
    return len(message.get("items") or ()) if message.get("type") == "requests" else 0


def _progress_event(message: dict[str, Any]) -> RunProgressEvent:
    return RunProgressEvent.from_message(message, RunStatus.RUNNING)


def _run_ended(message: dict[str, Any]) -> bool:
    return message.get("status") in ENDED


async def run_progress(info: Info, run_id: strawberry.ID) -> AsyncGenerator[RunProgressEvent, None]:
    run: Run = await load_required(info, run_id, Run, "runId")
    with following(info, run.project_id):
        role = await _still_visible(info, run)
        async with _live(info, progress_channel(run.db_id), run.project_id, role, PROGRESS_FEED) as live:
            current = await reload(info, Run, run.db_id)
            yield _snapshot(current)
            if current.status in ENDED:
                return
            live.release()
            async for first in live.messages:
                for message in await _newest(live.messages, first):
                    if is_gap(message):
                        # Messages were lost, possibly the final one: say so with the stored state, and end if
                        # the run ended meanwhile (otherwise this subscription would wait forever).
                        stored = await reload(info, Run, run.db_id)
                        yield _snapshot(stored, gap=True, missed=int(message.get("dropped") or 0))
                        if stored.status in ENDED:
                            return
                        live.release()
                        continue
                    if not live.written(message):
                        yield _progress_event(message)
                    if _run_ended(message):
                        return


async def _newest(subscription: Subscription, first: dict[str, Any]) -> list[dict[str, Any]]:
    """`first` and whatever else is already queued, each progress message superseded by a newer one.

    Progress is cumulative state, so a subscriber that fell behind needs only the newest: sending every
    stale one would only make it fall further behind (with many subscribers, each delivery costs the server
    a GraphQL execution and a WebSocket send). Gaps and final statuses are always kept.
    """
    kept = [first]
    while subscription.qsize():
        message = await subscription.get()
        previous = kept[-1]
        if not is_gap(message) and not is_gap(previous) and previous.get("status") not in ENDED:
            kept[-1] = message
        else:
            kept.append(message)
    return kept


async def _replay(info: Info, run: Run, count: int) -> list[RequestEvent]:
    from benchlab.analytics.requests import list_recent_requests

    rows = await list_recent_requests(runtime_of(info).clickhouse, run.project_id, run.db_id, count)
    return [RequestEvent.from_dict(row) for row in rows]


async def run_requests(info: Info, run_id: strawberry.ID, replay: int) -> AsyncGenerator[RunRequestsBatch, None]:
    if not 0 <= replay <= MAX_REPLAY:
        raise InvalidInputError(f"replay must be between 0 and {MAX_REPLAY}", argument="replay")
    run: Run = await load_required(info, run_id, Run, "runId")
    with following(info, run.project_id):
        role = await _still_visible(info, run)
        async with _live(info, feed_channel(run.db_id), run.project_id, role, REQUESTS_FEED) as live:
            current = await reload(info, Run, run.db_id)
            if replay:
                yield RunRequestsBatch(requests=await _replay(info, current, replay), gap=False, missed=0, replay=True)
            if current.status in ENDED:
                return
            live.release()
            async for message in live.messages:
                if not live.written(message):
                    batch = _batch(message)
                    if batch is not None:
                        yield batch
                if message.get("type") == "end":
                    return
                if is_gap(message):
                    if (await reload(info, Run, run.db_id)).status in ENDED:
                        return  # the end marker may be among the lost messages
                    live.release()


def _batch(message: dict[str, Any]) -> RunRequestsBatch | None:
    if is_gap(message):
        return RunRequestsBatch(requests=[], gap=True, missed=int(message.get("dropped") or 0), replay=False)
    if message.get("type") != "requests":
        return None
    missed = int(message.get("missed") or 0)
    return RunRequestsBatch(requests=[RequestEvent.from_dict(item) for item in message["items"]],
                            gap=missed > 0, missed=missed, replay=False)


PROGRESS_FEED = FeedKind(_progress_event, is_final=_run_ended, supersedes=True)
REQUESTS_FEED = FeedKind(_batch, weigh=_requests_in)
