"""Quality gates (docs/gates.md): a run's figures against absolute limits and against a baseline run.

`evaluate_gates` checks every gate of a spec (`benchlab.spec.gates`) per group and says pass, fail or
inconclusive, with the numbers in a one-line message; `flaky_items` lists the cells whose verdict differs
between repetitions. Both only read ClickHouse; the reports (JUnit, Markdown, JSON) are `gate_reports`.

Samples, as the run summary and `compareRuns` take them: a per-request metric's values are those its
definition counts (`benchlab.metrics`: successful requests for latencies, priced ones for cost) inside the
measurement window (`in_window`); the error rate is the share of the window's requests that failed; cost per 1k
is 1,000 × the mean cost of priced requests. Scores are the given scoring pass's rows of each request's deciding
score (`score_name` = the evaluator's name; pairwise rows, `counterpart != ''`, never), every scored request.
The value a gate shows is the statistic over all values (quantiles by the one method, as the summary has them);
the bootstrap uses at most `max_samples` values per side and group, picked by a seeded hash of the event id
(as `compareRuns` does).

Verdicts:
- too few values for the statistic (`needed_samples`: a quantile q needs ⌈10 / (1 - q)⌉ values per side, so
  p50 20, p90 100, p95 200, p99 1000; a mean or a rate 20): inconclusive, saying how many it would need;
- an absolute limit (`max`, `min`): fails when the value breaks it;
- a regression limit: the interval is a percentile bootstrap of the statistic's difference (candidate minus
  baseline), each side resampled independently with a fixed seed (pass rates too: the runs are different
  requests, and the unpaired interval is the conservative one). The gate fails only when that interval lies
  entirely beyond the tolerance in the worse direction: the change is both significant and larger than the
  tolerance. Otherwise it passes, noting "within the tolerance" (the change itself is not beyond it) or "not
  significant" (it is, but the interval reaches back within the tolerance). So two identical runs pass: their
  difference is noise around 0, far from any tolerance.
A gate × group with any failing limit fails; else with any inconclusive one it is inconclusive; else it
passes. `blocking` says whether the result fails the build: a failure, or an inconclusive result of a gate
whose `inconclusive` is `fail`.
"""

from __future__ import annotations

import asyncio
import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import numpy as np

from benchlab.analytics.errors import AnalyticsInputError
from benchlab.analytics.gate_stats import bootstrap_means, bootstrap_quantiles, bootstrap_rates, percentile_interval
from benchlab.analytics.grouping import GROUP_KEYS, group_expressions
from benchlab.analytics.scope import runs_scope
from benchlab.analytics.validation import check_whole_number
from benchlab.metrics import METRICS, Metric
from benchlab.spec.gates import GROUP_KEYS as GATE_GROUP_KEYS
from benchlab.spec.gates import QUANTILE_LEVELS, RATE, higher_is_worse, unit_of
from benchlab.spec.model import GateSpec
from benchlab.stores.clickhouse import ClickHouseStore

PASS, FAIL, INCONCLUSIVE = "pass", "fail", "inconclusive"
MIN_MEAN_SAMPLES = 20
FLAKY_LIMIT = 100
_PER_1K = 1000.0
_LEVELS = tuple(QUANTILE_LEVELS.values())

Key = tuple[str, ...]


def needed_samples(stat: str | None) -> int:
    """Values per side a statistic needs: ⌈10 / (1 - q)⌉ for a quantile q (ten values beyond it), else 20."""
    level = QUANTILE_LEVELS.get(stat or "")
    return MIN_MEAN_SAMPLES if level is None else math.ceil(round(10 / (1 - level), 9))


@dataclass(frozen=True)
class GateResult:
    """One gate on one group. Values are in `unit` (ms, tokens, USD, or `fraction` for rates and scores);
    `delta` = candidate - baseline, `delta_low`/`delta_high` its bootstrap interval; `tolerance` is absolute
    (a relative one resolved against the baseline's value)."""

    gate: str
    subject: str              # the metric's or the evaluator's name
    kind: str                 # "metric" | "score"
    stat: str | None          # p50 ... mean | pass_rate | mean; None for error_rate, cost_per_1k
    unit: str
    group: dict[str, str]     # group key -> value ({} for the whole run); params by their hash
    verdict: str              # pass | fail | inconclusive
    blocking: bool            # fails the build: a failure, or inconclusive under `inconclusive: fail`
    inconclusive_policy: str  # fail | pass
    message: str
    limits: str               # the gate's limits in words, e.g. "max 800 ms, regression 10 %"
    candidate: float | None
    candidate_n: int
    baseline: float | None = None
    baseline_n: int | None = None
    delta: float | None = None
    relative_delta: float | None = None
    delta_low: float | None = None
    delta_high: float | None = None
    max: float | None = None
    min: float | None = None
    tolerance: float | None = None
    needed_n: int = MIN_MEAN_SAMPLES

    @property
    def figure(self) -> str:
        return " ".join(part for part in (self.subject, self.stat) if part)

    @property
    def group_label(self) -> str:
        """`model=strong, prompt_version=v2`, or `overall`."""
        return ", ".join(f"{key}={value}" for key, value in self.group.items()) or "overall"


@dataclass(frozen=True)
class FlakyItem:
    """A cell (item, model, prompt version, parameter set) whose verdict on one evaluator differs between its
    repetitions: it passed `passed` of `repetitions` times."""

    evaluator: str
    item_id: str
    model: str
    prompt_version: str
    params_hash: str
    repetitions: int
    passed: int


@dataclass(frozen=True)
class FlakyItems:
    total: int                     # flaky cells in all
    items: tuple[FlakyItem, ...]   # the first `limit` of them (overall first, then by evaluator, item, ...)
    limit: int


@dataclass(frozen=True)
class GateReport:
    project_id: UUID
    candidate_run_id: UUID
    candidate_pass_id: UUID | None
    baseline_run_id: UUID | None
    baseline_pass_id: UUID | None
    confidence: float
    seed: int
    resamples: int
    results: tuple[GateResult, ...]
    flaky: FlakyItems | None = None  # None: the candidate has no scoring pass to look at
    counts: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        counts = {verdict: sum(1 for r in self.results if r.verdict == verdict) for verdict in (PASS, FAIL,
                                                                                                 INCONCLUSIVE)}
        object.__setattr__(self, "counts", counts)

    @property
    def passed(self) -> bool:
        """No result blocks: every gate passed, or was inconclusive under `inconclusive: pass`."""
        return not any(result.blocking for result in self.results)


@dataclass
class _Side:
    """One run's values of a figure in one group."""

    n: int                                 # values in all
    values: dict[str, float | None]        # statistic -> its value over all n
    sample: list[float] = field(default_factory=list)  # what the bootstrap resamples (means, quantiles)
    successes: int = 0                     # rates: how many of n


Sides = dict[Key, dict[bool, _Side]]  # group -> is_candidate -> side


async def evaluate_gates(store: ClickHouseStore, project_id: UUID, candidate_run_id: UUID,
                         candidate_pass_id: UUID | None, baseline: tuple[UUID, UUID | None] | None,
                         gates: Sequence[GateSpec], *, seed: int = 0, confidence: float = 0.95,
                         resamples: int = 2000, max_samples: int = 20_000,
                         flaky_limit: int = FLAKY_LIMIT) -> GateReport:
    """Every gate per group of the candidate run (and scoring pass), against the baseline (run, pass) when given.

    Without a baseline, regression limits are inconclusive; without a scoring pass, score gates are. Flaky items
    are looked for in the candidate's scoring pass.
    """
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 < confidence < 1:
        raise AnalyticsInputError("confidence", f"{confidence!r} is not a confidence level; use a number between 0 "
                                                "and 1, e.g. 0.95")
    check_whole_number(resamples, 100, 20_000, "resamples")
    check_whole_number(seed, 0, 2**63 - 1, "seed")
    check_whole_number(max_samples, 1000, 100_000, "max_samples")  # at least what a p99 needs
    check_whole_number(flaky_limit, 0, 10_000, "flaky_limit")
    baseline_run, baseline_pass = baseline if baseline is not None else (None, None)
    if baseline_run == candidate_run_id:
        raise AnalyticsInputError("baseline", "is the candidate run itself; gate a run against another run")
    for gate in gates:
        group_expressions(list(gate.group_by), allowed=GATE_GROUP_KEYS, argument=f"gates[{gate.name}].group_by")
    context = _Context(store, project_id, candidate_run_id, candidate_pass_id, baseline_run, baseline_pass, seed,
                       max_samples)
    sources = list(dict.fromkeys(_source(gate) for gate in gates))
    fetched = await asyncio.gather(*(context.fetch(source) for source in sources))
    flaky = (await flaky_items(store, project_id, candidate_run_id, candidate_pass_id, limit=flaky_limit)
             if candidate_pass_id is not None else None)
    results = await asyncio.to_thread(_judge_all, gates, dict(zip(sources, fetched, strict=True)), context,
                                      confidence, resamples)
    return GateReport(project_id=project_id, candidate_run_id=candidate_run_id, candidate_pass_id=candidate_pass_id,
                      baseline_run_id=baseline_run, baseline_pass_id=baseline_pass, confidence=float(confidence),
                      seed=seed, resamples=resamples, results=tuple(results), flaky=flaky)


async def flaky_items(store: ClickHouseStore, project_id: UUID, run_id: UUID, pass_id: UUID, *,
                      limit: int = FLAKY_LIMIT) -> FlakyItems:
    """Per evaluator (its deciding score, `overall` included; pairwise never), the cells (item, model, prompt
    version, parameter set) of a scoring pass that passed in some repetitions and failed in others."""
    check_whole_number(limit, 0, 10_000, "limit")
    result = await store.query(
        "SELECT evaluator, item_id, model, prompt_version, params_hash, count() AS repetitions, "
        "countIf(passed) AS passes, count() OVER () AS total FROM scores "
        "WHERE project_id = {project:UUID} AND run_id = {run:UUID} AND pass_id = {pass:UUID} AND counterpart = '' "
        "AND score_name = evaluator "
        "GROUP BY evaluator, item_id, model, prompt_version, params_hash "
        "HAVING passes > 0 AND passes < repetitions "
        "ORDER BY evaluator != 'overall', evaluator, item_id, model, prompt_version, params_hash "
        "LIMIT {limit:UInt32}",
        {"project": project_id, "run": run_id, "pass": pass_id, "limit": max(limit, 1)},
        caller="analytics.flaky_items")
    total = int(result.rows[0][-1]) if result.rows else 0
    items = tuple(FlakyItem(str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), int(row[5]),
                            int(row[6])) for row in result.rows[:limit])
    return FlakyItems(total=total, items=items, limit=limit)


# A figure's source: ("metric", metric name, group_by), ("errors", "", group_by) or ("score", evaluator, group_by).
Source = tuple[str, str, tuple[str, ...]]


def _source(gate: GateSpec) -> Source:
    if gate.score is not None:
        return ("score", gate.score, gate.group_by)
    if gate.metric == "error_rate":
        return ("errors", "", gate.group_by)
    return ("metric", "cost_usd" if gate.metric == "cost_per_1k" else gate.metric or "", gate.group_by)


@dataclass(frozen=True)
class _Context:
    store: ClickHouseStore
    project_id: UUID
    candidate_run: UUID
    candidate_pass: UUID | None
    baseline_run: UUID | None
    baseline_pass: UUID | None
    seed: int
    cap: int

    @property
    def runs(self) -> list[UUID]:
        return [self.candidate_run] + ([self.baseline_run] if self.baseline_run is not None else [])

    async def fetch(self, source: Source) -> Sides:
        kind, name, group_by = source
        keys = group_expressions(list(group_by), allowed=tuple(GROUP_KEYS))
        if kind == "metric":
            return await self._metric(METRICS[name], keys)
        if kind == "errors":
            return await self._errors(keys)
        return await self._scores(name, keys)

    def _parameters(self, **extra: Any) -> dict[str, Any]:
        return {"project": self.project_id, "runs": self.runs, "candidate": self.candidate_run, "seed": self.seed,
                "cap": self.cap, **extra}

    async def _metric(self, metric: Metric, keys: list[str]) -> Sides:
        levels = ", ".join(str(level) for level in _LEVELS)
        # Conditional aggregates over every request of the window, so a group whose requests all failed is
        # there, with no values, instead of missing.
        result = await self.store.query(
            f"SELECT {_select(keys)}run_id = {{candidate:UUID}}, {metric.count()}, {metric.quantiles(levels)}, "
            f"{metric.aggregate('avg')}, {_sample(metric.name, metric.condition)} "
            f"FROM request_events WHERE {runs_scope(True)} GROUP BY {_grouping(keys)}",
            self._parameters(), caller="analytics.gates")
        sides: Sides = {}
        for row in result.rows:
            key, is_candidate, n, quantiles, mean, sample = _split(row, len(keys))
            values: dict[str, float | None] = dict.fromkeys((*QUANTILE_LEVELS, "mean"))
            if n:
                values.update(zip(QUANTILE_LEVELS, map(metric.clean, quantiles), strict=True))
                values["mean"] = metric.clean(mean)
            sides.setdefault(key, {})[is_candidate] = _Side(int(n), values, [float(v) for v in sample])
        return sides

    async def _errors(self, keys: list[str]) -> Sides:
        result = await self.store.query(
            f"SELECT {_select(keys)}run_id = {{candidate:UUID}}, count(), countIf(status != 'ok') "
            f"FROM request_events WHERE {runs_scope(True)} GROUP BY {_grouping(keys)}",
            self._parameters(), caller="analytics.gates")
        sides: Sides = {}
        for row in result.rows:
            key, is_candidate = tuple(str(v) for v in row[:len(keys)]), bool(row[len(keys)])
            n, errors = int(row[-2]), int(row[-1])
            sides.setdefault(key, {})[is_candidate] = _Side(n, {"rate": errors / n if n else None}, successes=errors)
        return sides

    async def _scores(self, evaluator: str, keys: list[str]) -> Sides:
        if self.candidate_pass is None:
            return {}
        passes = "(run_id = {candidate:UUID} AND pass_id = {candidate_pass:UUID})"
        if self.baseline_run is not None and self.baseline_pass is not None:
            passes = f"({passes} OR (run_id = {{baseline:UUID}} AND pass_id = {{baseline_pass:UUID}}))"
        result = await self.store.query(
            f"SELECT {_select(keys)}run_id = {{candidate:UUID}}, count(), countIf(passed), avg(value), "
            f"{_sample('value')} FROM scores WHERE project_id = {{project:UUID}} AND {passes} AND counterpart = '' "
            f"AND evaluator = {{evaluator:String}} AND score_name = {{evaluator:String}} GROUP BY {_grouping(keys)}",
            self._parameters(candidate_pass=self.candidate_pass, baseline=self.baseline_run,
                             baseline_pass=self.baseline_pass, evaluator=evaluator), caller="analytics.gates")
        sides: Sides = {}
        for row in result.rows:
            key, is_candidate = tuple(str(v) for v in row[:len(keys)]), bool(row[len(keys)])
            n, passed, mean, sample = int(row[-4]), int(row[-3]), row[-2], row[-1]
            sides.setdefault(key, {})[is_candidate] = _Side(
                n, {"rate": passed / n if n else None, "mean": float(mean) if n else None},
                [float(v) for v in sample], successes=passed)
        return sides


def _select(keys: list[str]) -> str:
    return "".join(f"{key}, " for key in keys)


def _grouping(keys: list[str]) -> str:
    return ", ".join([*keys, "run_id"])


def _sample(column: str, condition: str = "") -> str:
    """At most `cap` values of the group (of its rows meeting `condition`), those with the smallest seeded hash
    of their event id: the same subsample whatever order the rows are read in."""
    pairs = f"(cityHash64(event_id, {{seed:UInt64}}), {column})"
    collected = f"groupArrayIf({pairs}, {condition})" if condition else f"groupArray({pairs})"
    return f"arrayMap(pair -> pair.2, arraySlice(arraySort({collected}), 1, {{cap:UInt32}}))"


def _split(row: Sequence[Any], width: int) -> tuple[Key, bool, int, list[float], float, list[float]]:
    key = tuple(str(value) for value in row[:width])
    return key, bool(row[width]), int(row[width + 1]), list(row[width + 2]), row[width + 3], list(row[width + 4])


def _judge_all(gates: Sequence[GateSpec], by_source: dict[Source, Sides], context: _Context, confidence: float,
               resamples: int) -> list[GateResult]:
    """CPU-bound (bootstraps), run in a worker thread."""
    results = []
    for gate in gates:
        sides = by_source[_source(gate)]
        groups: list[Key | None] = [*sorted(key for key, per_side in sides.items() if True in per_side)] or [None]
        for key in groups:
            per_side = sides.get(key, {}) if key is not None else {}
            group = dict(zip(gate.group_by, key, strict=True)) if key is not None else {}
            # One generator per gate and group: a result does not depend on which other results exist.
            rng = np.random.default_rng([context.seed, zlib.crc32(repr((gate.name, key)).encode())])
            results.append(_judge(gate, group, per_side.get(True), per_side.get(False), context, confidence,
                                  resamples, rng))
    return results


def _statistic(gate: GateSpec) -> tuple[str, float]:
    """Which value of a side the gate reads, and its scale: (`p95` | `mean` | `rate`, factor)."""
    if gate.metric == "error_rate" or gate.stat == "pass_rate":
        return "rate", 1.0
    if gate.metric == "cost_per_1k":
        return "mean", _PER_1K
    return gate.stat or "mean", 1.0


def _draws(side: _Side, statistic: str, scale: float, resamples: int, rng: np.random.Generator) -> np.ndarray:
    if statistic == "rate":
        return bootstrap_rates(side.successes, side.n, resamples, rng)
    if statistic == "mean":
        return bootstrap_means(side.sample, resamples, rng) * scale
    return bootstrap_quantiles(side.sample, QUANTILE_LEVELS[statistic], resamples, rng)


def _judge(gate: GateSpec, group: dict[str, str], candidate: _Side | None, baseline: _Side | None,
           context: _Context, confidence: float, resamples: int, rng: np.random.Generator) -> GateResult:
    unit = unit_of(gate)
    statistic, scale = _statistic(gate)
    need = needed_samples(gate.stat)
    worse = 1.0 if higher_is_worse(gate) else -1.0
    value = _scaled(candidate.values.get(statistic), scale) if candidate else None
    n = candidate.n if candidate else 0
    base_value = _scaled(baseline.values.get(statistic), scale) if baseline else None
    base_n = baseline.n if baseline else 0
    figure = " ".join(part for part in (gate.subject, "pass rate" if gate.stat == "pass_rate" else gate.stat)
                      if part)
    notes: list[tuple[str, str]] = []  # (verdict, words)
    extra: dict[str, Any] = {}
    if gate.max is not None or gate.min is not None:
        if value is None or n < need:
            notes.append((INCONCLUSIVE, _too_few(figure, need, n, None, gate, context)))
        else:
            if gate.max is not None:
                above = value > gate.max
                words = f"{'above' if above else 'within'} max {format_limit(gate.max, unit)}"
                notes.append((FAIL if above else PASS, words))
            if gate.min is not None:
                below = value < gate.min
                words = f"{'below' if below else 'within'} min {format_limit(gate.min, unit)}"
                notes.append((FAIL if below else PASS, words))
    if gate.regression is not None:
        if context.baseline_run is None:
            notes.append((INCONCLUSIVE, "no baseline run to compare with"))
        elif gate.score is not None and context.baseline_pass is None:
            notes.append((INCONCLUSIVE, "the baseline run has no scoring pass to compare with"))
        elif value is None or base_value is None or n < need or base_n < need:
            notes.append((INCONCLUSIVE, _too_few(figure, need, n, base_n, gate, context)))
        else:
            assert candidate is not None and baseline is not None
            relative = gate.relative_tolerance
            tolerance = relative * abs(base_value) if relative is not None else float(gate.absolute_tolerance or 0)
            differences = (_draws(candidate, statistic, scale, resamples, rng)
                           - _draws(baseline, statistic, scale, resamples, rng))
            low, high = percentile_interval(differences, confidence)
            delta = value - base_value
            extra = {"delta": delta, "relative_delta": delta / base_value if base_value else None,
                      "delta_low": low, "delta_high": high, "tolerance": tolerance}
            worst_change = low if worse > 0 else -high  # the least worsening the interval allows
            tolerance_text = (f"{gate.regression} ({format_change(tolerance * worse, unit)})"
                              if relative is not None else format_change(tolerance * worse, unit))
            change = (f"{format_change(delta, unit)}{_relative(extra['relative_delta'], unit)} vs baseline "
                      f"{format_value(base_value, unit)} ({base_n}), {confidence * 100:g} % interval "
                      f"{format_interval(low, high, unit)}")
            if worst_change > tolerance:
                notes.append((FAIL, f"{change}: worse beyond the tolerance {tolerance_text}"))
            elif delta * worse <= tolerance:
                notes.append((PASS, f"{change}: within the tolerance {tolerance_text}"))
            else:
                notes.append((PASS, f"{change}: not significant, the interval reaches within the tolerance "
                                    f"{tolerance_text}"))
    verdicts = {verdict for verdict, _ in notes}
    verdict = FAIL if FAIL in verdicts else INCONCLUSIVE if INCONCLUSIVE in verdicts else PASS
    shown = f"{figure} {format_value(value, unit)}" if value is not None else f"{figure}: no values"
    if value is not None and gate.stat == "pass_rate" and candidate is not None:
        shown += f" ({candidate.successes} of {n})"
    elif value is not None:
        shown += f" ({n})"
    message = f"{verdict}: {shown}: " + "; ".join(dict.fromkeys(words for _, words in notes))
    return GateResult(
        gate=gate.name, subject=gate.subject, kind="score" if gate.score is not None else "metric", stat=gate.stat,
        unit=unit, group=group, verdict=verdict,
        blocking=verdict == FAIL or (verdict == INCONCLUSIVE and gate.inconclusive == FAIL),
        inconclusive_policy=gate.inconclusive, message=message, limits=describe_limits(gate), candidate=value,
        candidate_n=n, baseline=base_value if gate.regression is not None else None,
        baseline_n=base_n if gate.regression is not None and context.baseline_run is not None else None,
        max=gate.max, min=gate.min, needed_n=need, **extra)


def _too_few(figure: str, need: int, n: int, base_n: int | None, gate: GateSpec, context: _Context) -> str:
    if gate.score is not None and context.candidate_pass is None:
        return "the candidate run has no scoring pass"
    counts = f"candidate {n}" + (f", baseline {base_n}" if base_n is not None else "")
    what = "requests" if gate.score is None else "scored requests"
    return f"too few values: {figure} needs at least {need} {what} per side ({counts})"


def _scaled(value: float | None, scale: float) -> float | None:
    return None if value is None else value * scale


def _relative(relative: float | None, unit: str) -> str:
    return "" if relative is None or unit == RATE else f" ({relative:+.1%})".replace("%", " %")


def describe_limits(gate: GateSpec) -> str:
    """The gate's limits in words: `max 800 ms`, `min 90.0 %`, `regression 10 %`, `regression 2.0 pp`."""
    unit = unit_of(gate)
    parts = []
    if gate.max is not None:
        parts.append(f"max {format_limit(gate.max, unit)}")
    if gate.min is not None:
        parts.append(f"min {format_limit(gate.min, unit)}")
    if isinstance(gate.regression, str):
        parts.append(f"regression {gate.regression}")
    elif gate.regression is not None:
        parts.append(f"regression {format_limit(gate.regression, 'pp' if unit == RATE else unit)}")
    return ", ".join(parts)


def format_limit(value: float, unit: str) -> str:
    """A limit as written: `800 ms`, `1 %` (a rate's level), `2 pp` (points), `0.5 USD`."""
    if unit == RATE:
        return f"{round(value * 100, 9):g} %"
    if unit == "pp":
        return f"{round(value * 100, 9):g} pp"
    return f"{value:g} {unit}".rstrip()


def format_value(value: float | None, unit: str) -> str:
    """A value in its unit: `20.13 ms`, `58.3 %` (rates and scores), `0.0123 USD`, `16 tokens`; `-` for none."""
    if value is None:
        return "-"
    if unit == RATE:
        return f"{value * 100:.1f} %"
    return f"{_number(value, unit)} {unit}" if unit else _number(value, unit)


def format_change(value: float | None, unit: str) -> str:
    """A signed difference: `+4.012 ms`, `-12.5 pp` (points, for rates and scores)."""
    if value is None:
        return "-"
    if unit == RATE:
        return f"{value * 100:+.1f} pp"
    return f"{_number(value, unit, sign=True)} {unit}" if unit else _number(value, unit, sign=True)


def format_interval(low: float | None, high: float | None, unit: str) -> str:
    """`[+3.990, +4.031] ms`, `[-20.1, -4.9] pp`."""
    if low is None or high is None:
        return "-"
    if unit == RATE:
        return f"[{low * 100:+.1f}, {high * 100:+.1f}] pp"
    size = max(abs(low), abs(high))  # both bounds to the same decimals
    return f"[{_number(low, unit, sign=True, size=size)}, {_number(high, unit, sign=True, size=size)}] {unit}".rstrip()


def _number(value: float, unit: str, *, sign: bool = False, size: float | None = None) -> str:
    if unit == "ms":
        size = abs(value) if size is None else size
        decimals = 0 if size >= 1000 else 1 if size >= 100 else 2 if size >= 10 else 3
        return f"{value:+.{decimals}f}" if sign else f"{value:.{decimals}f}"
    return np.format_float_positional(value, precision=4, unique=False, fractional=False, trim="-", sign=sign)
