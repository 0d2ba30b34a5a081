"""Judge calls for a scoring pass: their own transports, concurrency limit, retries, cost and verdict cache.

Judges are models like any other (any provider the spec names) but outside the matrix under test, called only
after the measurement window, so they never compete with timed requests. A call goes through the engine's
own executor. Judges retry by default (unlike the models under test, whose retries would change what is
measured): up to `evaluation.judge_max_attempts` calls per verdict, again after a provider error the spec's
`retries.retry_on` names (429, 5xx, timeouts, connection errors; backoff and Retry-After as `retries` says)
and after an answer that does not parse as a verdict. What still has no verdict is a judge error, counted
and shown, never a pass. Every call's latency, tokens and cost are kept (they are the
evaluation's cost, apart from the models under test); a verdict that parsed is cached by a hash of (judge
model, params, messages), so an identical call in a later pass costs nothing, and an identical call within
the pass is asked once: the others share its answer (counted as cached) or its error. With the
cache off (`evaluation.cache: false`) every verdict is asked for.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from benchlab.engine.cost import Prices, model_prices, request_cost
from benchlab.engine.credentials import provider_keys
from benchlab.engine.deps import EngineDeps
from benchlab.engine.executor import RetryPolicy, Transport, execute
from benchlab.engine.transport_direct import LLMRequest
from benchlab.engine.transports import open_transport
from benchlab.evaluation.judges import JudgeError, verdict_cache_key
from benchlab.spec import EvaluationSpec, ExperimentSpec, ModelSpec
from benchlab.stores import judge_verdicts
from benchlab.stores.judge_verdicts import CachedVerdict

T = TypeVar("T")
DEFAULT_JUDGE_MAX_TOKENS = 512  # a verdict is one JSON object; a judge without its own limit gets this one
CLOSE_S = 2.0


@dataclass(frozen=True)
class JudgeCall:
    """What one judged item cost: the answer's verdict (or the error), and the calls made for it."""

    judge_model: str
    cached: bool
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    latency_ms: float


@dataclass
class JudgeTotals:
    calls: int = 0
    cached: int = 0
    errors: int = 0
    cost_usd: float = 0.0


class JudgeClient:
    """Asks the spec's judges for verdicts, at most `judge_concurrency` calls at a time."""

    def __init__(self, deps: EngineDeps, project_id: UUID, spec: ExperimentSpec, evaluation: EvaluationSpec,
                 *, seed: int = 0) -> None:
        self.deps, self.project_id, self.spec, self.evaluation = deps, project_id, spec, evaluation
        self.judges: dict[str, ModelSpec] = {judge.name: judge for judge in spec.judges or ()}
        self.totals = JudgeTotals()
        self._limit = asyncio.Semaphore(evaluation.judge_concurrency)
        # One attempt per executor call: this client counts attempts itself, against judge_max_attempts.
        self._one_attempt = RetryPolicy(1, spec.retries.backoff_s, spec.retries.max_backoff_s,
                                        frozenset(spec.retries.retry_on))
        self._rng = random.Random(seed)
        self._transports: dict[str, Transport] = {}
        self._prices: dict[str, Prices | None] = {}
        # Each distinct call of this pass, asked once: identical calls (two models answering an item alike) share
        # its answer, or its error (a verdict that could not be had is not asked for again in the same pass).
        self._asked: dict[str, asyncio.Future[tuple[Any, JudgeCall, str]]] = {}

    async def open(self) -> None:
        """Open a transport per judge provider and look up the judges' prices (before any call)."""
        if not self.judges:
            return
        names = {judge.provider for judge in self.judges.values()}
        providers = [provider for provider in self.spec.providers if provider.name in names]
        keys = await provider_keys(self.deps, self.project_id, providers)
        connections = self.evaluation.judge_concurrency
        for provider in providers:
            first = next(judge.model for judge in self.judges.values() if judge.provider == provider.name)
            self._transports[provider.name] = open_transport(provider, keys[provider.name], connections,
                                                             self.spec.timeout_s, first)
        types = {provider.name: provider.type for provider in self.spec.providers}
        for judge in self.judges.values():
            self._prices[judge.name] = await asyncio.to_thread(
                model_prices, judge.input_price_per_mtok, judge.output_price_per_mtok,
                f"{types[judge.provider]}/{judge.model}")

    async def close(self) -> None:
        for transport in self._transports.values():
            try:
                async with asyncio.timeout(CLOSE_S):
                    await transport.close()
            except Exception:  # a judge connection that cannot close cleanly must not fail the pass
                pass

    async def ask(self, judge_name: str, messages: Sequence[Mapping[str, Any]],
                  parse: Callable[[str], T]) -> tuple[T | JudgeError, JudgeCall]:
        """The judge's parsed verdict (or why there is none) and what asking cost."""
        judge = self.judges[judge_name]
        params = {"max_tokens": DEFAULT_JUDGE_MAX_TOKENS, **judge.params}
        key = verdict_cache_key(judge.model, params, messages)
        if not self.evaluation.cache:
            verdict, call, _ = await self._call(judge, params, messages, parse, key)
            self._count(verdict, call)
            return verdict, call
        # Registered before the first await, so identical calls of a pass (made concurrently) find it.
        shared = self._asked.get(key)
        if shared is None:
            shared = self._asked[key] = asyncio.ensure_future(self._answer(judge, params, messages, parse, key))
            verdict, call, _ = await asyncio.shield(shared)
            self._count(verdict, call)
            return verdict, call
        leader_verdict, _, answer = await asyncio.shield(shared)  # asked (or being asked) for another request
        verdict = leader_verdict if isinstance(leader_verdict, JudgeError) else _parsed(parse, answer)
        call = JudgeCall(judge.name, True, 0, 0, 0, 0.0, 0.0)
        self._count(verdict, call)
        return verdict, call

    def _count(self, verdict: object, call: JudgeCall) -> None:
        if isinstance(verdict, JudgeError):
            self.totals.errors += 1
        elif call.cached:
            self.totals.cached += 1

    async def _answer(self, judge: ModelSpec, params: dict[str, Any], messages: Sequence[Mapping[str, Any]],
                      parse: Callable[[str], T], key: str) -> tuple[T | JudgeError, JudgeCall, str]:
        """The cached verdict of an identical earlier call, else a new call (its readable verdict cached)."""
        async with self.deps.pg.acquire() as conn:
            cached = await judge_verdicts.cached_verdict(conn, self.project_id, key)
        if cached is not None:
            verdict = _parsed(parse, cached.answer)
            if not isinstance(verdict, JudgeError):
                return verdict, JudgeCall(judge.name, True, 0, cached.prompt_tokens, cached.completion_tokens, 0.0,
                                          cached.latency_ms), cached.answer
        verdict, call, answer = await self._call(judge, params, messages, parse, key)
        if not isinstance(verdict, JudgeError):
            async with self.deps.pg.acquire() as conn:
                await judge_verdicts.store_verdict(conn, self.project_id, key, judge.model, CachedVerdict(
                    answer, call.prompt_tokens, call.completion_tokens, call.cost_usd, call.latency_ms))
        return verdict, call, answer

    async def _call(self, judge: ModelSpec, params: dict[str, Any], messages: Sequence[Mapping[str, Any]],
                    parse: Callable[[str], T], cache_key: str) -> tuple[T | JudgeError, JudgeCall, str]:
        # One id per verdict, shared by its attempts: the judge provider's logs (and the mock's retry faults)
        # see the attempts of one verdict as one request.
        request = LLMRequest(judge.model, messages=[dict(message) for message in messages], params=params,
                             headers={"X-Request-ID": f"judge-{cache_key[:32]}"}, stream=False)
        calls = prompt_tokens = completion_tokens = 0
        cost: float | None = 0.0
        latency_ms = 0.0
        verdict: T | JudgeError = JudgeError("no answer")
        answer = ""
        attempts = self.evaluation.judge_max_attempts
        for attempt in range(1, attempts + 1):
            async with self._limit:
                outcome = await execute(request, time.perf_counter_ns(), self._transports[judge.provider],
                                        self._one_attempt, None, self._rng)
            calls += 1
            prompt_tokens += outcome.prompt_tokens
            completion_tokens += outcome.completion_tokens
            latency_ms += outcome.timings.e2e_ms
            spent = request_cost(outcome.prompt_tokens, outcome.completion_tokens, self._prices[judge.name])
            cost = None if cost is None or spent is None else cost + spent
            record = outcome.record
            if not record.ok:
                error = record.error_type.value if record.error_type else "error"
                verdict = JudgeError(f"judge call failed: {error}: {record.error_message}"[:300])
                if record.error_type not in self._one_attempt.retry_on or attempt == attempts:
                    break
                await asyncio.sleep(self._one_attempt.delay_s(attempt, record.retry_after_s, self._rng))
                continue
            answer = record.output_text
            verdict = _parsed(parse, answer)
            if not isinstance(verdict, JudgeError):
                break
        self.totals.calls += calls
        self.totals.cost_usd += cost or 0.0
        return verdict, JudgeCall(judge.name, False, calls, prompt_tokens, completion_tokens, cost, latency_ms), answer


def _parsed(parse: Callable[[str], T], answer: str) -> T | JudgeError:
    try:
        return parse(answer)
    except JudgeError as error:
        return error
