"""Argument checks shared by every analytics query, done before anything reaches ClickHouse.

Each check raises `AnalyticsInputError` naming the argument and the allowed range, so a caller learns what to
change. Checked values are then bound as query parameters, never formatted into SQL; metric names resolve to
their definitions (`benchlab.metrics`), whose SQL is the server's own.

The ranges are the stores' own: ClickHouse's DateTime64 holds 1900-01-01 to 2299-12-31 (a time outside it is
refused as a query parameter, or silently wrapped), and bucket widths scale `ts` as Decimal(18, 6), so a
WITH FILL step of 10^6 s or more overflows (and toStartOfInterval goes wrong long before UInt64 runs out).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime

from benchlab.analytics.errors import AnalyticsInputError
from benchlab.metrics import METRICS, Metric

MAX_BUCKETS = 10_000
MAX_PERCENTILES = 20
MIN_INTERVAL_S = 0.001
MAX_INTERVAL_S = 7 * 24 * 3600  # one week
MAX_RUNS = 100
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2299, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
TIME_RANGE = f"{EARLIEST:%Y-%m-%dT%H:%M:%SZ} to {LATEST:%Y-%m-%dT%H:%M:%S.%fZ}"


def reject_duplicates(values: Sequence[object], argument: str) -> None:
    seen: set[object] = set()
    for value in values:
        if value in seen:
            raise AnalyticsInputError(argument, f"{value!r} is listed twice; list each once")
        seen.add(value)


def resolve_metric(name: str, argument: str = "metric") -> Metric:
    try:
        return METRICS[name]
    except KeyError:
        raise AnalyticsInputError(argument, f"unknown metric {name!r}; use one of {', '.join(METRICS)}") from None


def resolve_metrics(names: Sequence[str], argument: str = "metrics") -> list[Metric]:
    if isinstance(names, str):
        raise AnalyticsInputError(argument, "pass a list of metric names, not a single string")
    reject_duplicates(names, argument)
    return [resolve_metric(name, argument) for name in names]


def quantile_levels(percentiles: Sequence[float], argument: str = "percentiles") -> tuple[str, dict[str, float]]:
    """Percentiles in (0, 100] as bound quantile levels: (`{q0:Float64}, {q1:Float64}`, parameters)."""
    if len(percentiles) > MAX_PERCENTILES:
        raise AnalyticsInputError(argument, f"{len(percentiles)} percentiles given; ask for at most "
                                            f"{MAX_PERCENTILES}")
    reject_duplicates(percentiles, argument)
    parameters: dict[str, float] = {}
    for index, percentile in enumerate(percentiles):
        if isinstance(percentile, bool) or not isinstance(percentile, int | float) or not math.isfinite(percentile) \
                or not 0 < percentile <= 100:
            raise AnalyticsInputError(argument, f"{percentile!r} is not a percentile; use numbers in (0, 100], "
                                                "e.g. 50, 99 or 99.9")
        parameters[f"q{index}"] = float(percentile) / 100
    return ", ".join(f"{{{name}:Float64}}" for name in parameters), parameters


def interval_step_us(interval_s: float, argument: str = "interval_s") -> int:
    """A bucket width in whole microseconds, the resolution of `ts`."""
    if isinstance(interval_s, bool) or not isinstance(interval_s, int | float) or not math.isfinite(interval_s) \
            or not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S:
        raise AnalyticsInputError(argument, f"{interval_s!r} is not a bucket width; use a number of seconds of at "
                                            f"least {MIN_INTERVAL_S} and at most {MAX_INTERVAL_S} (7 days)")
    return round(interval_s * 1_000_000)


def check_bucket_count(first_us: int, last_us: int, step_us: int, argument: str = "interval_s") -> int:
    """Buckets (aligned to the epoch, as toStartOfInterval aligns them) between two instants, both included."""
    buckets = last_us // step_us - first_us // step_us + 1
    if buckets > MAX_BUCKETS:
        span_s = (last_us - first_us) / 1_000_000
        needed_s = math.ceil(span_s / (MAX_BUCKETS - 2) * 1000) / 1000
        advice = (f"use an interval of at least {needed_s:g} s or a shorter range" if needed_s <= MAX_INTERVAL_S
                  else f"use a range of at most {(MAX_BUCKETS - 2) * MAX_INTERVAL_S // 86_400} days (buckets are "
                       f"at most {MAX_INTERVAL_S} s wide)")
        raise AnalyticsInputError(argument, f"{buckets} buckets of {step_us / 1_000_000:g} s over {span_s:g} s; "
                                            f"at most {MAX_BUCKETS} are allowed: {advice}")
    return buckets


def check_instant(moment: datetime, argument: str) -> None:
    """A time the stores can hold (a naive one is compared as UTC)."""
    aware = moment if moment.tzinfo is not None and moment.utcoffset() is not None else moment.replace(tzinfo=UTC)
    if not EARLIEST <= aware <= LATEST:  # compared, never converted: converting year 1 or 9999 can overflow
        raise AnalyticsInputError(argument, f"{moment.isoformat()} is out of range; use a time from {TIME_RANGE}")


def check_time_range(start: datetime, end: datetime) -> None:
    for argument, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
            raise AnalyticsInputError(argument, "give a timezone-aware datetime (e.g. with tzinfo=UTC)")
        check_instant(value, argument)
    if start >= end:
        raise AnalyticsInputError("end", f"{end.isoformat()} is not after start {start.isoformat()}; the range is "
                                         "[start, end), make end later than start")


def check_ids(values: Sequence[object], argument: str) -> None:
    if not values:
        raise AnalyticsInputError(argument, "is empty; give at least one id")
    if len(values) > MAX_RUNS:
        raise AnalyticsInputError(argument, f"{len(values)} ids given; ask for at most {MAX_RUNS}")
    reject_duplicates(values, argument)


def check_whole_number(value: int, low: int, high: int, argument: str) -> None:
    """A count-like setting: an integer within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise AnalyticsInputError(argument, f"{value!r} is out of range; use a whole number from {low} to {high}")
