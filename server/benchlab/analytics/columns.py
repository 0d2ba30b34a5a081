"""Building blocks of columnar results: one list per column, rows aligned by index.

Columnar results are what charts and tables consume and cost far fewer objects than one per row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from benchlab.metrics import Metric

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class KeyColumn:
    """One group key (e.g. `model`) and its value on every row."""

    name: str
    values: list[str]


@dataclass(frozen=True)
class PercentileColumn:
    """One requested percentile (e.g. 99.9) and its value on every row; None where there were no values."""

    percentile: float
    values: list[float | None]


def column(rows: Sequence[Sequence[Any]], index: int) -> list[Any]:
    return [row[index] for row in rows]


def key_columns(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[KeyColumn]:
    """Key columns from the first len(names) fields of each row."""
    return [KeyColumn(name, column(rows, index)) for index, name in enumerate(names)]


def percentile_columns(percentiles: Sequence[float], quantiles: Sequence[Sequence[float]], metric: Metric,
                       counts: Sequence[int]) -> list[PercentileColumn]:
    """Split per-row quantile arrays into one column per percentile; rows with no values get None."""
    return [PercentileColumn(float(percentile),
                             [metric.clean(levels[index]) if count and levels else None
                              for levels, count in zip(quantiles, counts, strict=True)])
            for index, percentile in enumerate(percentiles)]


def utc(value: datetime) -> datetime:
    """ClickHouse hands back naive UTC datetimes; the API speaks aware ones."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def epoch_micros(moment: datetime) -> int:
    """Exact microseconds since the epoch (float timestamps lose the last digit at today's magnitudes)."""
    return (utc(moment) - _EPOCH) // timedelta(microseconds=1)
