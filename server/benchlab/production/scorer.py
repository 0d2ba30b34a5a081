"""The background loop that scores a sample of each project's production traffic, off the application's path.

Every `interval_s` a server's scorer calls `tick()`: for each project whose rule set is enabled and that no other
scorer is working on, it claims the next batch of sampled requests (stores/production_sample.py says which ones)
sent after the rule set's watermark and at least `settle_s` ago (so rows still on their way from an exporter's
batch are not skipped), scores them, writes the scores, and moves the watermark past them. At most
`max_per_tick` requests per project per tick; the rest waits for the next tick.

Scoring is the experiment's (engine/scoring_pass.py, evaluation/scoring.py): deterministic, similarity and SLO
evaluators score at once, `llm-rubric` asks the project's judge model through the same judge client (retries,
concurrency limit, verdict cache, cost), and `overall` weighs them. The question a judge sees is the last user
message of the request's `input`. A score row carries run_id and experiment_id = the nil UUID (the mark of a
production score, which alert rules rely on), the request's event id and ts, and the rule set version's
pass id.

Exactly once, across replicas and restarts (migration 0011 says how): the claim is a PostgreSQL row lock held
for milliseconds, the batch is written with its id as ClickHouse's insert deduplication token, and a batch left
by a scorer that died is taken over unchanged after its lease.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from benchlab.config import redact_text
from benchlab.engine.cancellation import even_if_cancelled
from benchlab.engine.deps import EngineDeps
from benchlab.engine.judging import JudgeCall, JudgeClient
from benchlab.engine.scoring_pass import judge_rubric, response_of, written_type
from benchlab.evaluation.judges import question_of
from benchlab.evaluation.model import ItemContext, Score
from benchlab.evaluation.scoring import OVERALL, overall, score_request
from benchlab.production.rules import scoring_spec
from benchlab.spec import EvaluationSpec, EvaluatorSpec, ExperimentSpec
from benchlab.stores import production_scoring as rule_store
from benchlab.stores import scores
from benchlab.stores.event_writer import EventWriter
from benchlab.stores.production_sample import NIL, ProductionResponse, next_sample, production_responses
from benchlab.stores.production_scoring import Batch, BatchOutcome, RuleSet
from benchlab.stores.scores import ScoreRow

log = logging.getLogger(__name__)

DEFAULT_MAX_PER_TICK = 200
DEFAULT_SETTLE_S = 60.0   # an OTLP exporter batches spans for seconds; the ingest writer for about one
DEFAULT_LEASE_S = 600.0   # a batch of 200 rubric verdicts at 4 at a time takes well under this with real judges
_NO_ITEM = ItemContext()


@dataclass
class TickReport:
    """What one tick did, per project: requests scored (and batches that failed, with the reason)."""

    scored: dict[UUID, int] = field(default_factory=dict)
    failed: dict[UUID, str] = field(default_factory=dict)


class ProductionScorer:
    """Scores sampled production traffic; `start()` runs `tick()` every `interval_s` until `stop()`."""

    def __init__(self, deps: EngineDeps, *, interval_s: float = 30.0, max_per_tick: int = DEFAULT_MAX_PER_TICK,
                 settle_s: float = DEFAULT_SETTLE_S, lease_s: float = DEFAULT_LEASE_S) -> None:
        self.deps = deps
        self.interval_s = interval_s
        self.max_per_tick = max_per_tick
        self.settle = timedelta(seconds=settle_s)
        self.lease = timedelta(seconds=lease_s)
        self._writer = EventWriter(deps.clickhouse, scores.TABLE, scores.COLUMNS,
                                   deps.data_dir / "spool" / "production-scores")
        self._started = False
        self._task: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Start the score writer (replaying what an earlier process spooled); `tick()` needs it."""
        if not self._started:
            await self._writer.start()
            self._started = True

    async def start(self) -> None:
        await self.open()
        self._task = asyncio.create_task(self._loop(), name="production-scorer")

    async def stop(self) -> None:
        """Stop the loop (a batch being scored is handed back for the next tick, anywhere) and the writer."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._started:
            await self._writer.close(10.0)
            self._started = False

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a store outage must not end the loop: the next tick tries again
                log.exception("production scoring tick failed")
            await asyncio.sleep(self.interval_s)

    async def tick(self, now: datetime | None = None) -> TickReport:
        """One round over the projects: claim, score and write at most `max_per_tick` requests of each."""
        now = now or datetime.now(UTC)
        report = TickReport()
        done: list[UUID] = []

        async def select(rules: RuleSet) -> tuple[list[UUID], datetime, UUID]:
            before = now - self.settle
            if before <= rules.watermark_ts:
                return [], rules.watermark_ts, rules.watermark_event
            return await next_sample(self.deps.clickhouse, rules.project_id,
                                     (rules.watermark_ts, rules.watermark_event), before, rules.sample_rate,
                                     rules.models, self.max_per_tick)

        while True:
            async with self.deps.pg.acquire() as conn:
                batch = await rule_store.claim_batch(conn, select, now, self.lease, done)
            if batch is None:
                return report
            project = batch.rules.project_id
            done.append(project)
            if not batch.events:
                continue
            try:
                outcome = await self._score(batch)
            except asyncio.CancelledError:  # the process stops: hand the batch back now, not after its lease
                async with self.deps.pg.acquire() as conn:
                    await even_if_cancelled(rule_store.release_batch(
                        conn, batch, "a server stopped while scoring this batch; the next tick scores it",
                        datetime.now(UTC)))
                raise
            except Exception as exc:  # kept for the next tick; the reason shows on the rule set
                reason = redact_text(f"{type(exc).__name__}: {exc}")[:1000]  # no credentials of a URL
                log.warning("production scoring of project %s failed: %s", project, reason)
                report.failed[project] = reason
                async with self.deps.pg.acquire() as conn:
                    await even_if_cancelled(rule_store.release_batch(conn, batch, reason, now))
                continue
            async with self.deps.pg.acquire() as conn:
                if await rule_store.finish_batch(conn, batch, outcome, datetime.now(UTC)):
                    report.scored[project] = outcome.scored

    async def _score(self, batch: Batch) -> BatchOutcome:
        rules = batch.rules
        async with self.deps.pg.acquire() as conn:
            spec = await scoring_spec(conn, rules.project_id, rules.document)
        responses = await production_responses(self.deps.clickhouse, rules.project_id, batch.events,
                                               rules.watermark_ts, batch.until_ts)
        judges = JudgeClient(self.deps, rules.project_id, spec, spec.evaluation or EvaluationSpec(),
                             seed=batch.batch_id.int)
        try:
            await judges.open()
            scored = await asyncio.gather(*(_BatchScorer(spec, judges, rules, batch).score(one)
                                            for one in responses))
        finally:
            await judges.close()
        rows = [row for request in scored for row in request]
        # The batch id is the deduplication token: a batch written again (a retry, a takeover) counts once.
        if rows:
            await self._writer.write_batch(rows, dedupe_token=f"production-{batch.batch_id}")
        totals = judges.totals
        return BatchOutcome(len(responses), totals.calls, totals.errors, totals.cost_usd)


@dataclass
class _BatchScorer:
    spec: ExperimentSpec
    judges: JudgeClient
    rules: RuleSet
    batch: Batch

    async def score(self, request: ProductionResponse) -> list[tuple[Any, ...]]:
        """Every evaluator's scores of one request, then its `overall`, as score rows."""
        stored = request.response
        response = response_of(stored)
        question = question_of(_messages(request.input), request.input)
        rows: list[tuple[Any, ...]] = []
        evaluated: list[tuple[EvaluatorSpec, Score]] = []
        for evaluator in self.spec.evaluators or ():
            call: JudgeCall | None = None
            if evaluator.type == "llm-rubric":
                score, call = await judge_rubric(self.judges, evaluator, question, stored.output, None)
                produced = [score]
            else:
                produced = score_request([evaluator], response, _NO_ITEM)
            for score in produced:
                rows.append(self._row(request, evaluator, score, call))
                if score.name == evaluator.name:
                    evaluated.append((evaluator, score))
        if evaluated:
            threshold = (self.spec.evaluation or EvaluationSpec()).threshold
            rows.append(self._row(request, None, overall(evaluated, threshold), None))
        return rows

    def _row(self, request: ProductionResponse, evaluator: EvaluatorSpec | None, score: Score,
             call: JudgeCall | None) -> tuple[Any, ...]:
        stored = request.response
        return ScoreRow(
            project_id=self.rules.project_id, run_id=NIL, experiment_id=NIL, pass_id=self.rules.pass_id,
            event_id=stored.event_id, ts=stored.ts, item_id=stored.item_id, repetition=stored.repetition,
            load_phase=stored.load_phase, model=stored.model, prompt_version=stored.prompt_version,
            params_hash=stored.params_hash, evaluator=evaluator.name if evaluator is not None else OVERALL,
            evaluator_type=written_type(evaluator), score_name=score.name,
            weight=evaluator.weight if evaluator is not None else 0.0, value=score.value, passed=score.passed,
            label=score.label, reason=score.reason,
            judge_model=call.judge_model if call else "", judge_cached=call.cached if call else False,
            judge_prompt_tokens=call.prompt_tokens if call else 0,
            judge_completion_tokens=call.completion_tokens if call else 0,
            judge_cost_usd=(call.cost_usd or 0.0) if call else 0.0,
            judge_latency_ms=call.latency_ms if call else 0.0).as_row()


def _messages(text: str) -> list[dict[str, Any]] | None:
    """The request's input messages (a JSON list of chat messages), or None when it is not one."""
    try:
        value = json.loads(text) if text else None
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(message, dict) for message in value):
        return value
    return None
