"""Load profiles: when each planned request is sent.

Closed loop (synchronous = 1 stream, concurrent = N streams): each stream sends its next request as soon as
the previous one finished. Open loop (constant rate, Poisson): requests are due on a schedule fixed in
advance, whatever the server does; an optional concurrency cap makes late requests wait, and that wait is
recorded as queue delay (actual send − intended send). Sweeps are sequences of these phases (see runner).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
Execute = Callable[[T, int], Awaitable[None]]   # (planned request, intended send time in perf_counter ns)
ShouldStop = Callable[[], bool]


def constant_offsets(rate: float) -> Iterator[float]:
    """Seconds from the phase start at which request i is due: i / rate."""
    return (i / rate for i in itertools.count())


def poisson_offsets(rate: float, seed: int) -> Iterator[float]:
    """A Poisson process: exponential gaps with mean 1/rate, reproducible from the seed."""
    rng = random.Random(seed)
    elapsed = 0.0
    for _ in itertools.count():
        yield elapsed
        elapsed += rng.expovariate(rate)


async def run_closed_loop(items: Iterable[T], concurrency: int, execute: Execute[T], should_stop: ShouldStop) -> int:
    """`concurrency` streams pull from `items` until it is exhausted or `should_stop()`; returns requests sent."""
    source = iter(items)
    sent = 0

    async def stream() -> None:
        nonlocal sent
        while not should_stop():
            try:
                item = next(source)
            except StopIteration:
                return
            sent += 1
            await execute(item, time.perf_counter_ns())

    await asyncio.gather(*(stream() for _ in range(concurrency)))
    return sent


async def run_open_loop(items: Iterable[T], offsets: Iterator[float], execute: Execute[T], should_stop: ShouldStop,
                        *, max_concurrency: int | None = None) -> int:
    """Send each item at its scheduled offset; returns requests sent.

    The schedule is absolute (start + offset), so a late wake-up never shifts later requests. With a cap,
    a request due while `max_concurrency` are in flight waits; its intended time stays the scheduled one.
    """
    cap = asyncio.Semaphore(max_concurrency) if max_concurrency else None
    tasks: set[asyncio.Task[None]] = set()
    start_ns = time.perf_counter_ns()
    sent = 0

    async def capped(item: T, intended_ns: int) -> None:
        if cap is None:
            await execute(item, intended_ns)
            return
        async with cap:
            await execute(item, intended_ns)

    try:
        for item, offset in zip(items, offsets, strict=False):
            if should_stop():
                break
            intended_ns = start_ns + int(offset * 1e9)
            delay = (intended_ns - time.perf_counter_ns()) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            if should_stop():
                break
            task = asyncio.create_task(capped(item, intended_ns))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            sent += 1
        if tasks:
            await asyncio.gather(*tasks)
    finally:  # cancelled (the run is stopped at once): requests in flight stop with it
        in_flight = list(tasks)
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
    return sent


def sweep_rates(sync_rate: float, max_rate: float, count: int) -> list[float]:
    """`count` rates evenly between the synchronous and the maximum throughput, both ends excluded."""
    if max_rate <= sync_rate:
        max_rate = sync_rate * 1.5
    step = (max_rate - sync_rate) / (count + 1)
    return [round(sync_rate + step * (i + 1), 3) for i in range(count)]
