"""Wait for a state, not for a duration: poll a condition until it holds, with a deadline that fails the test.

The deadline only bounds a wait that should end by itself; it is never what a test measures.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
POLL_S = 0.02


def wait_until(condition: Callable[[], T], what: str, within_s: float = 60) -> T:
    """Poll `condition()` until it returns something truthy, and return that; fail naming `what` at the deadline."""
    deadline = time.monotonic() + within_s
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {within_s:g}s for {what}")
        time.sleep(POLL_S)
    return result


async def eventually(condition: Callable[[], T | Awaitable[T]], what: str, within_s: float = 60) -> T:
    """`wait_until` for async tests: polls without blocking the event loop (which may be running what it waits
    for); `condition` may be a plain function or a coroutine function."""
    deadline = time.monotonic() + within_s
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {within_s:g}s for {what}")
        await asyncio.sleep(POLL_S)
