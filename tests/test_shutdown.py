"""Stopping never hangs: a step of the shutdown that does not finish is named in the log and left behind.

Regression: asyncpg's Pool.close() waits without limit until every acquired connection is released, so one
connection a stuck task still held kept `Runtime.close()` (and with it a server's shutdown, or a test's app)
waiting forever.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from benchlab.config import Settings
from benchlab.runtime import Runtime, finished_within


async def test_a_connection_never_released_does_not_keep_the_runtime_from_closing(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    runtime = await Runtime.open(settings)
    leaked = await runtime.pg.acquire()  # held by "a stuck task": never released
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="benchlab.runtime"):
        await asyncio.wait_for(runtime.close(pool_close_timeout_s=1.0), timeout=30)
    assert time.monotonic() - started < 15
    assert "closing the PostgreSQL pool did not finish within 1 s" in caplog.text
    assert runtime.pg.is_closing()
    del leaked


async def test_a_step_that_ignores_its_cancellation_is_left_behind(caplog: pytest.LogCaptureFixture) -> None:
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await release.wait()
            except asyncio.CancelledError:
                continue  # ignores the cancellation: asyncio.wait_for would wait for it for ever

    with caplog.at_level(logging.WARNING, logger="benchlab.runtime"):
        assert not await asyncio.wait_for(finished_within("a stubborn step", stubborn(), 0.2), timeout=10)
    assert "a stubborn step did not finish within 0 s" in caplog.text
    release.set()
    assert await finished_within("a quick step", asyncio.sleep(0), 5)
