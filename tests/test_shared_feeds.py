"""Live subscriptions executed once per distinct (document, variables, permission scope) (api/shared_feeds.py).

In one process over Starlette's TestClient: subscribers of one operation share one execution per message and
receive the same data as per-subscriber execution; another document, another role or another run is another
feed; a subscriber of another project never receives a frame of this run. The slow-socket case needs real
sockets and a real server: tests/test_shared_feeds_process.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient, WebSocketTestSession

from benchlab.api.ids import encode_global_id
from benchlab.api.shared_feeds import SharedFeeds
from benchlab.app import create_app
from benchlab.catalog import register_experiment
from benchlab.config import Settings
from benchlab.engine.progress import Progress
from benchlab.engine.request_feed import feed_channel
from benchlab.engine.runner import progress_channel
from benchlab.secrets import SecretBox
from benchlab.spec import load_spec
from benchlab.stores.runs import create_run
from tests.helpers.access import make_key
from tests.helpers.engine import mock_spec
from tests.helpers.ws import PROTOCOL, init, receive, subscribe

PROGRESS = "subscription($r: ID!) { runProgress(runId: $r) { runId sequence status done total snapshot gap } }"
PROGRESS_SMALL = "subscription($r: ID!) { runProgress(runId: $r) { sequence status } }"
# replay: the first frame (nothing stored yet) says the subscriber is in its feed
REQUESTS = ("subscription($r: ID!) { runRequests(runId: $r, replay: 1) { replay gap missed "
            "requests { eventId ttftMs output } } }")


@dataclasses.dataclass(frozen=True)
class Project:
    run_uuid: UUID
    run: str  # global id
    viewer: str  # API keys
    viewer2: str
    member: str


async def running_project(pg: asyncpg.Connection, name: str) -> Project:
    registered = await register_experiment(pg, load_spec(mock_spec("http://127.0.0.1:9/v1", project=name)),
                                           SecretBox(Fernet.generate_key()))
    run_id = await create_run(pg, registered.project_id, registered.experiment_id, {}, 1)
    await pg.execute("UPDATE runs SET status = 'running' WHERE id = $1", run_id)
    return Project(run_id, encode_global_id("Run", run_id),
                   *[await make_key(pg, registered.project_id, role, f"{role} {n}")
                     for n, role in enumerate(("viewer", "viewer", "member"))])


@pytest.fixture
async def alpha(pg: asyncpg.Connection) -> Project:
    return await running_project(pg, "alpha")


@pytest.fixture
async def beta(pg: asyncpg.Connection) -> Project:
    return await running_project(pg, "beta")


@contextmanager
def subscribed(client: TestClient, key: str, query: str, run: str) -> Iterator[WebSocketTestSession]:
    """A socket of `key` with one subscription (id "s") whose snapshot has arrived: it is in its feed."""
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        assert init(ws, {"authorization": f"Bearer {key}"})["type"] == "connection_ack"
        subscribe(ws, "s", query, r=run)
        first = receive(ws)
        assert first["type"] == "next", first
        [(field, value)] = first["payload"]["data"].items()
        assert value.get("snapshot", True) and value.get("replay", True), first  # the state before live messages
        yield ws


def until_complete(ws: WebSocketTestSession) -> list[dict[str, Any]]:
    """The data of every `next` frame until `complete`."""
    frames = []
    while (message := receive(ws))["type"] != "complete":
        assert message["type"] == "next" and message["id"] == "s", message
        assert "errors" not in message["payload"], message
        frames.append(message["payload"]["data"])
    return frames


def publish_progress(client: TestClient, project: Project, messages: int) -> None:
    """`messages` progress messages as the engine makes them, the last with the final status."""
    progress = Progress(total=10)
    for n in range(1, messages + 1):
        progress.record(ok=True, ttft_ms=40.0 + n, error_type="")
        client.portal.call(client.app.state.runtime.hub.publish, progress_channel(project.run_uuid),
                           progress.message(str(project.run_uuid), "completed" if n == messages else "running"))


def feeds_of(client: TestClient) -> SharedFeeds:
    feeds = client.app.state.shared_feeds
    assert isinstance(feeds, SharedFeeds)
    return feeds


def test_subscribers_of_one_operation_share_one_execution_per_message(client: TestClient, alpha: Project) -> None:
    feeds = feeds_of(client)
    with ExitStack() as stack:
        sockets = [stack.enter_context(subscribed(client, key, PROGRESS, alpha.run))
                   for key in (alpha.viewer, alpha.viewer2, alpha.viewer)]
        assert len(feeds) == 1
        publish_progress(client, alpha, 3)
        received = [until_complete(ws) for ws in sockets]
    assert received[0] == received[1] == received[2]
    assert [frame["runProgress"]["sequence"] for frame in received[0]] == [1, 2, 3]
    assert [frame["runProgress"]["status"] for frame in received[0]] == ["RUNNING", "RUNNING", "COMPLETED"]
    assert {frame["runProgress"]["runId"] for frame in received[0]} == {alpha.run}
    assert feeds.counters.executions == 3 and feeds.counters.deliveries == 9
    assert len(feeds) == 0  # the last member left: the feed stopped


def test_another_document_role_or_run_is_another_feed_and_frames_stay_in_their_project(
        client: TestClient, alpha: Project, beta: Project) -> None:
    feeds = feeds_of(client)
    with ExitStack() as stack:
        viewer = stack.enter_context(subscribed(client, alpha.viewer, PROGRESS, alpha.run))
        member = stack.enter_context(subscribed(client, alpha.member, PROGRESS, alpha.run))
        small = stack.enter_context(subscribed(client, alpha.viewer, PROGRESS_SMALL, alpha.run))
        other = stack.enter_context(subscribed(client, beta.viewer, PROGRESS, beta.run))
        assert len(feeds) == 4
        publish_progress(client, alpha, 2)
        publish_progress(client, beta, 1)
        frames = {name: until_complete(ws) for name, ws in
                  (("viewer", viewer), ("member", member), ("small", small), ("other", other))}
    assert frames["viewer"] == frames["member"] and len(frames["viewer"]) == 2
    assert {f["runProgress"]["runId"] for f in frames["viewer"]} == {alpha.run}
    assert frames["small"] == [{"runProgress": {"sequence": f["runProgress"]["sequence"],
                                                "status": f["runProgress"]["status"]}} for f in frames["viewer"]]
    assert [f["runProgress"]["runId"] for f in frames["other"]] == [beta.run]
    assert feeds.counters.executions == 3 * 2 + 1


def test_a_subscriber_of_another_project_is_refused_and_joins_no_feed(client: TestClient, alpha: Project,
                                                                       beta: Project) -> None:
    with client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        assert init(ws, {"authorization": f"Bearer {beta.viewer}"})["type"] == "connection_ack"
        subscribe(ws, "s", PROGRESS, r=alpha.run)
        refused = receive(ws)
        assert refused["type"] == "error" and refused["payload"][0]["extensions"]["code"] == "NOT_FOUND", refused
        assert len(feeds_of(client)) == 0


def request_item(n: int) -> dict[str, Any]:
    return {"event_id": f"00000000-0000-0000-0000-{n:012d}", "item_id": f"i{n}", "repetition": 0, "attempt": 1,
            "model": "m", "prompt_version": "p@v1", "params_hash": "h", "ts": "2026-12-06T12:00:00+00:00",
            "status": "ok", "error_type": "", "http_status": 200, "queue_delay_ms": 0.1, "ttft_ms": 50.0 + n,
            "ttfot_ms": 50.0, "tpot_ms": 1.0, "e2e_ms": 60.0, "prompt_tokens": 3, "completion_tokens": 4,
            "tokens_estimated": False, "cost_usd": 0.0, "output": f"answer {n}"}


def publish_requests(client: TestClient, project: Project, batches: int, per_batch: int) -> None:
    hub = client.app.state.runtime.hub
    for batch in range(batches):
        items = [request_item(batch * per_batch + n) for n in range(per_batch)]
        client.portal.call(hub.publish, feed_channel(project.run_uuid), {"type": "requests", "items": items})
    client.portal.call(hub.publish, feed_channel(project.run_uuid), {"type": "end"})


def test_request_feeds_are_shared_and_end_with_the_end_marker(client: TestClient, alpha: Project) -> None:
    feeds = feeds_of(client)
    with ExitStack() as stack:
        sockets = [stack.enter_context(subscribed(client, key, REQUESTS, alpha.run))
                   for key in (alpha.viewer, alpha.viewer2)]
        publish_requests(client, alpha, 3, 2)
        received = [until_complete(ws) for ws in sockets]
    assert received[0] == received[1]
    assert [[r["output"] for r in f["runRequests"]["requests"]] for f in received[0]] == [
        ["answer 0", "answer 1"], ["answer 2", "answer 3"], ["answer 4", "answer 5"]]
    assert feeds.counters.executions == 3  # the end marker is not executed: it ends every member


def test_shared_frames_carry_the_same_data_as_per_subscriber_execution(settings: Settings, alpha: Project) -> None:
    """The same messages through a server that shares and one that does not (BENCHLAB_SHARED_SUBSCRIPTIONS)."""
    seen = []
    for shared in (True, False):
        app = create_app(dataclasses.replace(settings, shared_subscriptions=shared))
        with TestClient(app) as client:
            assert (client.app.state.shared_feeds is not None) is shared
            with subscribed(client, alpha.viewer, PROGRESS, alpha.run) as progress, \
                    subscribed(client, alpha.viewer, REQUESTS, alpha.run) as requests:
                publish_progress(client, alpha, 2)
                publish_requests(client, alpha, 2, 3)
                seen.append((until_complete(progress), until_complete(requests)))
    assert seen[0] == seen[1]
    assert len(seen[0][0]) == 2 and len(seen[0][1]) == 2
