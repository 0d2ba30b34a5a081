"""A scoring pass: score every stored response of a run, write the scores, summarise them.

A pass reads a run's recorded requests from ClickHouse (never sending anything to the models under test), so
the same code scores a run right after its measurement window and re-scores a finished run with other
evaluators (`benchlab eval`, `scoreRun`). Responses are read in pages by event id, so memory does not grow
with the run; only the responses a `pairwise` evaluator compares are held until the pairs are judged.

Per request: every evaluator of the experiment and of the item's `assert`; deterministic, tool-call,
similarity and SLO evaluators are pure functions (benchlab.evaluation); `llm-rubric` asks a judge
(engine/judging.py); then `overall`, the weighted mean that decides whether the request passed (pairwise
scores are relative to another response and stay out of it). A failed request scores 0 and fails on every
evaluator (`request_error`), with no judge call. Score rows go through the buffered writer, tagged with the
pass id, so passes never mix; the pass's summary is computed from the rows it wrote. A pairwise comparison
is two judge calls (both orders); their cost is recorded on the first response's row of the pair, so sums
over rows count it once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from benchlab.analytics.calibration import calibration
from benchlab.analytics.score_summary import score_summary
from benchlab.engine.cancellation import even_if_cancelled
from benchlab.engine.deps import EngineDeps
from benchlab.engine.judging import JudgeCall, JudgeClient
from benchlab.engine.planner import params_by_hash
from benchlab.evaluation.judges import (
    JudgeError,
    combine_orders,
    outcome_score,
    pairwise_messages,
    parse_pairwise_verdict,
    parse_rubric_verdict,
    question_of,
    rubric_messages,
)
from benchlab.evaluation.model import ItemContext, Response, Score
from benchlab.evaluation.scoring import OVERALL, failed_scores, overall, score_request
from benchlab.spec import DatasetItem, EvaluationSpec, EvaluatorSpec, ExperimentSpec, render_messages
from benchlab.stores import scores, scoring_passes
from benchlab.stores.event_writer import EventWriter
from benchlab.stores.runs import RunRecord
from benchlab.stores.scores import ScoreRow, StoredResponse
from benchlab.stores.scoring_passes import PassCounters, PassTrigger

log = logging.getLogger(__name__)

MIRRORED = {"win": "loss", "loss": "win", "tie": "tie", "inconsistent": "inconsistent"}
ScoringProgress = Callable[[int, int], Awaitable[None]]  # (requests scored, requests to score)


def evaluators_of(spec: ExperimentSpec) -> dict[str, Any]:
    """What a pass scores with, as stored on the pass (the spec's own words)."""
    plain = spec.to_dict()
    return {key: plain[key] for key in ("evaluators", "judges", "evaluation") if key in plain}


def has_evaluators(spec: ExperimentSpec) -> bool:
    return bool(spec.evaluators) or any(item.asserts for item in spec.dataset.items)


async def create_pass(deps: EngineDeps, run: RunRecord, spec: ExperimentSpec, trigger: PassTrigger,
                      created_by: str | None) -> UUID:
    async with deps.pg.acquire() as conn:
        return await scoring_passes.create_pass(conn, run.project_id, run.id, evaluators_of(spec), trigger,
                                                created_by)


@dataclass
class _Candidate:
    """A response a pairwise evaluator compares with its counterparts."""

    response: StoredResponse
    item: DatasetItem


@dataclass
class ScoringPass:
    deps: EngineDeps
    run: RunRecord
    spec: ExperimentSpec
    pass_id: UUID
    on_progress: ScoringProgress | None = None
    scored: int = 0
    total: int = 0
    _pairs: dict[tuple[str, tuple[str, ...]], dict[str, _Candidate]] = field(default_factory=dict)
    _labelled: dict[str, list[tuple[Any, float, bool]]] = field(default_factory=dict)

    async def execute(self) -> scoring_passes.ScoringPass:
        """Score the run; the pass ends completed with its summary, or failed with the reason (and re-raises)."""
        spec = self.spec
        self.evaluation = spec.evaluation or EvaluationSpec()
        self.items = {item.id: item for item in spec.dataset.items}
        self.prompts = {f"{prompt.name}@{prompt.version}": prompt for prompt in spec.prompts}
        self.total = await scores.count_responses(self.deps.clickhouse, self.run.project_id, self.run.id)
        async with self.deps.pg.acquire() as conn:
            await scoring_passes.start_pass(conn, self.pass_id, self.total)
        self.writer = EventWriter(self.deps.clickhouse, scores.TABLE, scores.COLUMNS,
                                  self.deps.data_dir / "spool" / "scores")
        self.judges = JudgeClient(self.deps, self.run.project_id, spec, self.evaluation, seed=self.pass_id.int)
        try:
            await self.writer.start()
            await self.judges.open()
            await self._score_all()
            await self.writer.flush()
            compare = {ev.name: str(ev.options.get("compare", "model")) for ev in spec.evaluators or ()
                       if ev.type == "pairwise"}
            summary = await score_summary(self.deps.clickhouse, self.run.project_id, self.run.id, self.pass_id,
                                          params_by_hash(spec), compare)
            summary["calibration"] = calibration(self._labelled, self._thresholds())
            summary["judge"] = self._judge_totals()
        except BaseException as exc:
            reason = "stopped before it finished" if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt) \
                else (str(exc) or type(exc).__name__)
            await even_if_cancelled(self._finish(error=f"scoring failed: {reason}"[:1000]))
            raise
        finally:
            await even_if_cancelled(self._close())
        await self._finish(summary=summary)
        async with self.deps.pg.acquire() as conn:
            finished = await scoring_passes.get_pass(conn, self.pass_id)
        assert finished is not None
        return finished

    async def _close(self) -> None:
        await self.judges.close()
        await self.writer.close()

    async def _finish(self, *, summary: dict[str, Any] | None = None, error: str | None = None) -> None:
        async with self.deps.pg.acquire() as conn:
            await scoring_passes.finish_pass(conn, self.pass_id, self._counters(), summary=summary, error=error)

    def _counters(self) -> PassCounters:
        totals = self.judges.totals
        return PassCounters(self.total, self.scored, totals.calls, totals.cached, totals.errors, totals.cost_usd)

    def _judge_totals(self) -> dict[str, Any]:
        totals = self.judges.totals
        return {"calls": totals.calls, "cached": totals.cached, "errors": totals.errors,
                "cost_usd": totals.cost_usd}

    def _thresholds(self) -> dict[str, float]:
        evaluators = [*(self.spec.evaluators or ())]
        for item in self.spec.dataset.items:
            evaluators += item.asserts or ()
        return {ev.name: ev.threshold if ev.threshold is not None else 0.5 for ev in evaluators
                if ev.type == "llm-rubric"}

    async def _score_all(self) -> None:
        after: UUID | None = None
        while True:
            page = await scores.stored_responses(self.deps.clickhouse, self.run.project_id, self.run.id,
                                                 after=after)
            if not page:
                break
            after = page[-1].event_id
            # Requests judged by a model wait for it; the others are scored at once (no task per request).
            waiting = []
            for response in page:
                if self._judged(response):
                    waiting.append(self._score_one(response))
                else:
                    _, evaluated, _ = self._score_now(response)  # no rubric: `_judged` said so
                    self._finish_request(response, evaluated)
            await asyncio.gather(*waiting)
            async with self.deps.pg.acquire() as conn:
                await scoring_passes.record_counters(conn, self.pass_id, self._counters())
            if self.on_progress is not None:
                await self.on_progress(self.scored, self.total)
        await self._score_pairs()

    def _evaluators(self, item: DatasetItem) -> tuple[EvaluatorSpec, ...]:
        return (*(self.spec.evaluators or ()), *(item.asserts or ()))

    def _judged(self, stored: StoredResponse) -> bool:
        """Whether the request waits for a judge (an llm-rubric evaluator and a response to judge)."""
        item = self.items.get(stored.item_id) or DatasetItem(id=stored.item_id)
        return stored.ok and any(evaluator.type == "llm-rubric" for evaluator in self._evaluators(item))

    def _score_now(self, stored: StoredResponse) -> tuple[DatasetItem, list[tuple[EvaluatorSpec, Score]],
                                                          list[EvaluatorSpec]]:
        """Every score that needs no judge; returns the item, those scores, and the rubrics left to ask."""
        item = self.items.get(stored.item_id) or DatasetItem(id=stored.item_id)
        context = ItemContext.of(item)
        response = response_of(stored)
        evaluated: list[tuple[EvaluatorSpec, Score]] = []
        rubrics: list[EvaluatorSpec] = []
        for evaluator in self._evaluators(item):
            if evaluator.type == "pairwise":
                if response.ok:
                    self._hold_for_pairing(evaluator, stored, item)
                else:
                    for score in failed_scores(evaluator, response):
                        self._write(stored, evaluator, score)
                continue
            if evaluator.type == "llm-rubric":
                if response.ok:
                    rubrics.append(evaluator)
                    continue
                produced = failed_scores(evaluator, response)
            else:
                produced = score_request([evaluator], response, context)
            for score in produced:
                self._write(stored, evaluator, score)
                if score.name == evaluator.name:
                    evaluated.append((evaluator, score))
        return item, evaluated, rubrics

    async def _score_one(self, stored: StoredResponse) -> None:
        """A request with judge evaluators: its other scores at once, then the judges' verdicts."""
        item, evaluated, rubrics = self._score_now(stored)
        verdicts = await asyncio.gather(*(self._rubric(evaluator, stored, item) for evaluator in rubrics))
        for evaluator, (score, call) in zip(rubrics, verdicts, strict=True):
            self._write(stored, evaluator, score, call)
            evaluated.append((evaluator, score))
            self._label(evaluator, item, score)
        self._finish_request(stored, evaluated)

    def _finish_request(self, stored: StoredResponse, evaluated: list[tuple[EvaluatorSpec, Score]]) -> None:
        """The request's `overall` score, once every evaluator that decides it has scored."""
        if evaluated:
            self._write(stored, None, overall(evaluated, self.evaluation.threshold))
        self.scored += 1

    async def _rubric(self, evaluator: EvaluatorSpec, stored: StoredResponse,
                      item: DatasetItem) -> tuple[Score, JudgeCall | None]:
        return await judge_rubric(self.judges, evaluator, self._question(stored, item), stored.output,
                                  _expected_text(item))

    def _label(self, evaluator: EvaluatorSpec, item: DatasetItem, score: Score) -> None:
        if item.labels and evaluator.name in item.labels and score.label != "judge_error":
            self._labelled.setdefault(evaluator.name, []).append(
                (item.labels[evaluator.name], score.value, score.passed))

    def _question(self, stored: StoredResponse, item: DatasetItem) -> str:
        prompt = self.prompts.get(stored.prompt_version)
        return question_of(render_messages(prompt, item), None) if prompt is not None else ""

    def _hold_for_pairing(self, evaluator: EvaluatorSpec, stored: StoredResponse, item: DatasetItem) -> None:
        """Keep a response until its counterparts are read: cells that differ only by model (or prompt)."""
        by_model = evaluator.options.get("compare", "model") == "model"
        fixed = stored.prompt_version if by_model else stored.model
        key = (evaluator.name, (stored.item_id, str(stored.repetition), stored.load_phase, stored.params_hash, fixed))
        subject = stored.model if by_model else stored.prompt_version
        self._pairs.setdefault(key, {})[subject] = _Candidate(stored, item)

    async def _score_pairs(self) -> None:
        evaluators = {ev.name: ev for ev in self.spec.evaluators or () if ev.type == "pairwise"}
        tasks = []
        for (name, _), candidates in self._pairs.items():
            subjects = sorted(candidates)
            if len(subjects) < 2:
                continue
            for index, first in enumerate(subjects):
                for second in subjects[index + 1:]:
                    tasks.append(self._pair(evaluators[name], first, candidates[first], second, candidates[second]))
        await asyncio.gather(*tasks)
        self._pairs.clear()

    async def _pair(self, evaluator: EvaluatorSpec, first: str, a: _Candidate, second: str, b: _Candidate) -> None:
        """Judge a pair in both orders; a verdict that flips with the order is `inconsistent` (a tie)."""
        assert evaluator.judge is not None
        question, expected = self._question(a.response, a.item), _expected_text(a.item)
        criteria = str(evaluator.value)
        orders = await asyncio.gather(
            self.judges.ask(evaluator.judge, pairwise_messages(criteria, question, a.response.output,
                                                               b.response.output, expected), parse_pairwise_verdict),
            self.judges.ask(evaluator.judge, pairwise_messages(criteria, question, b.response.output,
                                                               a.response.output, expected), parse_pairwise_verdict))
        (verdict_ab, call_ab), (verdict_ba, call_ba) = orders
        call = _combined(call_ab, call_ba)
        if isinstance(verdict_ab, JudgeError) or isinstance(verdict_ba, JudgeError):
            error = verdict_ab if isinstance(verdict_ab, JudgeError) else verdict_ba
            for stored, other in ((a, second), (b, first)):
                score = Score(evaluator.name, 0.0, False, f"judge error: {error}", "judge_error")
                self._write(stored.response, evaluator, score, call if stored is a else None, counterpart=other)
            return
        outcome = combine_orders(verdict_ab.winner, verdict_ba.winner)  # the raw letters of each order
        reason = f"{verdict_ab.winner} then {verdict_ba.winner} with the order swapped: {verdict_ab.reason}"[:300]
        for stored, other, result, share in ((a, second, outcome, call), (b, first, MIRRORED[outcome], None)):
            score = Score(evaluator.name, outcome_score(result), result == "win", reason, result)
            self._write(stored.response, evaluator, score, share, counterpart=other)

    def _write(self, stored: StoredResponse, evaluator: EvaluatorSpec | None, score: Score,
               call: JudgeCall | None = None, *, counterpart: str = "") -> None:
        item = self.items.get(stored.item_id)
        reference = ""
        if evaluator is not None and item is not None and item.labels and evaluator.name in item.labels:
            reference = json.dumps(item.labels[evaluator.name])
        self.writer.add(ScoreRow(
            project_id=self.run.project_id, run_id=self.run.id, experiment_id=self.run.experiment_id,
            pass_id=self.pass_id, event_id=stored.event_id, ts=stored.ts, item_id=stored.item_id,
            repetition=stored.repetition, load_phase=stored.load_phase, model=stored.model,
            prompt_version=stored.prompt_version, params_hash=stored.params_hash,
            evaluator=evaluator.name if evaluator is not None else OVERALL,
            evaluator_type=written_type(evaluator), score_name=score.name,
            weight=evaluator.weight if evaluator is not None else 0.0, value=score.value, passed=score.passed,
            label=score.label, reason=score.reason, reference=reference, counterpart=counterpart,
            judge_model=call.judge_model if call else "", judge_cached=call.cached if call else False,
            judge_prompt_tokens=call.prompt_tokens if call else 0,
            judge_completion_tokens=call.completion_tokens if call else 0,
            judge_cost_usd=(call.cost_usd or 0.0) if call else 0.0,
            judge_latency_ms=call.latency_ms if call else 0.0).as_row())


async def judge_rubric(judges: JudgeClient, evaluator: EvaluatorSpec, question: str, output: str,
                       expected: str | None) -> tuple[Score, JudgeCall | None]:
    """An `llm-rubric` evaluator's score of one answer, from its judge (a judge error is a failed score)."""
    messages = rubric_messages(str(evaluator.value), question, output, expected)
    threshold = evaluator.threshold if evaluator.threshold is not None else 0.5
    assert evaluator.judge is not None  # the parser fills it in
    verdict, call = await judges.ask(evaluator.judge, messages, lambda text: parse_rubric_verdict(text, threshold))
    if isinstance(verdict, JudgeError):
        return Score(evaluator.name, 0.0, False, f"judge error: {verdict}", "judge_error"), call
    return Score(evaluator.name, verdict.score, verdict.passed, verdict.reason), call


def written_type(evaluator: EvaluatorSpec | None) -> str:
    """The `evaluator_type` a score row carries: the type as written (`not-` included), or `overall`."""
    if evaluator is None:
        return OVERALL
    return ("not-" if evaluator.negate else "") + evaluator.type


def _combined(first: JudgeCall, second: JudgeCall) -> JudgeCall:
    cost = None if first.cost_usd is None or second.cost_usd is None else first.cost_usd + second.cost_usd
    return JudgeCall(first.judge_model, first.cached and second.cached, first.calls + second.calls,
                     first.prompt_tokens + second.prompt_tokens, first.completion_tokens + second.completion_tokens,
                     cost, first.latency_ms + second.latency_ms)


def _expected_text(item: DatasetItem) -> str | None:
    expected = item.expected_output
    if expected is None:
        return None
    return expected if isinstance(expected, str) else json.dumps(expected, ensure_ascii=False)


def response_of(stored: StoredResponse) -> Response:
    """A stored response as the evaluators take it."""
    calls: tuple[dict[str, Any], ...] = ()
    if stored.tool_calls:
        try:
            parsed = json.loads(stored.tool_calls)
            calls = tuple({"name": call.get("name", ""), "arguments": call.get("arguments", "")} for call in parsed
                          if isinstance(call, dict))
        except ValueError:
            calls = ()
    return Response(output=stored.output, tool_calls=calls, ok=stored.ok, error_type=stored.error_type,
                    ttft_ms=stored.ttft_ms, tpot_ms=stored.tpot_ms, e2e_ms=stored.e2e_ms, cost_usd=stored.cost_usd)
