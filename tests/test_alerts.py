"""Alerts: each rule kind against figures computed here in Python, the state machine and its history, webhooks
(signature, retries with backoff, delivery log, Slack shape), secrets, permissions and the `alerts`
subscription. Real PostgreSQL, chDB and HTTP servers; time is a controllable clock (docs/alerts.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from starlette.testclient import TestClient

from benchlab.alerts import manage
from benchlab.alerts.evaluator import Evaluator
from benchlab.alerts.rules import NIL_UUID, RuleKind, RuleSource, check_rule
from benchlab.alerts.signing import verify
from benchlab.alerts.webhooks import WebhookSender, backoff_s
from benchlab.api.ids import encode_global_id
from benchlab.app import create_app
from benchlab.catalog import register_experiment
from benchlab.config import Settings
from benchlab.engine.deps import EngineDeps
from benchlab.errors import InvalidInputError
from benchlab.metrics import METRICS
from benchlab.spec import load_spec
from benchlab.stores import alerts as alert_store
from benchlab.stores import scores as score_table
from benchlab.stores.clickhouse import ClickHouseStore
from benchlab.stores.runs import create_run, record_gate
from tests.helpers.access import as_key, make_key
from tests.helpers.engine import mock_spec
from tests.helpers.event_rows import event_row, table_columns
from tests.helpers.polling import eventually, wait_until
from tests.helpers.webhook_receiver import webhook_receiver
from tests.helpers.ws import PROTOCOL, init, receive, subscribe

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)
PUBLIC_URL = "http://bench.example.test"
SECRET = "whsec-test-0123456789abcdef"


class Clock:
    """The evaluator's time: moved by the test, never by waiting."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class World:
    deps: EngineDeps
    project_id: UUID
    columns: tuple[str, ...]
    clock: Clock

    async def requests(self, *rows: dict[str, Any]) -> None:
        """Production requests of the project (each dict overrides a successful default row)."""
        built = [event_row(self.columns, n, **{
            "project_id": self.project_id, "run_id": NIL_UUID, "experiment_id": NIL_UUID, "event_id": uuid.uuid4(),
            "source": "production", "model": "m1", "ts": NOW - timedelta(minutes=1), **row})
            for n, row in enumerate(rows)]
        await self.deps.clickhouse.insert("request_events", built, self.columns, caller="tests")

    async def scores(self, *rows: dict[str, Any]) -> None:
        built = [score_table.ScoreRow(**{
            "project_id": self.project_id, "run_id": NIL_UUID, "experiment_id": NIL_UUID, "pass_id": uuid.uuid4(),
            "event_id": uuid.uuid4(), "ts": NOW - timedelta(minutes=1), "item_id": "", "repetition": 0,
            "load_phase": "main", "model": "m1", "prompt_version": "", "params_hash": "", "evaluator": "rubric",
            "evaluator_type": "llm-rubric", "score_name": "score", "weight": 1.0, "value": 1.0, "passed": True,
            "label": "", "reason": "", **row}).as_row() for row in rows]
        await self.deps.clickhouse.insert("scores", built, score_table.COLUMNS, caller="tests")

    async def rule(self, name: str, kind: RuleKind, **settings: Any) -> alert_store.AlertRuleRecord:
        settings.setdefault("source", None if kind is RuleKind.GATE_FAILURE else RuleSource.PRODUCTION)
        async with self.deps.pg.acquire() as conn:
            return await manage.create_rule(conn, self.project_id, check_rule(name, kind, **settings), "tests")

    async def webhook(self, url: str, format: str = "benchlab", secret: str | None = SECRET, name: str = "") -> UUID:
        async with self.deps.pg.acquire() as conn:
            webhook = await manage.create_webhook(conn, self.project_id, self.deps.secrets,
                                                  name=name or f"hook-{format}",
                                                  url=url, format=format, secret=secret, enabled=True,
                                                  created_by="tests")
        return webhook.id

    def evaluator(self, interval_s: float = 30) -> Evaluator:
        return Evaluator(self.deps.pg, self.deps.clickhouse, self.deps.hub, public_url=PUBLIC_URL,
                         interval_s=interval_s, clock=self.clock)

    async def stored_rule(self, rule_id: UUID) -> alert_store.AlertRuleRecord:
        async with self.deps.pg.acquire() as conn:
            found = await alert_store.find_rule(conn, self.project_id, rule_id)
        assert found is not None
        return found

    async def events(self) -> list[dict[str, Any]]:
        async with self.deps.pg.acquire() as conn:
            return [dict(r) for r in await conn.fetch(
                "SELECT e.*, r.name FROM alert_events e JOIN alert_rules r ON r.id = e.rule_id "
                "WHERE e.project_id = $1 ORDER BY e.at, e.state", self.project_id)]

    async def deliveries(self) -> list[dict[str, Any]]:
        async with self.deps.pg.acquire() as conn:
            return [dict(r) for r in await conn.fetch(
                "SELECT * FROM alert_deliveries WHERE project_id = $1 ORDER BY created_at", self.project_id)]

    async def attempts(self, delivery_id: UUID) -> list[dict[str, Any]]:
        async with self.deps.pg.acquire() as conn:
            return [dict(r) for r in await conn.fetch(
                "SELECT * FROM alert_delivery_attempts WHERE delivery_id = $1 ORDER BY attempt", delivery_id)]


@pytest.fixture
async def world(engine_deps: EngineDeps) -> World:
    async with engine_deps.pg.acquire() as conn:
        project_id = await conn.fetchval("INSERT INTO projects (slug, name) VALUES ('alerts', 'Alerts') RETURNING id")
    return World(engine_deps, project_id, await table_columns(engine_deps.clickhouse), Clock())


def _float32_exact(n: int) -> float:
    return 100.0 + (n * 37) % 400 + 0.25   # quarter milliseconds: exact in Float32, so Python agrees to the bit


# Rule kinds: fire above the figure, stay quiet just below it --------------------------------------------------

async def test_latency_percentile_is_the_trailing_window_percentile_of_the_rows_metrics_counts(world: World) -> None:
    values = [_float32_exact(n) for n in range(40)]
    await world.requests(*({"ttft_ms": v, "ts": NOW - timedelta(seconds=10 + 5 * n)} for n, v in enumerate(values)))
    slow = {"ttft_ms": 5000.0}
    await world.requests({**slow, "ts": NOW - timedelta(minutes=6)},          # before the window
                         {**slow, "ts": NOW},                                  # the window ends before now
                         {**slow, "source": "experiment"},                     # not production
                         {**slow, "model": "m2"},                              # another model
                         {**slow, "status": "error"},                          # failed: no latency
                         {"ttft_ms": 0.0})                                     # no token: no TTFT
    expected = METRICS["ttft_ms"].clean(METRICS["ttft_ms"].quantile(values, 0.95))
    assert expected is not None
    common = {"metric": "ttft_ms", "percentile": 95.0, "window_minutes": 5, "min_count": 40, "model": "m1"}
    fires = await world.rule("p95 above", RuleKind.LATENCY_PERCENTILE, threshold=expected - 0.5, **common)
    quiet = await world.rule("p95 just below", RuleKind.LATENCY_PERCENTILE, threshold=expected + 0.5, **common)
    too_few = await world.rule("needs 41", RuleKind.LATENCY_PERCENTILE, threshold=1.0,
                               **{**common, "min_count": 41})

    recorded = await world.evaluator().tick()

    assert [(e.rule_id, e.state) for e in recorded] == [(fires.id, "firing")]
    for rule in (fires, quiet):
        stored = await world.stored_rule(rule.id)
        assert (stored.last_value, stored.last_count) == (expected, 40)
    assert (await world.stored_rule(quiet.id)).state == "ok"
    no_figure = await world.stored_rule(too_few.id)
    assert (no_figure.last_value, no_figure.last_count, no_figure.state) == (None, 40, "ok")
    event = recorded[0]
    assert event.value == expected and event.count == 40 and event.threshold == expected - 0.5
    assert event.details["figure"]["window_start"] == (NOW - timedelta(minutes=5)).isoformat()
    assert f"{expected:.1f} ms from 40 requests" in event.summary


async def test_error_rate_needs_the_minimum_count(world: World) -> None:
    await world.requests(*({"status": "error" if n < 3 else "ok", "error_type": "http_500" if n < 3 else ""}
                           for n in range(25)))
    await world.requests({"status": "error", "ts": NOW - timedelta(minutes=20)})   # outside the 10-minute window
    common = {"window_minutes": 10, "min_count": 25}
    fires = await world.rule("errors above", RuleKind.ERROR_RATE, threshold=0.11, **common)
    await world.rule("errors just below", RuleKind.ERROR_RATE, threshold=0.13, **common)
    quiet = await world.rule("needs 26", RuleKind.ERROR_RATE, threshold=0.01, window_minutes=10, min_count=26)

    recorded = await world.evaluator().tick()

    assert [(e.rule_id, e.value, e.count) for e in recorded] == [(fires.id, 3 / 25, 25)]
    assert (await world.stored_rule(quiet.id)).last_value is None


async def test_daily_cost_sums_known_prices_of_the_current_utc_day(world: World) -> None:
    costs = [0.125, 0.25, 0.5, 1.0, 0.0625]
    midnight = NOW.replace(hour=0)
    await world.requests(*({"cost_usd": c, "ts": midnight + timedelta(hours=n)} for n, c in enumerate(costs)))
    await world.requests({"cost_usd": 9.0, "cost_known": False},                    # unknown price: not summed
                         {"cost_usd": 100.0, "ts": midnight - timedelta(seconds=1)},  # yesterday
                         {"cost_usd": 0.5, "status": "error"})                        # failed but billed: counts
    total = sum(costs) + 0.5
    fires = await world.rule("budget exceeded", RuleKind.DAILY_COST, threshold=total - 0.01)
    await world.rule("budget just kept", RuleKind.DAILY_COST, threshold=total + 0.01)

    recorded = await world.evaluator().tick()

    assert [(e.rule_id, e.value) for e in recorded] == [(fires.id, total)]
    assert recorded[0].details["figure"]["cost_unknown_requests"] == 1
    assert recorded[0].count == len(costs) + 1


async def test_judge_pass_rate_fires_below_the_threshold_on_production_scores(world: World) -> None:
    await world.scores(*({"passed": n < 21, "value": 1.0 if n < 21 else 0.0} for n in range(30)))
    await world.scores(*({"passed": False, "run_id": uuid.uuid4()} for _ in range(10)))   # a run's scores
    await world.scores(*({"passed": False, "evaluator": "other"} for _ in range(10)))     # another evaluator
    common = {"evaluator": "rubric", "window_minutes": 15, "min_count": 30}
    fires = await world.rule("pass rate dropped", RuleKind.JUDGE_PASS_RATE, threshold=0.71, **common)
    await world.rule("pass rate just kept", RuleKind.JUDGE_PASS_RATE, threshold=0.69, **common)
    everything = await world.rule("all sources", RuleKind.JUDGE_PASS_RATE, threshold=0.5,
                                  **{**common, "source": RuleSource.ALL})

    recorded = await world.evaluator().tick()

    assert [(e.rule_id, e.value, e.count) for e in recorded] == [(fires.id, 21 / 30, 30)]
    assert (await world.stored_rule(everything.id)).last_value == 21 / 40   # the run's 10 failed scores count


async def test_gate_failure_fires_on_a_failed_gate_and_resolves_when_a_later_run_passes(world: World) -> None:
    async with world.deps.pg.acquire() as conn:
        spec = mock_spec("http://127.0.0.1:9/v1", project="alerts")
        experiment = await register_experiment(conn, load_spec(spec), world.deps.secrets)
        other = await register_experiment(conn, load_spec({**spec, "name": "other"}), world.deps.secrets)
        runs = [await create_run(conn, world.project_id, experiment.experiment_id, spec, 1) for _ in range(2)]
    scoped = await world.rule("nightly gate", RuleKind.GATE_FAILURE, experiment_id=experiment.experiment_id)
    elsewhere = await world.rule("other gate", RuleKind.GATE_FAILURE, experiment_id=other.experiment_id)
    evaluator = world.evaluator()
    assert await evaluator.tick() == []   # nothing gated yet: no figure

    async with world.deps.pg.acquire() as conn:
        await record_gate(conn, runs[0], False, {"passed": False, "counts": {"fail": 2, "pass": 1}})
    world.clock.advance(seconds=30)
    fired = await evaluator.tick()
    assert [(e.rule_id, e.state) for e in fired] == [(scoped.id, "firing")]
    assert fired[0].details["figure"]["run_id"] == str(runs[0])
    assert fired[0].details["figure"]["gate_counts"] == {"fail": 2, "pass": 1}
    assert (await world.stored_rule(elsewhere.id)).last_value is None

    async with world.deps.pg.acquire() as conn:
        await record_gate(conn, runs[1], True, {"passed": True, "counts": {"pass": 3}})
    world.clock.advance(seconds=30)
    resolved = await evaluator.tick()
    assert [(e.rule_id, e.state, e.incident_id) for e in resolved] == [(scoped.id, "resolved", fired[0].id)]


# The state machine and its history -------------------------------------------------------------------------------

async def test_fires_once_stays_firing_resolves_once_and_fires_again_as_a_new_incident(world: World) -> None:
    rule = await world.rule("slow ttft", RuleKind.LATENCY_PERCENTILE, metric="ttft_ms", percentile=50.0,
                            threshold=800.0, window_minutes=5, min_count=3)
    await world.requests(*({"ttft_ms": 900.0 + n} for n in range(3)))
    evaluator = world.evaluator()

    first = await evaluator.tick()
    world.clock.advance(seconds=30)
    assert await evaluator.tick() == [], "still firing: no second notification"
    assert (await world.stored_rule(rule.id)).last_evaluated_at == world.clock.now
    world.clock.advance(seconds=10)
    assert await evaluator.tick() == [], "not due yet: evaluated 10 s ago with a 30 s interval"
    world.clock.advance(minutes=5)   # the slow requests left the window
    resolved = await evaluator.tick()
    await world.requests(*({"ttft_ms": 2000.0, "ts": world.clock.now - timedelta(seconds=1)} for _ in range(3)))
    world.clock.advance(seconds=30)
    again = await evaluator.tick()

    assert [e.state for e in first + resolved + again] == ["firing", "resolved", "firing"]
    assert resolved[0].incident_id == first[0].id and again[0].incident_id == again[0].id != first[0].id
    assert resolved[0].value is None and resolved[0].count == 0
    assert "fewer than the 3 needed" in resolved[0].summary
    history = await world.events()
    assert [(h["state"], h["incident_id"]) for h in history] == [
        ("firing", first[0].id), ("resolved", first[0].id), ("firing", again[0].id)]
    assert [h["at"] for h in history] == [NOW, NOW + timedelta(seconds=340), NOW + timedelta(seconds=370)]
    stored = await world.stored_rule(rule.id)
    assert (stored.state, stored.firing_event_id, stored.state_since) == ("firing", again[0].id, history[2]["at"])


async def test_disabling_or_deleting_a_firing_rule_resolves_it_with_a_notification(world: World) -> None:
    with webhook_receiver() as receiver:
        await world.webhook(receiver.url)
        rule = await world.rule("slow", RuleKind.LATENCY_PERCENTILE, metric="e2e_ms", percentile=99.0,
                                threshold=10.0, window_minutes=5, min_count=1)
        await world.requests({"e2e_ms": 500.0})
        assert [e.state for e in await world.evaluator().tick()] == ["firing"]
        async with world.deps.pg.acquire() as conn, conn.transaction():
            change = await manage.update_rule(conn, world.project_id, rule.id, PUBLIC_URL, enabled=False)
        assert change.resolved is not None and change.resolved.details["reason"] == "the rule was disabled"
        assert change.rule.state == "ok" and not change.rule.enabled
        await _deliver_all(world, WebhookSender(world.deps.pg, world.deps.secrets))
        assert [r.json()["type"] for r in receiver.received()] == ["alert.firing", "alert.resolved"]


async def test_invalid_rules_list_every_problem() -> None:
    with pytest.raises(InvalidInputError) as raised:
        check_rule(" ", RuleKind.LATENCY_PERCENTILE, threshold=-1, source=RuleSource.PRODUCTION, metric="cost_usd",
                   percentile=150, window_minutes=0, min_count=0)
    assert raised.value.problems == [
        "name: 1 to 200 characters, not blank",
        "metric: a LATENCY_PERCENTILE rule needs a latency metric (ttft_ms, ttfot_ms, tpot_ms, e2e_ms, "
        "queue_delay_ms, e2e_from_intended_ms, inter_event_ms)",
        "percentile: a number in (0, 100], e.g. 95 or 99.9",
        "windowMinutes: a LATENCY_PERCENTILE rule needs a window of 1 to 1440 minutes",
        "minCount: 1 to 1000000 (the fewest requests or scores a figure is computed from)",
        "threshold: a positive number of ms, got -1"]
    with pytest.raises(InvalidInputError, match="threshold: a fraction from 0 to 1 .* got 5"):
        check_rule("errors", RuleKind.ERROR_RATE, threshold=5, source=RuleSource.ALL, window_minutes=5)
    with pytest.raises(InvalidInputError, match="GATE_FAILURE rules fire on any failed gate; leave it out"):
        check_rule("gate", RuleKind.GATE_FAILURE, threshold=1, source=None)
    with pytest.raises(InvalidInputError, match="experimentId: production traffic belongs to no experiment"):
        check_rule("scoped", RuleKind.ERROR_RATE, threshold=0.1, source=RuleSource.PRODUCTION, window_minutes=5,
                   experiment_id=uuid.uuid4())
    with pytest.raises(InvalidInputError, match="evaluator: a JUDGE_PASS_RATE rule needs the evaluator's name"):
        check_rule("judge", RuleKind.JUDGE_PASS_RATE, threshold=0.5, source=RuleSource.ALL, window_minutes=5)
    assert check_rule("errors", RuleKind.ERROR_RATE, threshold=0.05, source=RuleSource.ALL,
                      window_minutes=5).min_count == 20


# Webhooks ----------------------------------------------------------------------------------------------------------

def _server_log_levels(caplog: pytest.LogCaptureFixture) -> None:
    """Everything at DEBUG, except what `benchlab serve` keeps at WARNING whatever BENCHLAB_LOG_LEVEL says
    (logging_setup.configure_logging): httpx's INFO line names every request's full URL."""
    caplog.set_level(logging.DEBUG)
    for noisy in ("httpx", "httpcore"):
        caplog.set_level(logging.WARNING, logger=noisy)


async def _deliver_all(world: World, sender: WebhookSender, within_s: float = 30) -> None:
    """Run the sender until no delivery is pending or sending (bounded)."""
    deadline = time.monotonic() + within_s
    while any(d["status"] in ("pending", "sending") for d in await world.deliveries()):
        assert time.monotonic() < deadline, f"deliveries still open after {within_s}s: {await world.deliveries()}"
        await sender.send_due()
        await asyncio.sleep(0.01)


async def _fire(world: World, name: str = "slow ttft") -> None:
    await world.rule(name, RuleKind.LATENCY_PERCENTILE, metric="ttft_ms", percentile=50.0, threshold=800.0,
                     window_minutes=5, min_count=1)
    await world.requests({"ttft_ms": 950.0})
    assert [e.state for e in await world.evaluator().tick()] == ["firing"]


async def test_retries_with_backoff_until_the_receiver_answers_and_logs_every_attempt(world: World) -> None:
    with webhook_receiver(statuses=[500, 503]) as receiver:
        await world.webhook(receiver.url)
        await _fire(world)
        sender = WebhookSender(world.deps.pg, world.deps.secrets, base_delay_s=0.2, max_delay_s=10)
        await _deliver_all(world, sender)
        received = receiver.received()
    [delivery] = await world.deliveries()
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 3)
    attempts = await world.attempts(delivery["id"])
    assert [(a["attempt"], a["status_code"]) for a in attempts] == [(1, 500), (2, 503), (3, 200)]
    assert attempts[0]["error"] == "HTTP 500: receiver says no" and attempts[2]["error"] is None
    assert [r.answered for r in received] == [500, 503, 200]
    assert {r.headers["benchlab-delivery"] for r in received} == {str(delivery["id"])}, "one id on every retry"
    assert [r.headers["benchlab-attempt"] for r in received] == ["1", "2", "3"]
    assert len({r.body for r in received}) == 1, "the same body on every retry"
    for request in received:
        assert verify(SECRET, request.headers["benchlab-signature"], request.body)
        assert not verify("another secret of 16+", request.headers["benchlab-signature"], request.body)
        assert not verify(SECRET, request.headers["benchlab-signature"], request.body + b" ")
    gaps = [b.at - a.at for a, b in zip(received, received[1:], strict=False)]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2, f"backoff: at least half of 0.2 s and 0.4 s, got {gaps}"
    document = received[0].json()
    assert document["type"] == "alert.firing" and document["delivery_id"] == str(delivery["id"])
    assert document["alert"]["value"] == 950.0 and document["alert"]["threshold"] == 800.0
    assert document["alert"]["unit"] == "ms" and document["rule"]["name"] == "slow ttft"
    assert document["project"] == {"id": str(world.project_id), "slug": "alerts", "name": "Alerts"}
    assert document["links"] == {"graphql": f"{PUBLIC_URL}/graphql"}


async def test_gives_up_after_the_last_attempt_and_never_logs_the_url_token(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    _server_log_levels(caplog)
    with webhook_receiver(statuses=[503] * 3) as receiver:
        await world.webhook(receiver.url)
        await _fire(world)
        await _deliver_all(world, WebhookSender(world.deps.pg, world.deps.secrets, base_delay_s=0.01,
                                                max_attempts=3))
    [delivery] = await world.deliveries()
    assert (delivery["status"], delivery["attempts"], len(receiver.received())) == ("failed", 3, 3)
    assert delivery["finished_at"] is not None
    assert "s3cr3t-path-token" not in caplog.text and SECRET not in caplog.text
    assert "http://127.0.0.1:" in caplog.text and "giving up" in caplog.text


async def test_an_unreachable_receiver_is_logged_without_status_or_url_path(world: World) -> None:
    with webhook_receiver() as receiver:
        url = receiver.url
    await world.webhook(url)   # the receiver is gone: the port refuses connections
    await _fire(world)
    await _deliver_all(world, WebhookSender(world.deps.pg, world.deps.secrets, max_attempts=1))
    [delivery] = await world.deliveries()
    [attempt] = await world.attempts(delivery["id"])
    assert delivery["status"] == "failed" and attempt["status_code"] is None
    assert attempt["error"].startswith("ConnectError") and "s3cr3t-path-token" not in attempt["error"]


async def test_a_sender_that_died_mid_attempt_is_replaced_after_its_lease_with_the_same_delivery_id(
        world: World) -> None:
    with webhook_receiver() as receiver:
        await world.webhook(receiver.url)
        await _fire(world)
        async with world.deps.pg.acquire() as conn:   # a sender claims the delivery, then dies before recording
            [dead] = await alert_store.claim_deliveries(conn, datetime.now(UTC), 40.0, 10)
            assert await alert_store.claim_deliveries(conn, datetime.now(UTC), 40.0, 10) == [], "leased"
        later = WebhookSender(world.deps.pg, world.deps.secrets,
                              clock=lambda: datetime.now(UTC) + timedelta(seconds=41))
        assert await later.send_due() == 1
        await later.close()
        [request] = receiver.received()
        async with world.deps.pg.acquire() as conn:   # the dead sender's late outcome must not count
            assert not await alert_store.record_attempt(conn, dead, datetime.now(UTC), 500, "late", 1.0, "pending",
                                                        datetime.now(UTC))
    [delivery] = await world.deliveries()
    assert request.headers["benchlab-delivery"] == str(dead.id) == str(delivery["id"])
    assert request.headers["benchlab-attempt"] == "2" and (delivery["status"], delivery["attempts"]) == ("delivered", 2)


async def test_a_slow_receiver_does_not_hold_up_deliveries_to_other_webhooks(world: World) -> None:
    """A delivery claimed while another webhook's receiver takes its time is sent at once, not after it."""
    sender = WebhookSender(world.deps.pg, world.deps.secrets, timeout_s=15, poll_s=0.2)
    running = asyncio.create_task(sender.run())
    try:
        with webhook_receiver(delay_s=6) as slow, webhook_receiver() as fast:
            await world.webhook(slow.url, secret=None, name="slow")
            await _fire(world, "first")
            sender.wake()
            await eventually(lambda: len(slow.received()) == 1, "the slow receiver got the first", within_s=10)
            await world.webhook(fast.url, secret=None, name="fast")
            await _fire(world, "second")   # one delivery to each webhook; the slow one's waits for its first
            fired = time.monotonic()
            sender.wake()
            await eventually(lambda: len(fast.received()) == 1, "the fast receiver got the second", within_s=15)
            waited = fast.received()[0].at - fired
            assert waited < 3, f"the fast receiver waited {waited:.1f} s for the slow one's answer (6 s)"
            assert len(slow.received()) == 1, "the slow webhook's second delivery waits for its first (order)"
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await sender.close()


def test_backoff_is_exponential_capped_and_jittered_in_its_upper_half() -> None:
    assert [backoff_s(n, 5, 600, lambda low, high: low) for n in range(1, 9)] == [
        2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0]
    assert [backoff_s(n, 5, 600, lambda low, high: high) for n in (1, 8)] == [5.0, 600.0]


async def test_slack_payload_is_an_incoming_webhook_message(world: World) -> None:
    with webhook_receiver() as receiver:
        await world.webhook(receiver.url, format="slack", secret=None)
        await _fire(world, name="p50 <fast> & friends")
        await _deliver_all(world, WebhookSender(world.deps.pg, world.deps.secrets))
        [request] = receiver.received()
    assert "benchlab-signature" not in request.headers, "no secret: unsigned"
    message = request.json()
    assert set(message) == {"text", "blocks"}
    assert message["text"].startswith(":rotating_light: FIRING: p50 &lt;fast&gt; &amp; friends: 950.0 ms")
    header, section, context = message["blocks"]
    assert header == {"type": "header", "text": {"type": "plain_text", "text": "FIRING: p50 <fast> & friends",
                                                 "emoji": True}}
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert len(section["text"]["text"]) <= 3000 and 1 <= len(section["fields"]) <= 10
    assert all(f["type"] == "mrkdwn" and len(f["text"]) <= 2000 for f in section["fields"])
    assert {f["text"].split("\n")[0] for f in section["fields"]} == {"*Value*", "*Threshold*", "*Project*",
                                                                       "*Counted*"}
    assert "*Value*\n950.0 ms" in [f["text"] for f in section["fields"]]
    assert context["type"] == "context" and f"<{PUBLIC_URL}/graphql|Benchlab>" in context["elements"][0]["text"]


# The API: CRUD, permissions, secrets, the subscription ------------------------------------------------------------

RULE_FIELDS = "id name kind metric percentile threshold unit windowMinutes minCount source model enabled state " \
              "lastValue lastCount condition"
CREATE_RULE = ("mutation($input: CreateAlertRuleInput!) { createAlertRule(input: $input) { alertRule { "
               f"{RULE_FIELDS} }} }} }}")
CREATE_WEBHOOK = ("mutation($input: CreateAlertWebhookInput!) { createAlertWebhook(input: $input) { alertWebhook { "
                  "id name url format hasSecret enabled } } }")
PROJECT_ALERTS = ("query($id: ID!) { project(id: $id) { alertRules(first: 10) { nodes { name state lastValue } } "
                  "alerts(first: 10) { totalCount nodes { state value threshold unit summary incidentId "
                  "rule { name } } } } }")


@dataclass
class Api:
    client: TestClient
    project: str           # global id
    project_id: UUID
    keys: dict[str, str]   # role -> key; "stranger": an owner of another project

    def call(self, role: str, query: str, **variables: Any) -> dict[str, Any]:
        return as_key(self.client, self.keys[role], query, **variables)

    def ok(self, role: str, query: str, **variables: Any) -> dict[str, Any]:
        body = self.call(role, query, **variables)
        assert not body.get("errors"), body["errors"]
        return body["data"]


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    """The app with its own alert loops off: the test drives the evaluator with its clock."""
    with TestClient(create_app(replace(settings, alerts_interval_s=0, public_url_override=PUBLIC_URL))) as client:
        runtime = client.app.state.runtime

        async def seed() -> tuple[UUID, dict[str, str]]:
            async with runtime.pg.acquire() as conn:
                project_id = await conn.fetchval("INSERT INTO projects (slug, name) VALUES ('ops', 'Ops') RETURNING id")
                other = await conn.fetchval("INSERT INTO projects (slug, name) VALUES ('other', 'O') RETURNING id")
                keys = {role: await make_key(conn, project_id, role) for role in ("viewer", "member", "admin")}
                keys["stranger"] = await make_key(conn, other, "owner")
            return project_id, keys

        project_id, keys = client.portal.call(seed)
        yield Api(client, encode_global_id("Project", project_id), project_id, keys)


def _evaluator(api: Api, clock: Clock) -> Evaluator:
    runtime = api.client.app.state.runtime
    return Evaluator(runtime.pg, runtime.clickhouse, runtime.hub, public_url=PUBLIC_URL, interval_s=30, clock=clock)


def _insert_requests(api: Api, ttft_ms: float, count: int, at: datetime) -> None:
    store: ClickHouseStore = api.client.app.state.runtime.clickhouse

    async def insert() -> None:
        columns = await table_columns(store)
        rows = [event_row(columns, n, project_id=api.project_id, run_id=NIL_UUID, experiment_id=NIL_UUID,
                          event_id=uuid.uuid4(), source="production", ts=at, ttft_ms=ttft_ms) for n in range(count)]
        await store.insert("request_events", rows, columns, caller="tests")

    api.client.portal.call(insert)


def test_rules_are_managed_by_members_and_read_by_viewers(api: Api) -> None:
    rule_input = {"projectId": api.project, "name": "p95 TTFT", "kind": "LATENCY_PERCENTILE", "metric": "TTFT",
                  "percentile": 95, "threshold": 800, "windowMinutes": 5, "source": "PRODUCTION"}
    forbidden = api.call("viewer", CREATE_RULE, input=rule_input)
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert api.call("stranger", CREATE_RULE, input=rule_input)["errors"][0]["extensions"]["code"] == "NOT_FOUND"

    created = api.ok("member", CREATE_RULE, input=rule_input)["createAlertRule"]["alertRule"]
    assert {k: created[k] for k in ("kind", "metric", "unit", "minCount", "state", "lastValue", "condition")} == {
        "kind": "LATENCY_PERCENTILE", "metric": "TTFT", "unit": "ms", "minCount": 20, "state": "OK",
        "lastValue": None, "condition": "p95 ttft_ms over 5 min > 800 ms (production)"}
    again = api.call("member", CREATE_RULE, input=rule_input)
    assert again["errors"][0]["extensions"]["code"] == "CONFLICT" and "named 'p95 TTFT'" in again["errors"][0][
        "message"]
    bad = api.call("member", CREATE_RULE, input={**rule_input, "name": "bad", "metric": "COST", "percentile": 0})
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert [p.split(":")[0] for p in bad["errors"][0]["extensions"]["problems"]] == ["metric", "percentile"]

    update = ("mutation($input: UpdateAlertRuleInput!) { updateAlertRule(input: $input) { alertRule { threshold "
              "model condition } } }")
    assert api.call("viewer", update, input={"id": created["id"], "threshold": 900})["errors"][0]["extensions"][
        "code"] == "FORBIDDEN"
    changed = api.ok("member", update, input={"id": created["id"], "threshold": 900, "model": "gpt"})
    assert changed["updateAlertRule"]["alertRule"] == {
        "threshold": 900.0, "model": "gpt", "condition": "p95 ttft_ms over 5 min > 900 ms (production, model gpt)"}
    listed = api.ok("viewer", PROJECT_ALERTS, id=api.project)["project"]
    assert listed["alertRules"]["nodes"] == [{"name": "p95 TTFT", "state": "OK", "lastValue": None}]

    deleted = api.ok("member", "mutation($id: ID!) { deleteAlertRule(id: $id) { alertRule { archivedAt enabled } "
                               "resolved { id } } }", id=created["id"])["deleteAlertRule"]
    assert deleted["alertRule"]["archivedAt"] and not deleted["alertRule"]["enabled"] and deleted["resolved"] is None
    assert api.ok("viewer", PROJECT_ALERTS, id=api.project)["project"]["alertRules"]["nodes"] == []


def test_webhooks_are_admin_only_and_their_secret_is_never_returned_or_logged(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    _server_log_levels(caplog)
    with webhook_receiver() as receiver:
        hook_input = {"projectId": api.project, "name": "ops", "url": receiver.url, "secret": SECRET}
        assert api.call("member", CREATE_WEBHOOK, input=hook_input)["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        response = api.client.post("/graphql", json={"query": CREATE_WEBHOOK, "variables": {"input": hook_input}},
                                   headers={"Authorization": f"Bearer {api.keys['admin']}"})
        assert SECRET not in response.text
        hook = response.json()["data"]["createAlertWebhook"]["alertWebhook"]
        assert hook == {"id": hook["id"], "name": "ops", "url": receiver.url, "format": "BENCHLAB",
                        "hasSecret": True, "enabled": True}
        bad = api.call("admin", CREATE_WEBHOOK, input={**hook_input, "name": "x", "url": "ftp://h/x", "secret": "s"})
        assert bad["errors"][0]["extensions"]["problems"] == [
            "url: an absolute http:// or https:// URL with a host, e.g. https://hooks.slack.com/services/..."]

        listing = "query($id: ID!) { project(id: $id) { alertWebhooks(first: 5) { nodes { id url hasSecret } } } }"
        assert api.call("viewer", listing, id=api.project)["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        by_node = api.call("viewer", "query($id: ID!) { node(id: $id) { ... on AlertWebhook { name url } } }",
                           id=hook["id"])
        assert by_node["errors"][0]["extensions"]["code"] == "FORBIDDEN" and receiver.url not in json.dumps(by_node)

        api.ok("member", CREATE_RULE, input={"projectId": api.project, "name": "slow", "kind": "LATENCY_PERCENTILE",
                                             "metric": "TTFT", "percentile": 50, "threshold": 100,
                                             "windowMinutes": 5, "minCount": 1, "source": "PRODUCTION"})
        _insert_requests(api, 250.0, 2, NOW - timedelta(minutes=1))
        runtime = api.client.app.state.runtime
        api.client.portal.call(_evaluator(api, Clock()).tick)
        sender = WebhookSender(runtime.pg, runtime.secrets)
        api.client.portal.call(sender.send_due)
        api.client.portal.call(sender.close)
        [request] = receiver.received()
        assert verify(SECRET, request.headers["benchlab-signature"], request.body)

        log = api.ok("admin", "query($id: ID!) { node(id: $id) { ... on AlertWebhook { deliveries(first: 5) { nodes { "
                              "deliveryId status attempts event { state } attemptLog { attempt statusCode error } } "
                              "} } } }", id=hook["id"])["node"]["deliveries"]["nodes"]
        assert log == [{"deliveryId": request.headers["benchlab-delivery"], "status": "DELIVERED", "attempts": 1,
                        "event": {"state": "FIRING"}, "attemptLog": [{"attempt": 1, "statusCode": 200,
                                                                      "error": None}]}]
        secret_update = api.ok("admin", "mutation($input: UpdateAlertWebhookInput!) { updateAlertWebhook(input: "
                                        "$input) { alertWebhook { hasSecret } } }",
                               input={"id": hook["id"], "secret": None})
        assert secret_update["updateAlertWebhook"]["alertWebhook"] == {"hasSecret": False}

    async def stored() -> tuple[list[str], list[bytes]]:
        async with runtime.pg.acquire() as conn:
            audit = [r["details"] for r in await conn.fetch("SELECT details::text FROM audit_log")]
            secrets = [r[0] for r in await conn.fetch("SELECT secret_encrypted FROM alert_webhooks")]
            return audit, secrets

    audit, _ = api.client.portal.call(stored)
    everything = caplog.text + "".join(audit)
    assert SECRET not in everything and "s3cr3t-path-token" not in everything
    assert any('"endpoint": "http://127.0.0.1:' in entry for entry in audit)


def test_the_alerts_subscription_and_history_show_both_transitions(api: Api) -> None:
    clock = Clock()
    evaluator = _evaluator(api, clock)
    rule = api.ok("member", CREATE_RULE, input={
        "projectId": api.project, "name": "slow ttft", "kind": "LATENCY_PERCENTILE", "metric": "TTFT",
        "percentile": 50, "threshold": 300, "windowMinutes": 5, "minCount": 2, "source": "PRODUCTION"})
    _insert_requests(api, 400.0, 2, NOW - timedelta(minutes=2))
    query = ("subscription($p: ID!) { alerts(projectId: $p) { gap missed event { state value threshold unit "
             "summary rule { id name } } } }")
    with api.client.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        assert init(ws, {"authorization": f"Bearer {api.keys['viewer']}"})["type"] == "connection_ack"
        subscribe(ws, "a", query, p=api.project)
        hub = api.client.app.state.runtime.hub
        wait_until(lambda: any(s.channel == f"alerts:{api.project_id}" for s in hub.subscriptions()),
                   "the subscription to join its channel")
        api.client.portal.call(evaluator.tick)
        firing = receive(ws, 10)
        clock.advance(minutes=5)
        api.client.portal.call(evaluator.tick)
        resolved = receive(ws, 10)
    events = [m["payload"]["data"]["alerts"] for m in (firing, resolved)]
    assert [(e["gap"], e["event"]["state"], e["event"]["value"]) for e in events] == [
        (False, "FIRING", 400.0), (False, "RESOLVED", None)]
    assert events[0]["event"]["rule"] == {"id": rule["createAlertRule"]["alertRule"]["id"], "name": "slow ttft"}
    history = api.ok("viewer", PROJECT_ALERTS, id=api.project)["project"]["alerts"]
    assert history["totalCount"] == 2
    assert [n["state"] for n in history["nodes"]] == ["RESOLVED", "FIRING"]
    assert history["nodes"][0]["incidentId"] == history["nodes"][1]["incidentId"]
    stranger = api.client.websocket_connect("/graphql", subprotocols=PROTOCOL)
    with stranger as ws:
        init(ws, {"authorization": f"Bearer {api.keys['stranger']}"})
        subscribe(ws, "a", query, p=api.project)
        refused = receive(ws, 10)
    assert refused["type"] == "error" and refused["payload"][0]["extensions"]["code"] == "NOT_FOUND"


# docs/alerts.md: its examples work as written -------------------------------------------------------------------

DOCS = Path(__file__).resolve().parent.parent / "docs" / "alerts.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOCS.read_text(), re.S)


def test_the_documented_operations_run(api: Api) -> None:
    webhook_id = None
    ran = 0
    for block in _blocks("graphql"):
        if block.lstrip().startswith("subscription"):
            continue   # subscriptions are not HTTP operations; the same selection is run over WebSocket above
        assert webhook_id is not None or "WEBHOOK_ID" not in block
        data = api.ok("admin", block.replace("PROJECT_ID", api.project).replace("WEBHOOK_ID", webhook_id or ""))
        if "createAlertWebhook" in data:
            webhook_id = data["createAlertWebhook"]["alertWebhook"]["id"]
            assert data["createAlertWebhook"]["alertWebhook"]["hasSecret"] is True
        if "createAlertRule" in data:
            assert data["createAlertRule"]["alertRule"]["condition"] == "p95 ttft_ms over 5 min > 800 ms (production)"
        ran += 1
    assert ran == 5 and webhook_id is not None
    rules = api.ok("viewer", PROJECT_ALERTS, id=api.project)["project"]["alertRules"]["nodes"]
    assert sorted(r["name"] for r in rules) == ["budget", "errors", "helpfulness", "nightly gates", "p95 TTFT"]


async def test_the_documented_signature_check_accepts_real_deliveries_only(world: World) -> None:
    snippet = DOCS.read_text().split("<!-- verify-snippet -->", 1)[1]
    namespace: dict[str, Any] = {}
    exec(re.search(r"```python\n(.*?)```", snippet, re.S).group(1), namespace)  # noqa: S102 - our own docs
    check = namespace["verify_benchlab_signature"]
    with webhook_receiver() as receiver:
        await world.webhook(receiver.url)
        await _fire(world)
        await _deliver_all(world, WebhookSender(world.deps.pg, world.deps.secrets))
        [request] = receiver.received()
    header = request.headers["benchlab-signature"]
    assert check(SECRET, header, request.body)
    assert not check(SECRET, header, request.body.replace(b"950", b"951"))
    assert not check("not-the-secret-0123", header, request.body)
    timestamp = int(header.split(",")[0].removeprefix("t="))
    stale = f"t={timestamp - 301},v1=" + header.split("v1=")[1]
    assert not check(SECRET, stale, request.body)
