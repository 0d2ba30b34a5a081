"""Live subscriptions executed once per distinct (document, variables, permission scope), not once per socket.

graphql-core executes a subscription's selection set for every subscriber and every event, and strawberry
then encodes and sends each result on its own: ~0.75-1 ms of server CPU per delivery was measured, so one
progress message reached the last of 1,000 subscribers ~300 ms after the first (p99 818 ms). Neither library
shares that work (both execute per operation by design), so it is done here, for the run feeds:

- a subscriber's own operation still runs through strawberry for everything that is its own: the permission
  check, the stored-state snapshot it starts with, following the run's project for access changes, a
  re-read snapshot after lost messages, and the final `complete`;
- for the live messages in between it joins a `Feed` keyed by (channel, document, operation name,
  variables, project, role): one hub subscription, one execution of the document per message, one JSON
  payload, which the feed's task writes to every member's socket with the member's operation id spliced in
  (`OperationSocket`; api/feed_member.py: without waking the subscriber's task), so a delivery costs a string
  join and a send;
- members keep bounded backlogs: a socket that does not read loses messages and gets the same gap handling
  as before, without slowing the feed or the other members;
- sharing never crosses a role: every field below the run feeds' roots reads the run's own project, so what
  a principal sees there depends on its role in that project and on nothing else about it.

Outside a graphql-transport-ws operation (or with BENCHLAB_SHARED_SUBSCRIPTIONS=false) the run feeds
execute per subscriber, as strawberry does by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from graphql import DocumentNode, ExecutionResult, GraphQLSchema, parse
from graphql.execution import execute

from benchlab.api.context import Context
from benchlab.api.errors import present, request_id_of
from benchlab.api.feed_member import PAYLOAD, FeedKind, FeedMember
from benchlab.api.loaders import Loaders
from benchlab.auth.roles import Role
from benchlab.realtime.hub import Hub
from benchlab.realtime.subscription import Message, Subscription, gap_marker, is_gap

log = logging.getLogger(__name__)

EXECUTION_FAILED = "the server could not execute this message; re-read the current state"


@dataclass(frozen=True, slots=True)
class FeedKey:
    channel: str
    document: str
    operation_name: str | None
    variables: str  # canonical JSON
    project_id: UUID
    role: Role


class OperationSocket:
    """The graphql-transport-ws operation being run by the current task, and how to write `next` frames to it.

    Set by the protocol handler (api/endpoint.py) for the operation task's duration; run feeds find it through
    CURRENT_OPERATION.
    """

    def __init__(self, feeds: SharedFeeds, operation_id: str, document: str, operation_name: str | None,
                 variables: dict[str, Any] | None, send_text: Callable[[str], Awaitable[None]]) -> None:
        self.feeds = feeds
        self.document = document
        self.operation_name = operation_name
        self.variables = variables
        self._send_text = send_text
        self._prefix = '{"id":' + json.dumps(operation_id) + ',"type":"next","payload":'

    def key(self, channel: str, project_id: UUID, role: Role) -> FeedKey:
        return FeedKey(channel, self.document, self.operation_name,
                       json.dumps(self.variables or {}, sort_keys=True, separators=(",", ":")), project_id, role)

    async def send(self, item: Message) -> None:
        """Write the `next` frame of an item a feed queued (its payload was encoded once for every member)."""
        await self._send_text(self._prefix + item[PAYLOAD] + "}")


CURRENT_OPERATION: ContextVar[OperationSocket | None] = ContextVar("benchlab_ws_operation", default=None)


@dataclass(slots=True)
class FeedCounters:
    """What sharing saved: executions made, and items queued for members (each one a frame to send)."""

    executions: int = 0
    deliveries: int = 0


class Feed:
    """One hub subscription whose messages are executed once and offered to every member."""

    def __init__(self, key: FeedKey, hub: Hub, schema: GraphQLSchema, executor_class: type[Any],
                 context: Context, kind: FeedKind, counters: FeedCounters) -> None:
        self.key = key
        self.kind = kind
        self._counters = counters
        self.members: set[FeedMember] = set()
        self._hub = hub
        self._schema = schema
        self._executor_class = executor_class
        self._document: DocumentNode = parse(key.document)
        self._variables: dict[str, Any] = json.loads(key.variables)
        self._context = context
        self._exit = AsyncExitStack()
        self._task: asyncio.Task[None] | None = None
        self.started: asyncio.Future[None] | None = None

    async def start(self) -> None:
        subscription = await self._exit.enter_async_context(self._hub.subscribe(self.key.channel, self.kind.weigh))
        self._task = asyncio.create_task(self._run(subscription), name="shared-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._exit.aclose()

    async def _run(self, subscription: Subscription) -> None:
        async for message in subscription:
            item = message if is_gap(message) else await self._item(message)
            for member in list(self.members):
                member.offer(item)
            self._counters.deliveries += len(self.members)

    async def _item(self, message: Message) -> Message:
        """The message with its encoded result (when it has one to send), or a gap if execution failed."""
        try:
            root = self.kind.to_root(message)
            return message if root is None else {**message, PAYLOAD: await self._execute(root)}
        except Exception:  # the members re-read the state: better than a feed that dies for everyone
            log.exception("could not execute a shared subscription message on %r", self.key.channel)
            return gap_marker(EXECUTION_FAILED, None)

    async def _execute(self, root: object) -> str:
        """The `next` payload for `root`, as strawberry would send it, errors presented as ErrorMasking does."""
        self._counters.executions += 1
        context = Context(**{**self._context, "loaders": Loaders(self._context["db"])})
        result = execute(self._schema, self._document, root_value=root, context_value=context,
                         variable_values=self._variables, operation_name=self.key.operation_name,
                         executor_class=self._executor_class)
        if inspect.isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            request_id = request_id_of(context)
            payload["errors"] = [present(error, request_id).formatted for error in result.errors]
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


class SharedFeeds:
    """The feeds of one process, created by their first member and stopped when their last one leaves."""

    def __init__(self, hub: Hub, schema: GraphQLSchema, executor_class: type[Any]) -> None:
        self._hub = hub
        self._schema = schema
        self._executor_class = executor_class
        self._feeds: dict[FeedKey, Feed] = {}
        self.counters = FeedCounters()

    def __len__(self) -> int:
        return len(self._feeds)

    @asynccontextmanager
    async def join(self, key: FeedKey, context: Context, kind: FeedKind,
                   operation: OperationSocket) -> AsyncIterator[FeedMember]:
        """This subscriber in the feed from now until the block ends: the feed writes its frames; its
        `attention` queue gets what it must handle itself (gaps, the final message, the end marker).

        Registered before the feed's hub subscription is confirmed, so a member misses nothing published
        after `join` returns; a member that leaves while the feed starts is fine (start and stop are
        shielded, as the hub's own join and leave are).
        """
        feed = self._feeds.get(key)
        if feed is None:
            feed = self._feeds[key] = Feed(key, self._hub, self._schema, self._executor_class, context, kind,
                                          self.counters)
            feed.started = asyncio.ensure_future(feed.start())
        assert feed.started is not None
        member = FeedMember(key.channel, operation.send, self._hub.max_queued, feed.kind)
        feed.members.add(member)
        try:
            try:
                await asyncio.shield(feed.started)
            except Exception:
                if self._feeds.get(key) is feed:  # later members start a feed of their own
                    del self._feeds[key]
                raise
            yield member
        finally:
            member.close()
            feed.members.discard(member)
            if not feed.members and self._feeds.get(key) is feed:
                del self._feeds[key]
                with contextlib.suppress(Exception):  # a feed that failed to start has nothing to stop
                    await asyncio.shield(feed.started)
                await asyncio.shield(feed.stop())
