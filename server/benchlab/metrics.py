"""Every per-request metric, defined once: its column, unit, which rows count, definition and quantile method.

The run summary, `run.metrics`, `run.timeline`, `latencySeries`, `compareRuns`, the live progress, the GraphQL
descriptions and the README's "What is measured" table all read these definitions instead of restating them,
so one run gives the same p50 and the same words wherever it is looked at. Pure: no I/O, no other module of
benchlab.

Quantiles, everywhere, are exact with linear interpolation between the two nearest values: for n sorted
values x and a level q in [0, 1], h = q (n - 1) and the quantile is x[⌊h⌋] + (h - ⌊h⌋) (x[⌊h⌋ + 1] - x[⌊h⌋])
(Hyndman-Fan type 7: numpy's and Excel's default, ClickHouse's `quantileExactInclusive`). Why this one: its
median is the usual median (the mean of the two middle values, as `compareRuns`' bootstrap takes it), anyone
can check a number with numpy, and a p99 over few requests moves smoothly instead of jumping from one request
to another. Nearest rank is exact too but picks one of the two middle values as the median, by a convention
that differs between tools; t-digest is approximate and returns Float32, so two views of one run would
disagree. Exact keeps every value of a group while a query runs (4 bytes each), yet measured in chDB it is
no slower than t-digest: over 10M rows per hour and model 280 ms against 420 ms (with 34 MiB more memory),
over 1M rows in one-minute buckets 49 ms against 56 ms. So the project-wide latency series uses it too.
"""

from __future__ import annotations

import math
import operator
import struct
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Latencies are stored as Float32 ms: a microsecond is the most they can honestly say.
LATENCY_DECIMALS = 3
QUANTILE_METHOD = ("exact, interpolated linearly between the two nearest values (numpy's default, ClickHouse's "
                   "`quantileExactInclusive`)")
# Large `latencySeries` and `run.metrics` queries are answered from rollups of quantile states (benchlab.analytics.
# rollup, clickhouse/migrations/0007_request_rollups.sql says why DDSketch at 1 %, with the measurements).
ROLLUP_RELATIVE_ACCURACY = 0.01
APPROXIMATE_QUANTILE_METHOD = (
    "approximate, from pre-aggregated DDSketch states (ClickHouse's `quantileDD` with relative accuracy 0.01): "
    "within 1 % of the value at rank ⌊q (n − 1)⌋, the lower of the two values the exact quantile interpolates "
    "between (measured on 10M requests in hourly buckets of ~15,000 values: at most 1.4 % from the exact "
    "p50/p90/p99; a tail percentile of a small group can differ by more, the gap between its two neighbouring "
    "values); counts, min and max stay exact, sums and means equal up to floating-point rounding")
_QUANTILES_FUNCTION = "quantilesExactInclusive"
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {"=": operator.eq, ">": operator.gt, ">=": operator.ge}


@dataclass(frozen=True)
class Clause:
    """One test a row must pass, e.g. `ttft_ms > 0`: SQL for ClickHouse, and the same test on a row in Python."""

    column: str
    operator: str  # a key of _OPERATORS
    value: str | int | bool

    @property
    def sql(self) -> str:
        if isinstance(self.value, bool):
            return self.column if self.value else f"NOT {self.column}"
        literal = f"'{self.value}'" if isinstance(self.value, str) else str(self.value)
        return f"{self.column} {self.operator} {literal}"

    def holds(self, row: Mapping[str, Any]) -> bool:
        return _OPERATORS[self.operator](row[self.column], self.value)


SUCCEEDED = Clause("status", "=", "ok")


@dataclass(frozen=True)
class Metric:
    """A `request_events` column as a metric: what one request's value means and which rows have one."""

    name: str          # the request_events column, and the metric's name in the API
    label: str         # as the README's "What is measured" table names it
    title: str         # spelled out for descriptions
    unit: str          # "ms" (stored as Float32), "tokens" or "USD"
    definition: str    # the README's definition, word for word
    rows: str          # which requests give a value, in words
    where: tuple[Clause, ...]  # the same, as tests on a row
    array: bool = False  # one value per array element (inter-event gaps), not per row

    @property
    def latency(self) -> bool:
        return self.unit == "ms"

    @property
    def meaning(self) -> str:
        """What one request's value is, e.g. for a request's own field."""
        return f"{self.title} ({self.unit}): {self.definition}."

    @property
    def description(self) -> str:
        """The meaning and which requests aggregates take, e.g. for the API's list of metrics."""
        return f"{self.meaning} Aggregates take {self.rows}."

    @property
    def condition(self) -> str:
        """The rows that count, as a SQL condition on `request_events`."""
        return " AND ".join(clause.sql for clause in self.where)

    def takes(self, row: Mapping[str, Any]) -> bool:
        """Whether a row (column name -> value) gives this metric a value, as `condition` decides in SQL."""
        return all(clause.holds(row) for clause in self.where)

    def aggregate(self, function: str, parameters: str = "", *, conditional: bool = True) -> str:
        """`function` over this metric's values, e.g. `avg` -> `avgIf(ttft_ms, status = 'ok' AND ...)`.

        `conditional=False` leaves the condition to the query's WHERE clause.
        """
        combinators = ("Array" if self.array else "") + ("If" if conditional else "")
        levels = f"({parameters})" if parameters else ""
        arguments = f"{self.name}, {self.condition}" if conditional else self.name
        return f"{function}{combinators}{levels}({arguments})"

    def quantiles(self, levels: str, *, conditional: bool = True) -> str:
        """The one quantile method over this metric's values at `levels` (SQL: literals or bound parameters)."""
        return self.aggregate(_QUANTILES_FUNCTION, levels, conditional=conditional)

    def count(self, *, conditional: bool = True) -> str:
        """How many values the metric has: one per row, or one per array element."""
        if self.array:
            return f"sumIf(length({self.name}), {self.condition})" if conditional else f"sum(length({self.name}))"
        return f"countIf({self.condition})" if conditional else "count()"

    def quantile(self, values: Iterable[float], level: float) -> float | None:
        """What `quantiles` returns for these values, to the last bit: latencies are taken as stored (Float32)."""
        return quantile(map(_as_float32, values) if self.latency else values, level)

    def clean(self, value: float | None) -> float | None:
        """None and NaN (an aggregate over no values) become None; latencies are rounded to the microsecond."""
        if value is None or math.isnan(value):
            return None
        number = float(value)
        return round(number, LATENCY_DECIMALS) if self.latency else number


def quantile(values: Iterable[float], level: float) -> float | None:
    """The quantile at `level` (0..1) by the one method; None without values.

    The floating-point steps are ClickHouse's own (h is offset by one before truncating), so the same values
    give the same result in Python and in a query.
    """
    ordered = sorted(values)
    if not ordered:
        return None
    h = level * (len(ordered) - 1) + 1
    rank = int(h)
    if rank >= len(ordered):
        return float(ordered[-1])
    low = float(ordered[rank - 1])
    return low + (h - rank) * (float(ordered[rank]) - low)


def _as_float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


def _metric(name: str, label: str, title: str, unit: str, definition: str, rows: str, *where: Clause,
            array: bool = False) -> Metric:
    return Metric(name, label, title, unit, definition, rows, where, array)


_RECEIVED_A_TOKEN = "successful requests that received a token"

METRICS: dict[str, Metric] = {metric.name: metric for metric in (
    _metric("ttft_ms", "TTFT", "Time to first token", "ms",
            "first event carrying content, reasoning or a tool-call delta − actual send (role-only, empty and "
            "keep-alive events do not count)",
            f"{_RECEIVED_A_TOKEN} (`ttft_ms > 0`)", SUCCEEDED, Clause("ttft_ms", ">", 0)),
    _metric("ttfot_ms", "TTFOT", "Time to first output token", "ms",
            "first event carrying visible output (content or tool call, not reasoning) − actual send",
            "successful requests with visible output (`ttfot_ms > 0`)", SUCCEEDED, Clause("ttfot_ms", ">", 0)),
    _metric("tpot_ms", "TPOT", "Time per output token", "ms",
            "(last token event − first token event) / (N − 1), N = `usage.completion_tokens` ≥ 2 (an estimate "
            "sets `tokens_estimated`)",
            "successful requests with two or more completion tokens", SUCCEEDED,
            Clause("completion_tokens", ">=", 2)),
    _metric("e2e_ms", "E2E", "End to end", "ms",
            "last token-bearing event − actual send (the stream's end is kept separately, as is E2E from the "
            "intended send)",
            f"{_RECEIVED_A_TOKEN} (`e2e_ms > 0`)", SUCCEEDED, Clause("e2e_ms", ">", 0)),
    _metric("queue_delay_ms", "queue delay", "Queue delay", "ms",
            "actual send − intended send (open-loop profiles: the scheduled time)",
            "successful requests", SUCCEEDED),
    _metric("e2e_from_intended_ms", "E2E from intended", "End to end from the intended send", "ms",
            "last token-bearing event − intended send: E2E plus the queue delay, what a user of an open-loop "
            "schedule would have waited",
            f"{_RECEIVED_A_TOKEN} (`e2e_from_intended_ms > 0`)", SUCCEEDED, Clause("e2e_from_intended_ms", ">", 0)),
    _metric("inter_event_ms", "inter-event gaps", "Inter-event gaps", "ms",
            "raw gaps between token-bearing events, stored with the tokens each carried (not per-token latency)",
            "every gap of every successful request", SUCCEEDED, array=True),
    _metric("completion_tokens", "completion tokens", "Completion tokens", "tokens",
            "`usage.completion_tokens` of the answer, reasoning included (else about one per 4 characters, "
            "which sets `tokens_estimated`)",
            "successful requests (a failed one would only add a truncated answer)", SUCCEEDED),
    _metric("cost_usd", "cost", "Cost", "USD",
            "the model's own prices (`input_price_per_mtok`, `output_price_per_mtok`), else litellm's price map "
            "for `<provider type>/<model>`, on either transport; a request with no known price has "
            "`cost_known = false` (`costUsd: null` in the API) and is counted apart (`cost_unknown_requests`), "
            "never as free",
            "requests with a known price (`cost_known`), failed ones included: they can be billed too",
            Clause("cost_known", "=", True)),
)}
