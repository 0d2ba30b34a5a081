"""Schedules (docs/schedules.md) on real PostgreSQL, chDB, the mock LLM and the run-queue worker.

Time is a controllable clock handed to the scheduler: a test sets it to an instant and ticks, so which due
times fire, when, and with which jitter is known before the tick. The clocks here run in 2030, after the real
time, so a server's own scheduler (real clock) never finds these schedules due.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from starlette.testclient import TestClient

from benchlab.app import create_app
from benchlab.catalog import register_experiment
from benchlab.config import Settings
from benchlab.engine.deps import EngineDeps
from benchlab.engine.runs import cancel_run
from benchlab.engine.worker import Worker
from benchlab.errors import InvalidInputError
from benchlab.schedules import manage
from benchlab.schedules.scheduler import Scheduler
from benchlab.schedules.timing import check_cron, check_jitter, check_timezone, plan_catch_up
from benchlab.spec import load_spec
from benchlab.stores import baselines
from benchlab.stores import schedules as store
from benchlab.stores.postgres import create_pool
from benchlab.stores.schedules import ScheduleSettings
from tests.helpers.access import db, make_key, sign_in
from tests.helpers.engine import mock_spec, run_spec
from tests.helpers.graphql import data, error_codes, gql
from tests.helpers.mock_llm import run_mock_llm
from tests.helpers.polling import eventually, wait_until

REPO = Path(__file__).resolve().parent.parent
START = datetime(2030, 1, 7, 10, 0, 30, tzinfo=UTC)  # a Monday, 30 s past a due time of `*/5 * * * *`
EVERY_5 = "*/5 * * * *"


class Clock:
    """The scheduler's time, set by the test."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, hour: int, minute: int, second: int = 0) -> datetime:
        self.now = START.replace(hour=hour, minute=minute, second=second)
        return self.now


def at(hour: int, minute: int, second: int = 0) -> datetime:
    return START.replace(hour=hour, minute=minute, second=second)


def settings(cron: str = EVERY_5, *, timezone: str = "UTC", jitter: int = 0, max_missed: int = 1,
             baseline: str = "main") -> ScheduleSettings:
    return ScheduleSettings(cron, timezone, jitter, max_missed, baseline)


async def experiment(deps: EngineDeps, spec: dict[str, Any]) -> tuple[UUID, UUID]:
    async with deps.pg.acquire() as conn:
        registered = await register_experiment(conn, load_spec(spec), deps.secrets)
    return registered.project_id, registered.experiment_id


async def schedule_of(deps: EngineDeps, spec: dict[str, Any], clock: Clock, **options: Any) -> store.ScheduleRecord:
    project_id, experiment_id = await experiment(deps, spec)
    async with deps.pg.acquire() as conn:
        return await manage.create_schedule(conn, project_id, experiment_id, settings(**options), "tests", clock())


async def started(deps: EngineDeps, schedule_id: UUID) -> list[asyncpg.Record]:
    """The schedule's started firings with their runs, oldest due time first."""
    async with deps.pg.acquire() as conn:
        return await conn.fetch(
            "SELECT f.due_at, f.fired_at, f.catch_up, f.gate_status, f.note, r.id AS run_id, r.status, "
            "r.config_snapshot, r.queue_job_id, r.experiment_id FROM schedule_firings f "
            "JOIN runs r ON r.id = f.run_id WHERE f.schedule_id = $1 AND f.outcome = 'started' ORDER BY f.due_at",
            schedule_id)


async def reread(deps: EngineDeps, schedule_id: UUID) -> store.ScheduleRecord:
    async with deps.pg.acquire() as conn:
        found = await store.get_schedule(conn, schedule_id)
    assert found is not None
    return found


def predicted_jitter(schedule_id: UUID, due: datetime, jitter: int) -> timedelta:
    """The documented formula (docs/schedules.md), computed here independently of the scheduler."""
    digest = hashlib.sha256(f"{schedule_id}|{due.astimezone(UTC).isoformat()}".encode()).digest()
    return timedelta(seconds=int.from_bytes(digest[:8], "big") % (jitter + 1))


async def test_every_five_minutes_over_twenty_minutes_starts_four_runs_at_their_due_times(
        engine_deps: EngineDeps) -> None:
    clock = Clock(START)
    spec = mock_spec("http://127.0.0.1:9")
    schedule = await schedule_of(engine_deps, spec, clock)
    assert schedule.next_due_at == schedule.next_fire_at == at(10, 5)
    scheduler = Scheduler(engine_deps, clock)
    first_tick_at: dict[datetime, datetime] = {}
    while clock.now < at(10, 20, 30):
        clock.now += timedelta(seconds=20)
        for fired in (await scheduler.tick()).fired:
            assert fired.outcome == "started" and not fired.catch_up
            first_tick_at[fired.due_at] = clock.now
    expected = [at(10, 5), at(10, 10), at(10, 15), at(10, 20)]
    assert sorted(first_tick_at) == expected
    for due, fired_at in first_tick_at.items():  # each at the first tick at or after its due time
        assert timedelta(0) <= fired_at - due < timedelta(seconds=20)
    runs = await started(engine_deps, schedule.id)
    assert [row["due_at"] for row in runs] == expected
    async with engine_deps.pg.acquire() as conn:
        stored_spec = await conn.fetchval("SELECT spec FROM experiments WHERE id = $1", schedule.experiment_id)
        all_runs = await conn.fetchval("SELECT count(*) FROM runs WHERE experiment_id = $1", schedule.experiment_id)
        jobs = await conn.fetchval("SELECT count(*) FROM pgqueuer WHERE id = ANY($1::bigint[])",
                                   [row["queue_job_id"] for row in runs])
        audit = await conn.fetch("SELECT actor, target FROM audit_log WHERE action = 'run.start'")
    assert all_runs == 4 and jobs == 4  # queued as startRun queues them: the stored spec, a job each
    for row in runs:
        assert row["status"] == "queued" and row["experiment_id"] == schedule.experiment_id
        assert row["config_snapshot"] == load_spec(stored_spec).to_dict()
    assert sorted(a["target"] for a in audit) == sorted(str(row["run_id"]) for row in runs)
    assert {a["actor"] for a in audit} == {f"schedule:{schedule.id}"}
    after = await reread(engine_deps, schedule.id)
    assert (after.fired_count, after.skipped_count, after.next_due_at) == (4, 0, at(10, 25))
    assert after.last_run_id == runs[-1]["run_id"] and after.last_fired_at == first_tick_at[at(10, 20)]


async def test_jitter_delays_each_firing_deterministically_within_its_bound(engine_deps: EngineDeps) -> None:
    clock = Clock(START)
    jitter = 240
    schedule = await schedule_of(engine_deps, mock_spec("http://127.0.0.1:9"), clock, jitter=jitter)
    scheduler = Scheduler(engine_deps, clock)
    dues = [at(10, 5), at(10, 10), at(10, 15), at(10, 20)]
    delays = [predicted_jitter(schedule.id, due, jitter) for due in dues]
    assert all(timedelta(0) <= delay <= timedelta(seconds=jitter) for delay in delays)
    assert len(set(delays)) > 1, "a hash of the due time: the delays differ"
    assert schedule.next_fire_at == dues[0] + delays[0]
    for n, (due, delay) in enumerate(zip(dues, delays, strict=True)):
        clock.now = due + delay - timedelta(seconds=1)
        assert (await scheduler.tick()).fired == [], f"fired before its jitter elapsed: {due}"
        clock.now = due + delay
        fired = (await scheduler.tick()).fired
        assert [(f.due_at, f.outcome) for f in fired] == [(due, "started")]
        assert len(await started(engine_deps, schedule.id)) == n + 1
        if n + 1 < len(dues):
            assert (await reread(engine_deps, schedule.id)).next_fire_at == dues[n + 1] + delays[n + 1]
    # Another schedule of the same cron gets other delays: the schedule id is part of the hash.
    other = await schedule_of(engine_deps, mock_spec("http://127.0.0.1:9"), clock, jitter=jitter)
    assert [predicted_jitter(other.id, due, jitter) for due in dues] != delays
    assert other.next_fire_at == other.next_due_at + predicted_jitter(other.id, other.next_due_at, jitter)


async def test_after_a_downtime_at_most_max_missed_runs_catch_up_and_the_rest_are_skipped(
        engine_deps: EngineDeps) -> None:
    clock = Clock(START)
    capped = await schedule_of(engine_deps, mock_spec("http://127.0.0.1:9"), clock, max_missed=2)
    none = await schedule_of(engine_deps, mock_spec("http://127.0.0.1:9", name="other"), clock, max_missed=0)
    clock.at(11, 2)  # down from 10:00:30 to 11:02: due 10:05 .. 11:00, twelve due times
    fired = (await Scheduler(engine_deps, clock).tick()).fired
    mine = [f for f in fired if f.schedule_id == capped.id]
    assert [(f.due_at, f.outcome, f.catch_up) for f in mine] == [
        (at(10, 5), "skipped", False), (at(10, 50), "started", True), (at(10, 55), "started", True),
        (at(11, 0), "started", False)]
    assert mine[0].skipped_count == 9
    async with engine_deps.pg.acquire() as conn:
        skipped = await conn.fetchrow("SELECT * FROM schedule_firings WHERE schedule_id = $1 AND outcome = 'skipped'",
                                      capped.id)
    assert (skipped["due_at"], skipped["skipped_through"], skipped["skipped_count"]) == (at(10, 5), at(10, 45), 9)
    after = await reread(engine_deps, capped.id)
    assert (after.fired_count, after.skipped_count, after.next_due_at) == (3, 9, at(11, 5))
    assert [row["due_at"] for row in await started(engine_deps, none.id)] == [at(11, 0)]
    assert (await reread(engine_deps, none.id)).skipped_count == 11
    clock.at(11, 5)  # back to normal: one run per due time
    assert [(f.due_at, f.catch_up) for f in (await Scheduler(engine_deps, clock).tick()).fired
            if f.schedule_id == capped.id] == [(at(11, 5), False)]


def test_a_very_long_downtime_is_planned_in_bounded_time_with_a_lower_bound_of_skipped_runs() -> None:
    schedule_id = UUID(int=7)
    plan = plan_catch_up(schedule_id, "* * * * *", "UTC", 0, 1, at(10, 1), at(10, 1) + timedelta(days=365))
    assert [due for due, _ in plan.run] == [at(10, 0) + timedelta(days=365), at(10, 1) + timedelta(days=365)]
    assert not plan.skipped_exact and plan.skipped_count >= 20_000
    assert plan.next_due == at(10, 2) + timedelta(days=365)


async def test_paused_schedules_start_nothing_and_resume_from_now_without_a_burst(engine_deps: EngineDeps) -> None:
    clock = Clock(START)
    schedule = await schedule_of(engine_deps, mock_spec("http://127.0.0.1:9"), clock, max_missed=5)
    scheduler = Scheduler(engine_deps, clock)
    clock.at(10, 5, 10)
    assert len((await scheduler.tick()).fired) == 1
    async with engine_deps.pg.acquire() as conn:
        paused = await manage.pause_schedule(conn, schedule.id, "tests")
    assert paused.paused
    for minute in (10, 20, 30, 40):
        clock.at(10, minute, 1)
        assert (await scheduler.tick()).fired == []
    clock.at(10, 41, 7)
    async with engine_deps.pg.acquire() as conn:
        resumed = await manage.resume_schedule(conn, schedule.id, "tests", clock())
    assert not resumed.paused and resumed.next_due_at == at(10, 45)
    assert (await scheduler.tick()).fired == []  # no burst of the due times missed while paused
    clock.at(10, 45)
    assert [f.due_at for f in (await scheduler.tick()).fired] == [at(10, 45)]
    assert [row["due_at"] for row in await started(engine_deps, schedule.id)] == [at(10, 5), at(10, 45)]
    assert (await reread(engine_deps, schedule.id)).skipped_count == 0
    async with engine_deps.pg.acquire() as conn:
        actions = [row["action"] for row in await conn.fetch(
            "SELECT action FROM audit_log WHERE target = $1 ORDER BY id", str(schedule.id))]
    assert actions == ["schedule.create", "schedule.pause", "schedule.resume"]


async def test_two_schedulers_ticking_at_once_start_one_run_per_due_time(engine_deps: EngineDeps,
                                                                       database_url: str) -> None:
    clock = Clock(START)
    schedules = [await schedule_of(engine_deps, mock_spec("http://127.0.0.1:9", name=f"exp-{n}"), clock,
                                   cron="* * * * *") for n in range(4)]
    other_pool = await create_pool(database_url)  # a second replica: its own connections
    try:
        other_deps = EngineDeps(other_pool, engine_deps.clickhouse, engine_deps.hub, engine_deps.data_dir,
                                engine_deps.secrets)
        first, second = Scheduler(engine_deps, clock), Scheduler(other_deps, clock)
        rounds = 40
        fired_by = [0, 0]
        for n in range(rounds):
            clock.now = START + timedelta(minutes=n + 1)
            results = await asyncio.gather(first.tick(), second.tick(), first.tick(), second.tick())
            for index, result in enumerate(results):
                fired_by[index % 2] += len(result.fired)
    finally:
        await other_pool.close()
    assert sum(fired_by) == rounds * len(schedules)
    for schedule in schedules:
        runs = await started(engine_deps, schedule.id)
        dues = [row["due_at"] for row in runs]
        assert dues == [START.replace(second=0) + timedelta(minutes=n + 1) for n in range(rounds)]
        async with engine_deps.pg.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM runs WHERE experiment_id = $1",
                                       schedule.experiment_id) == rounds
    async with engine_deps.pg.acquire() as conn:  # a retried insert of a taken due time starts nothing
        assert await store.record_firing(conn, schedules[0].id, START.replace(second=0) + timedelta(minutes=1),
                                         clock(), store.STARTED) is None


def test_bad_cron_timezone_and_jitter_name_what_is_wrong() -> None:
    cases = {
        "* * * *": "has 4 field(s); write exactly 5",
        "61 * * * *": "the minute field '61' is not valid; use 0-59",
        "0 24 * * *": "the hour field '24' is not valid; use 0-23",
        "0 0 0 * *": "the day of month field '0' is not valid; use 1-31",
        "0 0 * 13 *": "the month field '13' is not valid; use 1-12",
        "0 0 * * funday": "the day of week field 'funday' is not valid",
        "0 0 30 2 *": "never fires",
        "@reboot": "not a known alias",
    }
    for cron, message in cases.items():
        with pytest.raises(InvalidInputError, match="cron: .*" + message.replace("(", r"\(").replace(")", r"\)")):
            check_cron(cron)
    assert check_cron("  0  6 * * 1-5 ") == "0 6 * * 1-5"
    with pytest.raises(InvalidInputError, match="timezone: 'Mars/Olympus' is not an IANA time zone"):
        check_timezone("Mars/Olympus")
    with pytest.raises(InvalidInputError, match=r"jitterSeconds: 3601 is out of range; use 0\.\.3600"):
        check_jitter(3601, "0 * * * *", "UTC", START)
    with pytest.raises(InvalidInputError, match=r"not shorter than the shortest interval .* \(300 s\)"):
        check_jitter(300, EVERY_5, "UTC", START)
    assert check_jitter(299, EVERY_5, "UTC", START) == 299


async def test_due_times_follow_the_time_zone_across_daylight_saving_time(engine_deps: EngineDeps) -> None:
    clock = Clock(datetime(2030, 3, 29, 12, tzinfo=UTC))  # Europe/Berlin moves to summer time on 2030-03-31
    schedule = await schedule_of(engine_deps, mock_spec("http://127.0.0.1:9"), clock, cron="0 9 * * *",
                                 timezone="Europe/Berlin")
    scheduler = Scheduler(engine_deps, clock)
    for day in range(1, 4):
        clock.now = datetime(2030, 3, 29, 12, tzinfo=UTC) + timedelta(days=day)
        await scheduler.tick()
    dues = [row["due_at"] for row in await started(engine_deps, schedule.id)]
    assert dues == [datetime(2030, 3, 30, 8, tzinfo=UTC), datetime(2030, 3, 31, 7, tzinfo=UTC),
                    datetime(2030, 4, 1, 7, tzinfo=UTC)]  # 09:00 CET, then 09:00 CEST


FAST = "mock-llm?ttft_ms=100&gap_ms=1"
SLOW = "mock-llm?ttft_ms=300&gap_ms=1"  # three times as slow: fails a 50 % regression gate by far
# The median only, with a wide tolerance: a stall of a shared 2-core machine can move a run's figures by tens of
# ms (tests/test_gates.py), which must not fail the identical run (its median would have to move by 50 ms); the
# slower model fails it by 150 points.
GATES = [{"metric": "ttft_ms", "stat": "p50", "regression": "50 %"}]


def gated(base_url: str, model: str) -> dict[str, Any]:
    spec = mock_spec(base_url, models={"m": model}, items=100, load={"profile": "concurrent", "concurrency": 20})
    spec.update(name="nightly", params={"max_tokens": 2}, gates=GATES)
    return spec


async def run_by_worker(deps: EngineDeps, run_id: UUID) -> str:
    """Let a run-queue worker (as `serve` embeds one) take the queued run and execute it to its end."""
    worker = Worker(deps)
    working = asyncio.create_task(worker.run())
    try:
        async def ended() -> str | None:
            async with deps.pg.acquire() as conn:
                status = await conn.fetchval("SELECT status FROM runs WHERE id = $1", run_id)
            return status if status in ("completed", "failed", "cancelled") else None
        return await eventually(ended, f"run {run_id} to end", within_s=120)
    finally:
        worker.stop()
        await working


async def test_scheduled_runs_are_gated_against_the_baseline_once_a_worker_completes_them(
        engine_deps: EngineDeps) -> None:
    clock = Clock(START)
    with run_mock_llm() as mock:
        baseline = await run_spec(engine_deps, gated(mock.base_url, FAST))
        async with engine_deps.pg.acquire() as conn:
            await baselines.set_baseline(conn, baseline.id, "main", "tests")
        schedule = await schedule_of(engine_deps, gated(mock.base_url, FAST), clock)
        scheduler = Scheduler(engine_deps, clock)

        clock.at(10, 5)
        (fired,) = (await scheduler.tick()).fired
        assert fired.run_id is not None
        assert (await scheduler.tick()).settled == []  # queued: nothing to gate yet
        assert await run_by_worker(engine_deps, fired.run_id) == "completed"
        (passed,) = (await scheduler.tick()).settled
        assert (passed.run_id, passed.gate_status, passed.note) == (fired.run_id, "passed", "against main")

        await experiment(engine_deps, gated(mock.base_url, SLOW))  # the experiment now runs a slower model
        clock.at(10, 10)
        (slower,) = (await scheduler.tick()).fired
        assert slower.run_id is not None
        assert await run_by_worker(engine_deps, slower.run_id) == "completed"
        (failed,) = (await scheduler.tick()).settled
        assert (failed.run_id, failed.gate_status) == (slower.run_id, "failed")

        clock.at(10, 15)
        (cancelled,) = (await scheduler.tick()).fired
        assert cancelled.run_id is not None
        await cancel_run(engine_deps, cancelled.run_id)
        (not_gated,) = (await scheduler.tick()).settled
        assert (not_gated.gate_status, not_gated.note) == ("not_gated", "the run cancelled")
        assert (await scheduler.tick()).settled == []  # each outcome recorded once

    async with engine_deps.pg.acquire() as conn:
        gates = {row["id"]: row for row in await conn.fetch(
            "SELECT id, gate_status, gate_report FROM runs WHERE id = ANY($1::uuid[])",
            [fired.run_id, slower.run_id, cancelled.run_id])}
    assert gates[fired.run_id]["gate_status"] == "passed"
    assert gates[slower.run_id]["gate_status"] == "failed"
    assert gates[cancelled.run_id]["gate_status"] is None
    report = gates[slower.run_id]["gate_report"]
    assert report["baseline_label"] == "main"
    p50 = next(result for result in report["results"] if result["gate"] == "ttft_ms p50")
    assert p50["verdict"] == "fail" and 300 <= p50["candidate"] < 600 and 100 <= p50["baseline"] < 250
    runs = await started(engine_deps, schedule.id)
    assert [row["gate_status"] for row in runs] == ["passed", "failed", "not_gated"]
    after = await reread(engine_deps, schedule.id)
    assert (after.fired_count, after.failed_gates) == (3, 1)


# --- the API --------------------------------------------------------------------------------------------------

SCHEDULE_FIELDS = """id cron timezone jitterSeconds maxMissedRuns baseline paused nextDueAt nextRunAt
    counters { fired skipped startErrors failedGates } createdBy lastRun { id }
    recentRuns(first: 10) { nodes { dueAt outcome gate run { id } } }"""
CREATE = f"""mutation($input: CreateScheduleInput!) {{ createSchedule(input: $input) {{ schedule {{ {SCHEDULE_FIELDS} }}
    }} }}"""


def stored_experiment(client: TestClient, name: str = "nightly") -> tuple[UUID, UUID]:
    runtime = client.app.state.runtime

    async def create() -> tuple[UUID, UUID]:
        async with runtime.pg.acquire() as conn:
            registered = await register_experiment(conn, load_spec(mock_spec("http://127.0.0.1:9", name=name)),
                                                   runtime.secrets)
        return registered.project_id, registered.experiment_id

    return client.portal.call(create)


def key_of(client: TestClient, project_id: UUID, role: str) -> str:
    async def create() -> str:
        async with client.app.state.runtime.pg.acquire() as conn:
            return await make_key(conn, project_id, role)
    return client.portal.call(create)


def as_bearer(client: TestClient, key: str, query: str, **variables: Any) -> dict[str, Any]:
    response = client.post("/graphql", json={"query": query, "variables": variables},
                           headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 200, response.text
    return response.json()


def test_create_update_pause_resume_delete_through_the_api(client: TestClient) -> None:
    _, experiment_id = stored_experiment(client)
    before = datetime.now(UTC)
    created = data(client, CREATE, input={"experimentId": str(experiment_id), "cron": "0 6 * * 1-5",
                                          "timezone": "Europe/Berlin", "jitterSeconds": 600})["createSchedule"]
    schedule = created["schedule"]
    assert (schedule["cron"], schedule["timezone"], schedule["jitterSeconds"], schedule["maxMissedRuns"],
            schedule["baseline"], schedule["paused"]) == ("0 6 * * 1-5", "Europe/Berlin", 600, 1, "main", False)
    due = datetime.fromisoformat(schedule["nextDueAt"])
    assert due > before and due.astimezone(UTC).hour in (4, 5) and due.weekday() < 5  # 06:00 Berlin time
    assert timedelta(0) <= datetime.fromisoformat(schedule["nextRunAt"]) - due <= timedelta(seconds=600)
    assert schedule["counters"] == {"fired": 0, "skipped": 0, "startErrors": 0, "failedGates": 0}
    assert schedule["createdBy"] == "admin@example.com" and schedule["recentRuns"]["nodes"] == []

    listed = data(client, "query($id: ID!) { node(id: $id) { ... on Experiment { schedules { id cron } } } }",
                  id=_experiment_global_id(client, experiment_id))
    assert listed["node"]["schedules"] == [{"id": schedule["id"], "cron": "0 6 * * 1-5"}]

    update = """mutation($input: UpdateScheduleInput!) { updateSchedule(input: $input) {
        schedule { cron maxMissedRuns baseline nextDueAt } } }"""
    updated = data(client, update, input={"id": schedule["id"], "cron": "@hourly", "maxMissedRuns": 0,
                                          "baseline": "release-1.4"})["updateSchedule"]["schedule"]
    assert (updated["cron"], updated["maxMissedRuns"], updated["baseline"]) == ("@hourly", 0, "release-1.4")
    assert datetime.fromisoformat(updated["nextDueAt"]).minute == 0
    pause = "mutation($id: ID!) { pauseSchedule(input: {id: $id}) { schedule { paused } } }"
    resume = "mutation($id: ID!) { resumeSchedule(input: {id: $id}) { schedule { paused nextDueAt } } }"
    assert data(client, pause, id=schedule["id"])["pauseSchedule"]["schedule"]["paused"] is True
    resumed = data(client, resume, id=schedule["id"])["resumeSchedule"]["schedule"]
    assert resumed["paused"] is False and datetime.fromisoformat(resumed["nextDueAt"]) > before
    deleted = data(client, "mutation($id: ID!) { deleteSchedule(input: {id: $id}) { deletedId experiment { "
                   "schedules { id } } } }", id=schedule["id"])["deleteSchedule"]
    assert deleted == {"deletedId": schedule["id"], "experiment": {"schedules": []}}
    audited = db(client, "SELECT action, actor, target, details FROM audit_log WHERE action LIKE 'schedule.%' "
                         "ORDER BY id")
    assert [row["action"] for row in audited] == ["schedule.create", "schedule.update", "schedule.pause",
                                                  "schedule.resume", "schedule.delete"]
    assert {(row["actor"], row["details"]["address"]) for row in audited} == {("admin@example.com", "testclient")}
    assert audited[1]["details"]["before"]["cron"] == "0 6 * * 1-5"
    assert audited[1]["details"]["after"]["cron"] == "@hourly"


def _experiment_global_id(client: TestClient, experiment_id: UUID) -> str:
    from benchlab.api.ids import encode_global_id

    return encode_global_id("Experiment", experiment_id)


def test_bad_input_is_refused_with_the_field_and_how_to_fix_it(client: TestClient) -> None:
    _, experiment_id = stored_experiment(client)
    cases = [({"cron": "*/5 * * *"}, "cron: '*/5 * * *' has 4 field(s)"),
             ({"cron": "0 25 * * *"}, "cron: the hour field '25' is not valid; use 0-23"),
             ({"cron": "* * * * *", "timezone": "Europe/Atlantis"}, "timezone: 'Europe/Atlantis' is not an IANA"),
             ({"cron": "0 * * * *", "jitterSeconds": -1}, "jitterSeconds: -1 is out of range; use 0..3600"),
             ({"cron": "*/5 * * * *", "jitterSeconds": 900}, "jitterSeconds: 900 s is not shorter than"),
             ({"cron": "0 * * * *", "maxMissedRuns": 101}, "maxMissedRuns: 101 is out of range; use 0..100"),
             ({"cron": "0 * * * *", "baseline": "not a name!"}, "baseline: 'not a name!' is neither")]
    for fields, message in cases:
        body = gql(client, CREATE, input={"experimentId": str(experiment_id), **fields})
        assert error_codes(body) == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["message"].startswith(message), body["errors"][0]["message"]
    assert db(client, "SELECT count(*) AS n FROM schedules")[0]["n"] == 0


def test_viewers_read_schedules_and_only_members_change_them(client: TestClient) -> None:
    project_id, experiment_id = stored_experiment(client)
    viewer, member = key_of(client, project_id, "viewer"), key_of(client, project_id, "member")
    outsider_project = db(client, "INSERT INTO projects (slug, name) VALUES ('other', 'Other') RETURNING id")[0]["id"]
    outsider = key_of(client, outsider_project, "owner")
    create = {"experimentId": str(experiment_id), "cron": "0 3 * * *"}

    refused = as_bearer(client, viewer, CREATE, input=create)
    assert error_codes(refused) == ["FORBIDDEN"] and "member" in refused["errors"][0]["message"]
    assert error_codes(as_bearer(client, outsider, CREATE, input=create)) == ["NOT_FOUND"]
    made = as_bearer(client, member, CREATE, input=create)
    assert not made.get("errors"), made
    schedule_id = made["data"]["createSchedule"]["schedule"]["id"]

    read = "query($id: ID!) { node(id: $id) { ... on Experiment { schedules { id nextRunAt } } } }"
    seen = as_bearer(client, viewer, read, id=_experiment_global_id(client, experiment_id))
    assert [s["id"] for s in seen["data"]["node"]["schedules"]] == [schedule_id]
    pause = "mutation($id: ID!) { pauseSchedule(input: {id: $id}) { schedule { paused } } }"
    assert error_codes(as_bearer(client, viewer, pause, id=schedule_id)) == ["FORBIDDEN"]
    assert error_codes(as_bearer(client, outsider, pause, id=schedule_id)) == ["NOT_FOUND"]
    assert as_bearer(client, member, pause, id=schedule_id)["data"]["pauseSchedule"]["schedule"]["paused"] is True
    node = as_bearer(client, viewer, "query($id: ID!) { node(id: $id) { ... on Schedule { paused cron } } }",
                     id=schedule_id)
    assert node["data"]["node"] == {"paused": True, "cron": "0 3 * * *"}


async def test_schedule_node_shows_recent_runs_with_their_gate_outcomes(engine_deps: EngineDeps,
                                                                       tmp_path: Path) -> None:
    from benchlab.auth.identity import Identity, IdentityKind
    from tests.helpers.graphql import execute_counting

    clock = Clock(START)
    schedule = await schedule_of(engine_deps, mock_spec("http://127.0.0.1:9"), clock, max_missed=1)
    scheduler = Scheduler(engine_deps, clock)
    clock.at(10, 5)
    (first,) = (await scheduler.tick()).fired
    assert first.run_id is not None
    await cancel_run(engine_deps, first.run_id)
    await scheduler.tick()
    clock.at(10, 31)
    await scheduler.tick()  # down 10:10 .. 10:25: 10:25 and 10:30 run, 10:10 .. 10:20 skipped
    admin = Identity(IdentityKind.USER, email="admin@example.com", is_instance_admin=True)
    from benchlab.api.ids import encode_global_id

    result, _ = await execute_counting(
        engine_deps.pg, """query($id: ID!) { node(id: $id) { ... on Schedule { lastRun { id status }
            counters { fired skipped }
            recentRuns(first: 10) { totalCount nodes { dueAt outcome catchUp skippedCount skippedThrough gate note
                run { id status } } } } } }""", admin, id=encode_global_id("Schedule", schedule.id))
    assert result.errors is None, result.errors
    node = result.data["node"]
    assert node["counters"] == {"fired": 3, "skipped": 3}
    rows = [(datetime.fromisoformat(r["dueAt"]), r["outcome"], r["catchUp"], r["skippedCount"], r["gate"])
            for r in node["recentRuns"]["nodes"]]
    assert rows == [(at(10, 30), "STARTED", False, 0, "PENDING"), (at(10, 25), "STARTED", True, 0, "PENDING"),
                    (at(10, 10), "SKIPPED", False, 3, None), (at(10, 5), "STARTED", False, 0, "NOT_GATED")]
    assert node["recentRuns"]["totalCount"] == 4
    assert node["recentRuns"]["nodes"][3]["run"]["status"] == "CANCELLED"
    assert node["recentRuns"]["nodes"][3]["note"] == "the run cancelled"
    assert node["lastRun"]["id"] == node["recentRuns"]["nodes"][0]["run"]["id"]


async def test_a_completed_run_that_cannot_be_gated_is_recorded_with_the_reason(engine_deps: EngineDeps) -> None:
    from benchlab.stores.runs import RunState, transition

    clock = Clock(START)
    schedule = await schedule_of(engine_deps, mock_spec("http://127.0.0.1:9"), clock)  # the spec has no gates
    scheduler = Scheduler(engine_deps, clock)
    clock.at(10, 5)
    (fired,) = (await scheduler.tick()).fired
    assert fired.run_id is not None
    async with engine_deps.pg.acquire() as conn:
        for state in (RunState.RUNNING, RunState.COMPLETED):
            assert await transition(conn, fired.run_id, state)
    (settled,) = (await scheduler.tick()).settled
    assert settled.gate_status == "not_gated"
    assert settled.note is not None and "its experiment has no gates; add a `gates:` list" in settled.note
    assert (await reread(engine_deps, schedule.id)).failed_gates == 0


def graphql_blocks(text: str) -> list[str]:
    return re.findall(r"```graphql\n(.+?)\n```", text, flags=re.S)


def test_the_documented_examples_work(client: TestClient) -> None:
    from benchlab.api.ids import encode_global_id

    _, experiment_id = stored_experiment(client)
    (example,) = graphql_blocks((REPO / "docs" / "schedules.md").read_text())
    schedule = data(client, example, experimentId=encode_global_id("Experiment", experiment_id))[
        "createSchedule"]["schedule"]
    assert schedule["paused"] is False and schedule["recentRuns"]["nodes"] == []
    assert schedule["counters"] == {"fired": 0, "skipped": 0, "startErrors": 0, "failedGates": 0}
    readme_section = (REPO / "README.md").read_text().split("### Schedules", 1)[1].split("\n## ", 1)[0]
    (short,) = graphql_blocks(readme_section)
    made = data(client, short.replace("EXPERIMENT_ID", str(experiment_id)))["createSchedule"]["schedule"]
    assert datetime.fromisoformat(made["nextRunAt"]) > datetime.now(UTC)
    assert len(db(client, "SELECT id FROM schedules WHERE experiment_id = $1", experiment_id)) == 2


def test_every_server_process_runs_the_scheduler_and_settles_what_it_started(settings: Settings) -> None:
    """The app's own scheduler (real clock, 1 s ticks): a due schedule fires; its run, executed by the embedded
    worker against a mock address nobody listens on, fails and is recorded as not gated."""
    with TestClient(create_app(replace(settings, scheduler_interval_s=1))) as client:
        sign_in(client, "admin@example.com", admin=True)
        _, experiment_id = stored_experiment(client)
        schedule = data(client, CREATE, input={"experimentId": str(experiment_id), "cron": "0 3 * * *"})[
            "createSchedule"]["schedule"]
        db(client, "UPDATE schedules SET next_due_at = date_trunc('minute', now()), "
                   "next_fire_at = date_trunc('minute', now()) WHERE experiment_id = $1", experiment_id)
        settled = wait_until(lambda: db(client, "SELECT f.gate_status, f.note, r.status FROM schedule_firings f "
                                                "JOIN runs r ON r.id = f.run_id WHERE f.settled_at IS NOT NULL"),
                             "the scheduled run to be fired, executed and settled", within_s=60)
        assert [(row["gate_status"], row["status"]) for row in settled] == [("not_gated", "failed")]
        assert settled[0]["note"].startswith("the run failed")
        node = data(client, "query($id: ID!) { node(id: $id) { ... on Schedule { nextRunAt counters { fired } } } }",
                    id=schedule["id"])["node"]
        assert node["counters"]["fired"] == 1 and datetime.fromisoformat(node["nextRunAt"]) > datetime.now(UTC)


def test_an_interval_of_zero_turns_the_scheduler_off(settings: Settings) -> None:
    with TestClient(create_app(replace(settings, scheduler_interval_s=0, workers=0))) as client:
        sign_in(client, "admin@example.com", admin=True)
        _, experiment_id = stored_experiment(client)
        data(client, CREATE, input={"experimentId": str(experiment_id), "cron": "0 3 * * *"})
        db(client, "UPDATE schedules SET next_due_at = now() - interval '1 minute', next_fire_at = now()")
        time.sleep(2)
        assert db(client, "SELECT count(*) AS n FROM schedule_firings")[0]["n"] == 0


async def test_a_due_time_of_an_archived_experiment_is_recorded_as_an_error_and_the_schedule_goes_on(
        engine_deps: EngineDeps) -> None:
    clock = Clock(START)
    schedule = await schedule_of(engine_deps, mock_spec("http://127.0.0.1:9"), clock)
    async with engine_deps.pg.acquire() as conn:
        await conn.execute("UPDATE experiments SET archived_at = now() WHERE id = $1", schedule.experiment_id)
    clock.at(10, 5)
    fired = (await Scheduler(engine_deps, clock).tick()).fired
    assert [(f.due_at, f.outcome, f.run_id) for f in fired] == [(at(10, 5), "error", None)]
    async with engine_deps.pg.acquire() as conn:
        note = await conn.fetchval("SELECT note FROM schedule_firings WHERE schedule_id = $1", schedule.id)
        runs = await conn.fetchval("SELECT count(*) FROM runs WHERE experiment_id = $1", schedule.experiment_id)
    assert note == "the experiment is archived; restore it or delete the schedule" and runs == 0
    after = await reread(engine_deps, schedule.id)
    assert (after.start_errors, after.fired_count, after.next_due_at) == (1, 0, at(10, 10))
