"""Load profiles: Poisson arrivals are exponential (KS test), constant rate holds, closed loops respect N."""

from __future__ import annotations

import asyncio
import itertools
import math
import time

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


async def test_open_loop_holds_its_rate_and_records_intended_times() -> None:
    rate, n = 200.0, 200
    sends: list[tuple[int, int]] = []

    async def execute(item: int, intended_ns: int) -> None:
        sends.append((intended_ns, time.perf_counter_ns()))
        await asyncio.sleep(0.02)  # requests overlap: the schedule must not wait for them

    sent = await run_open_loop(range(n), constant_offsets(rate), execute, lambda: False)
    assert sent == n == len(sends)
    intended = [i for i, _ in sends]
    assert all(b - a == int(1e9 / rate) or abs((b - a) - 1e9 / rate) <= 1 for a, b in itertools.pairwise(intended))
    actual = sorted(a for _, a in sends)
    achieved = (n - 1) / ((actual[-1] - actual[0]) / 1e9)
    assert abs(achieved - rate) / rate < 0.1, f"achieved {achieved:.1f} req/s for a target of {rate}"


async def test_open_loop_cap_limits_concurrency() -> None:
    in_flight = peak = 0

    async def execute(item: int, intended_ns: int) -> None:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.05)
        in_flight -= 1

    await run_open_loop(range(40), constant_offsets(1000), execute, lambda: False, max_concurrency=4)
    assert peak == 4


async def test_closed_loop_runs_n_streams_and_stops_on_request() -> None:
    in_flight = peak = 0
    done = 0

    async def execute(item: int, intended_ns: int) -> None:
        nonlocal in_flight, peak, done
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        in_flight -= 1
        done += 1

    sent = await run_closed_loop(range(1000), 8, execute, lambda: done >= 50)
    assert peak == 8
    assert 50 <= sent < 60  # stops dispatching once the rule fires; in-flight ones finish


def test_sweep_rates_are_between_sync_and_max() -> None:
    assert sweep_rates(10, 50, 3) == [20.0, 30.0, 40.0]
