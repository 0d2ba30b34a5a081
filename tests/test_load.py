"""Load profiles: Poisson arrivals are exponential (KS test), open loops keep their schedule and cap, closed loops
respect N."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Iterator

from benchlab.engine.load import (
    constant_offsets,
    poisson_offsets,
    run_closed_loop,
    run_open_loop,
    sweep_rates,
)


def ks_statistic_exponential(samples: list[float], rate: float) -> float:
    ordered = sorted(samples)
    n = len(ordered)
    return max(max((i + 1) / n - (1 - math.exp(-rate * x)), (1 - math.exp(-rate * x)) - i / n)
               for i, x in enumerate(ordered))


def test_poisson_gaps_pass_a_ks_test_against_the_exponential() -> None:
    rate, n = 50.0, 4000
    offsets = list(itertools.islice(poisson_offsets(rate, seed=7), n + 1))
    gaps = [b - a for a, b in itertools.pairwise(offsets)]
    critical_1pct = 1.63 / math.sqrt(n)
    assert ks_statistic_exponential(gaps, rate) < critical_1pct
    # ...and fails against a wrong rate, so the test can tell the difference.
    assert ks_statistic_exponential(gaps, rate * 1.3) > critical_1pct
    assert abs(sum(gaps) / n - 1 / rate) < 0.1 / rate


def test_poisson_is_reproducible_from_its_seed() -> None:
    first = list(itertools.islice(poisson_offsets(10, seed=3), 50))
    assert first == list(itertools.islice(poisson_offsets(10, seed=3), 50))
    assert first != list(itertools.islice(poisson_offsets(10, seed=4), 50))


def test_constant_offsets() -> None:
    assert list(itertools.islice(constant_offsets(4), 4)) == [0.0, 0.25, 0.5, 0.75]


async def test_open_loop_keeps_its_schedule_and_does_not_wait_for_requests() -> None:
    """The schedule, not the achieved rate (a loaded machine sends late; benchmarks/timing_accuracy.py
    measures how late): intended times are exactly i / rate, no send is early, and sending never waits for
    requests to finish. Every request here waits until all of them were sent, so a loop that waited for
    requests could never send the second one."""
    rate, n = 1000.0, 100
    sends: list[tuple[int, int]] = []
    all_sent = asyncio.Event()

    async def execute(item: int, intended_ns: int) -> None:
        sends.append((intended_ns, time.perf_counter_ns()))
        if len(sends) == n:
            all_sent.set()
        await all_sent.wait()

    sent = await asyncio.wait_for(run_open_loop(range(n), constant_offsets(rate), execute, lambda: False), 60)
    assert sent == n == len(sends)
    intended = [i for i, _ in sends]
    assert all(b - a == int(1e9 / rate) or abs((b - a) - 1e9 / rate) <= 1 for a, b in itertools.pairwise(intended))
    assert all(actual >= due for due, actual in sends), "a request was sent before its scheduled time"


async def test_open_loop_cap_limits_concurrency() -> None:
    """With the cap at 4 and requests that only finish when released, exactly 4 are in flight once every
    request is due: the cap is reached and never exceeded."""
    cap, n = 4, 40
    in_flight = finished = 0
    release = asyncio.Event()
    all_due = asyncio.Event()

    def items() -> Iterator[int]:
        yield from range(n)
        all_due.set()  # the loop asked for one more item: every request is scheduled

    async def execute(item: int, intended_ns: int) -> None:
        nonlocal in_flight, finished
        in_flight += 1
        await release.wait()
        in_flight -= 1
        finished += 1

    loop = asyncio.create_task(run_open_loop(items(), constant_offsets(1e6), execute, lambda: False,
                                             max_concurrency=cap))
    await asyncio.wait_for(all_due.wait(), 60)
    for _ in range(10):  # let every scheduled request start, or wait on the cap
        await asyncio.sleep(0)
    assert in_flight == cap
    release.set()
    assert await asyncio.wait_for(loop, 60) == n == finished


async def test_closed_loop_runs_n_streams_and_stops_on_request() -> None:
    streams = 8
    in_flight = peak = 0
    done = 0

    async def execute(item: int, intended_ns: int) -> None:
        nonlocal in_flight, peak, done
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        in_flight -= 1
        done += 1

    sent = await run_closed_loop(range(1000), streams, execute, lambda: done >= 50)
    assert peak == streams  # every stream takes an item before any request can finish
    # The rule fires when the 50th request finishes; the other streams each have at most one request in
    # flight then, which finishes, and nothing more is sent.
    assert sent == done and 50 <= sent <= 50 + streams - 1


def test_sweep_rates_are_between_sync_and_max() -> None:
    assert sweep_rates(10, 50, 3) == [20.0, 30.0, 40.0]
