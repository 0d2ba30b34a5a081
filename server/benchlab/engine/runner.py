"""Execute a run: transports, load phases, timed requests, buffered event writes, progress, summary, status.

Runs are created and queued in engine/runs.py; `RunExecutor.execute` runs a queued one to a final state. A
resumed run skips every planned request whose event is already in ClickHouse. Cancelling stops new sends;
requests in flight finish or time out, and the run ends `cancelled`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from benchlab.analytics.summary import SLOs, compute_summary, describe_errors
from benchlab.engine import load as load_profiles
from benchlab.engine.cancellation import cancelling, even_if_cancelled
from benchlab.engine.cost import Prices, model_prices, request_cost
from benchlab.engine.credentials import provider_keys
from benchlab.engine.deps import EngineDeps
from benchlab.engine.event_row import request_event
from benchlab.engine.executor import RetryPolicy, Transport, execute
from benchlab.engine.load_pool import LoadPool, PoolProvider, available_cores, per_process
from benchlab.engine.planner import PlannedRequest, params_by_hash, plan
from benchlab.engine.progress import FINISHING, SCORING, Progress, ProgressMessage, ProgressStatus
from benchlab.engine.recorded import recorded_state
from benchlab.engine.request_feed import FLUSH_INTERVAL_S, RequestFeed, feed_channel
from benchlab.engine.scoring_pass import ScoringPass, create_pass, has_evaluators
from benchlab.engine.selfcheck import SelfMeasurement, merge_reports
from benchlab.engine.transports import connections_wanted, load_processes, open_transport, sweep_max_concurrency
from benchlab.errors import ConflictError, NotFoundError
from benchlab.spec import ExperimentSpec, LoadProfile, LoadSpec, load_spec
from benchlab.stores import request_events
from benchlab.stores.event_writer import EventWriter
from benchlab.stores.run_queue import holds_claim
from benchlab.stores.runs import RunRecord, RunState, beat, get_run, record_progress, transition
from benchlab.stores.scoring_passes import PassTrigger
from benchlab.stores.scoring_passes import ScoringPass as PassRecord
from benchlab.stores.server_link import CLAIM_HEADER

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.5
ABORT_WRITE_S = 1.0         # stopped at once: ClickHouse gets this long for the last rows, then they go to disk
TRANSPORT_CLOSE_S = 2.0
INTERRUPTED_ERROR = "stopped before it finished; resume it to send the rest"
ERROR_RATE_MIN_REQUESTS = 20
HEARTBEAT_S = 1.0           # the run's heartbeat through every phase (orphan sweeps judge it stale much later)


def progress_channel(run_id: UUID) -> str:
    return f"run:{run_id}"


@dataclass
class _Phase:
    name: str
    profile: LoadProfile          # any but SWEEP, which is a sequence of phases
    concurrency: int = 1
    rate: float = 0.0


@dataclass
class RunExecutor:
    deps: EngineDeps
    run_id: UUID
    on_progress: Callable[[ProgressMessage], None] | None = None
    spec: ExperimentSpec | None = None  # as parsed when the run was created; else parsed from its snapshot
    claim: int | None = None  # a worker's fencing token (stores/run_queue.py); None: `benchlab run` executes it
    heartbeat_s: float = HEARTBEAT_S
    lost_claim: bool = False  # another worker took the run over: this executor stopped and changed nothing
    _cancel: asyncio.Event = field(default_factory=asyncio.Event)
    _aborted: bool = False
    _sending_done: bool = False
    _stop_reason: str = ""
    _feed_down: bool = False
    _progress_down: bool = False
    _phases_task: asyncio.Task[None] | None = None
    _summary_task: asyncio.Task[dict[str, Any]] | None = None
    _scoring_task: asyncio.Task[PassRecord] | None = None
    _writer: EventWriter | None = None

    def cancel(self) -> None:
        """Stop sending; in-flight requests finish or time out, and the run ends `cancelled`. Once every
        request was sent there is nothing left to cancel: the run completes as it would have."""
        if not self._sending_done:
            self._cancel.set()

    def abort(self) -> None:
        """Stop at once: requests in flight are dropped (a resume sends them again), rows already received are
        written, or spooled to disk within ABORT_WRITE_S, and the run ends `interrupted`, resumable."""
        self._aborted = True
        self._cancel.set()
        tasks: tuple[asyncio.Task[Any] | None, ...] = (self._phases_task, self._summary_task, self._scoring_task)
        for task in tasks:
            if task is not None:
                task.cancel()
        if self._writer is not None:
            self._writer.hurry(ABORT_WRITE_S)

    async def execute(self) -> RunRecord:
        async with self.deps.pg.acquire() as conn:
            run = await get_run(conn, self.run_id)
            if run is None:
                raise NotFoundError(f"run {self.run_id} does not exist")
            if not await transition(conn, self.run_id, RunState.RUNNING, claim=self.claim):
                raise ConflictError(f"run {self.run_id} is {run.status}; only queued runs can start",
                                    status=run.status.upper())
        spec = self.spec = self.spec or load_spec(run.config_snapshot)
        self.progress = Progress(total=run.planned_requests or None)
        heart = asyncio.create_task(self._beat())
        try:
            return await self._execute(run, spec)
        finally:
            heart.cancel()
            await asyncio.gather(heart, return_exceptions=True)

    async def _execute(self, run: RunRecord, spec: ExperimentSpec) -> RunRecord:
        try:
            summary, measured = await self._run(run, spec)
        except BaseException as exc:
            interrupted = isinstance(exc, asyncio.CancelledError | KeyboardInterrupt)
            async with self.deps.pg.acquire() as conn:
                if interrupted:
                    await transition(conn, self.run_id, RunState.INTERRUPTED, error=INTERRUPTED_ERROR,
                                     completed_requests=self.progress.done, failed_requests=self.progress.failed,
                                     claim=self.claim)
                else:
                    await transition(conn, self.run_id, RunState.FAILED, error=str(exc) or type(exc).__name__,
                                     claim=self.claim)
            await asyncio.shield(self._publish_quietly(RunState.INTERRUPTED if interrupted else RunState.FAILED))
            raise
        final, error = self._final_status(summary, spec.load)
        if summary is not None and final is not RunState.CANCELLED and has_evaluators(spec):
            try:
                summary["scores"] = await self._score(run, spec)
            except BaseException:
                async with self.deps.pg.acquire() as conn:
                    await transition(conn, self.run_id, RunState.INTERRUPTED, error=INTERRUPTED_ERROR,
                                     completed_requests=self.progress.done, failed_requests=self.progress.failed,
                                     claim=self.claim)
                await asyncio.shield(self._publish_quietly(RunState.INTERRUPTED))
                raise
        async with self.deps.pg.acquire() as conn:
            await transition(conn, self.run_id, final, summary=summary, self_measurement=measured,
                             client_saturated=measured["client_saturated"], error=error,
                             completed_requests=self.progress.done, failed_requests=self.progress.failed,
                             claim=self.claim)
            record = await get_run(conn, self.run_id)
        await self._publish_quietly(record.status if record else final)
        if record is None:
            raise NotFoundError(f"run {self.run_id} was deleted while it executed")
        return record

    async def _beat(self) -> None:
        """The run's heartbeat, from start to final state; a claim found taken over stops the run at once."""
        while True:
            await asyncio.sleep(self.heartbeat_s)
            try:
                async with self.deps.pg.acquire() as conn:
                    held = await beat(conn, self.run_id, self.claim)
            except Exception as exc:  # PostgreSQL unreachable: the run goes on; a sweep may hand it over later
                log.warning("could not beat the heart of run %s (%s)", self.run_id, exc)
                continue
            if not held:
                self._lose_claim()
                return

    def _lose_claim(self) -> None:
        if not self.lost_claim:
            log.warning("run %s was taken over by another worker (claim %s is no longer current); stopping "
                        "without writing more", self.run_id, self.claim)
            self.lost_claim = True
            self.abort()

    def _claim_header(self) -> dict[str, str] | None:
        """Rows relayed through a server carry the claim, which the server checks too (ingest/routes.py)."""
        if self.claim is None or self.deps.clickhouse.backend != "relay":
            return None
        return {CLAIM_HEADER: f"{self.run_id}:{self.claim}"}

    async def _claim_holds(self) -> bool:
        async with self.deps.pg.acquire() as conn:
            return await holds_claim(conn, self.run_id, self.claim or 0)

    async def _score(self, run: RunRecord, spec: ExperimentSpec) -> dict[str, Any]:
        """Score the run's responses after its measurement window (a phase of its own: progress says
        `scoring`), so judge calls never compete with timed requests. A pass that fails (a judge provider
        down) leaves the measurement intact: the run's summary says why its scores are missing. Stopping the
        process meanwhile leaves the run interrupted; resuming it sends nothing and scores again."""
        pass_id = await create_pass(self.deps, run, spec, PassTrigger.RUN, None)

        async def scoring_progress(scored: int, total: int) -> None:
            self.progress.scored, self.progress.scoring_total = scored, total
            await self._publish_quietly(SCORING)

        self.progress.scoring_total = None
        await self._publish_quietly(SCORING)
        scorer = ScoringPass(self.deps, run, spec, pass_id, on_progress=scoring_progress)
        self._scoring_task = asyncio.ensure_future(scorer.execute())
        try:
            finished = await self._scoring_task
        except Exception as exc:
            log.warning("scoring run %s failed: %s", self.run_id, exc)
            return {"pass_id": str(pass_id), "status": "failed", "error": str(exc) or type(exc).__name__}
        return {"pass_id": str(pass_id), "status": finished.status.value, **(finished.summary or {})}

    def _final_status(self, summary: dict[str, Any] | None, load: LoadSpec) -> tuple[RunState, str | None]:
        """The run's final state and why (README "What is measured": when a run counts as failed)."""
        if self._aborted or summary is None:
            return RunState.INTERRUPTED, INTERRUPTED_ERROR
        if self._cancel.is_set():
            return RunState.CANCELLED, None
        done, failed = self.progress.done, self.progress.failed
        limit = load.max_error_rate
        if self._stop_reason or (limit and done and failed / done > limit):
            because = self._stop_reason or f"error rate {failed / done:.0%} exceeded max_error_rate {limit:.0%}"
            return RunState.FAILED, f"{because} ({failed} of {done} requests failed{describe_errors(summary)})"
        if done and failed == done:
            return RunState.FAILED, f"every request failed{describe_errors(summary)}"
        return RunState.COMPLETED, None

    async def _run(self, run: RunRecord, spec: ExperimentSpec) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """Execute what is left of the run; the summary is None when the run was stopped at once."""
        self.run = run
        self.policy = RetryPolicy(spec.retries.max_attempts, spec.retries.backoff_s, spec.retries.max_backoff_s,
                                  frozenset(spec.retries.retry_on))
        self.rng = random.Random(run.id.int)
        self.writer = self._writer = EventWriter(self.deps.clickhouse, request_events.TABLE, request_events.COLUMNS,
                                                 self.deps.data_dir / "spool" / "request_events",
                                                 fence=self._claim_holds if self.claim is not None else None,
                                                 relay_headers=self._claim_header())
        await self.writer.start()  # rows an earlier process left on disk land first, so they count as recorded
        self.transports: dict[str, Transport] = {}
        self.pool: LoadPool | None = None   # load.processes > 1: the children that send the requests
        self.child_reports: list[dict[str, Any]] = []
        self.self_measurement = SelfMeasurement()
        self.feed = RequestFeed()
        self.sent = 0
        reporter = asyncio.create_task(self._report_progress())
        feeder = asyncio.create_task(self._publish_feed())
        try:
            self.recorded = await recorded_state(self.deps.clickhouse, run.project_id, run.id)
            self.progress = Progress(total=run.planned_requests or None, done=len(self.recorded.event_ids),
                                     failed=self.recorded.failed, errors=dict(self.recorded.errors))
            self.limits = {p.name: asyncio.Semaphore(p.max_concurrency) if p.max_concurrency else None
                           for p in spec.providers}
            self.clock_origin_s = self.recorded.end_s
            self.self_measurement.start()
            if not self._aborted:
                self._phases_task = asyncio.create_task(self._send_all(spec))
                await self._phases_task
        except asyncio.CancelledError:
            if not self._aborted or cancelling():
                raise  # this task itself is being cancelled (the process is going down), not an abort
        finally:
            await even_if_cancelled(self._close_down(reporter, feeder))
        if self._aborted:
            return None, self._self_report()
        await self._publish_quietly(FINISHING)
        self._summary_task = asyncio.create_task(self._summarise(run, spec))
        try:
            summary = await self._summary_task
        except asyncio.CancelledError:
            if not self._aborted or cancelling():
                raise
            return None, self._self_report()
        return summary, self._self_report()

    def _self_report(self) -> dict[str, Any]:
        """The run's self-measurement; with load-generator processes, merged with theirs."""
        if self.pool is None:
            return self.self_measurement.report()
        return merge_reports(self.self_measurement.report(), self.child_reports, self.pool.dispatch_lag_ms,
                             self.pool.processes)

    async def _close_down(self, *background: asyncio.Task[None]) -> None:
        """Stop measuring, publish what the feed holds, write (or spool) every row, close the transports."""
        await self.self_measurement.stop()
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await self._flush_feed()
        await self.writer.close(ABORT_WRITE_S if self._aborted else None)
        await self._close_transports()

    async def _summarise(self, run: RunRecord, spec: ExperimentSpec) -> dict[str, Any]:
        """The summary over the measurement window: [warm-up, end of the run - cool-down] on the run's clock."""
        load = spec.load
        run_end_s = self._run_clock_s(self.last_done_ns) if self.sent else self.recorded.end_s
        start_s = load.warmup_s
        end_s = max(start_s, run_end_s - load.cooldown_s)
        slos = SLOs(spec.slos.ttft_ms, spec.slos.tpot_ms, spec.slos.e2e_ms)
        summary = await compute_summary(self.deps.clickhouse, run.project_id, run.id, start_s, end_s, slos)
        summary["pending_on_disk"] = self.writer.stats.rows_pending_on_disk
        parameter_sets = params_by_hash(spec)
        for group in summary.get("groups", []):
            group["params"] = parameter_sets.get(group["params_hash"], {})  # the values, not only their hash
        return summary

    async def _close_transports(self) -> None:
        if self.pool is not None:  # its children stop; requests still in flight end with them
            self.child_reports = await self.pool.close()
        for transport in self.transports.values():
            try:
                async with asyncio.timeout(TRANSPORT_CLOSE_S):
                    await transport.close()
            except Exception as exc:  # a transport that cannot close cleanly must not keep the run open
                log.warning("could not close a transport of run %s cleanly (%s)", self.run_id, exc)

    def _run_clock_s(self, perf_ns: int) -> float:
        """A moment of this execution on the run's clock (seconds of execution since the run first started)."""
        return self.clock_origin_s + (perf_ns - self.perf_anchor_ns) / 1e9

    async def _send_all(self, spec: ExperimentSpec) -> None:
        """Open the transports and send every request; the task `abort()` cancels. The run's clock starts once
        the connections are open, as the load phases do: connection set-up is not part of the run's time."""
        await self._open_transports(spec)
        self.prices = await self._look_up_prices(spec)
        self.wall_anchor_ns, self.perf_anchor_ns = time.time_ns(), time.perf_counter_ns()
        self.last_done_ns = self.perf_anchor_ns
        await self._run_phases(spec)
        self._sending_done = True

    async def _look_up_prices(self, spec: ExperimentSpec) -> dict[str, Prices | None]:
        """Each model's prices, found before anything is timed (cost.py: the first lookup imports litellm)."""
        provider_types = {provider.name: provider.type for provider in spec.providers}
        return {model.name: await asyncio.to_thread(model_prices, model.input_price_per_mtok,
                                                    model.output_price_per_mtok,
                                                    f"{provider_types[model.provider]}/{model.model}")
                for model in spec.models}

    async def _run_phases(self, spec: ExperimentSpec) -> None:
        load = spec.load
        if load.profile is not LoadProfile.SWEEP:
            await self._run_phase(spec, _Phase("main", load.profile, load.concurrency or 1, load.rate or 0.0))
            return
        sync_rate = await self._run_phase(spec, _Phase("sync", LoadProfile.SYNCHRONOUS))
        max_rate = await self._run_phase(spec, _Phase("max", LoadProfile.CONCURRENT, sweep_max_concurrency(load)))
        for rate in load_profiles.sweep_rates(sync_rate, max_rate, load.sweep_rates or 1):
            await self._run_phase(spec, _Phase(f"rate-{rate:g}", LoadProfile.CONSTANT, rate=rate))

    async def _run_phase(self, spec: ExperimentSpec, phase: _Phase) -> float:
        """Run one load phase; returns its achieved request rate (successful requests per second)."""
        load = spec.load
        phases = (load.sweep_rates or 0) + 2 if load.profile is LoadProfile.SWEEP else 1
        recorded, spent_s = self.recorded.per_phase.get(phase.name, (0, 0.0))
        if recorded and phases == 1:
            # The one phase began at 0 on the run's clock, not at its first request's intended send (a little
            # later): measured from there, what is left of the duration never reaches past it.
            spent_s = self.recorded.end_s
        budget = max(0, load.max_requests // phases - recorded) if load.max_requests else None
        duration = max(0.0, load.duration_s / phases - spent_s) if load.duration_s else None
        items: Iterable[PlannedRequest] = (
            p for p in plan(spec, self.run.id, phase=phase.name, cycles=None if duration is not None else 1)
            if p.event_id not in self.recorded.event_ids)
        if budget is not None:
            items = itertools.islice(items, budget)
        started = time.perf_counter()
        done_before, failed_before = self.progress.done, self.progress.failed

        def should_stop() -> bool:
            if self._cancel.is_set() or self._stop_reason:
                return True
            if duration is not None and time.perf_counter() - started >= duration:
                return True
            if load.max_error_rate and self.progress.done >= ERROR_RATE_MIN_REQUESTS \
                    and self.progress.error_rate > load.max_error_rate:
                self._stop_reason = (f"stopped after {self.progress.done} requests: error rate "
                                     f"{self.progress.error_rate:.0%} exceeded max_error_rate "
                                     f"{load.max_error_rate:.0%}")
                return True
            return False

        async def run_one(planned: PlannedRequest, intended_ns: int) -> None:
            await self._execute_one(planned, intended_ns, phase.name, load)

        if phase.profile.closed_loop:
            concurrency = 1 if phase.profile is LoadProfile.SYNCHRONOUS else phase.concurrency
            await load_profiles.run_closed_loop(items, concurrency, run_one, should_stop)
        else:
            offsets = (load_profiles.poisson_offsets(phase.rate, load.seed or 0)
                       if phase.profile is LoadProfile.POISSON else load_profiles.constant_offsets(phase.rate))
            await load_profiles.run_open_loop(items, offsets, run_one, should_stop,
                                              max_concurrency=load.max_concurrency)
        elapsed = max(time.perf_counter() - started, 1e-9)
        succeeded = (self.progress.done - done_before) - (self.progress.failed - failed_before)
        return succeeded / elapsed

    async def _execute_one(self, planned: PlannedRequest, intended_ns: int, phase: str, load: LoadSpec) -> None:
        self.sent += 1
        outcome = await execute(planned.request, intended_ns, self.transports[planned.provider.name], self.policy,
                                self.limits[planned.provider.name], self.rng)
        record = outcome.record
        if not record.first_on_connection and self.pool is None:  # else the child that sent it measured it
            self.self_measurement.record_send_lag(outcome.dispatch_ns, outcome.first_send_ns)
        offset_s = self._run_clock_s(intended_ns)
        in_window = offset_s >= load.warmup_s and (
            not load.duration_s or offset_s <= load.duration_s - load.cooldown_s)
        cost = request_cost(outcome.prompt_tokens, outcome.completion_tokens, self.prices[planned.model.name])
        event = request_event(self.run.project_id, self.run.id, self.run.experiment_id, planned, outcome,
                              ts=self._wall(outcome.first_send_ns), in_window=in_window, run_offset_s=offset_s,
                              phase=phase, cost_usd=cost)
        self.writer.add(event.as_row())
        self.feed.add(event.feed_entry())
        self.progress.record(record.ok, outcome.timings.ttft_ms, record.error_column)
        self.last_done_ns = max(self.last_done_ns, time.perf_counter_ns())

    def _wall(self, perf_ns: int) -> datetime:
        return datetime.fromtimestamp((self.wall_anchor_ns + perf_ns - self.perf_anchor_ns) / 1e9, UTC)

    async def _open_transports(self, spec: ExperimentSpec) -> None:
        keys = await provider_keys(self.deps, self.run.project_id, spec.providers)
        wanted = connections_wanted(spec.load)
        processes = load_processes(spec, available_cores())
        if processes > 1:
            await self._start_pool(spec, keys, wanted, processes)
            return
        for provider in spec.providers:  # kept on self as they open, so a failure still closes the open ones
            connections = min(wanted, provider.max_concurrency or wanted)
            first_model = next(m.model for m in spec.models if m.provider == provider.name)
            self.transports[provider.name] = open_transport(provider, keys[provider.name], connections,
                                                            spec.timeout_s, first_model)
            await self.transports[provider.name].warm_up(min(connections, 64))

    async def _start_pool(self, spec: ExperimentSpec, keys: dict[str, str | None], wanted: int,
                          processes: int) -> None:
        """Start the load-generator processes (load.processes > 1; direct transports only, as validated): each
        opens its share of every provider's connections and warms them, as `_open_transports` does here."""
        providers = []
        for provider in spec.providers:
            connections = per_process(min(wanted, provider.max_concurrency or wanted), processes)
            providers.append(PoolProvider(provider.name, provider.direct_api, provider.api_base or "",
                                          keys[provider.name], connections, min(connections, 64)))
        self.pool = LoadPool(processes, providers, spec.timeout_s)
        log.info("run %s: %d load-generator processes, %d connection(s) each per provider", self.run_id, processes,
                 providers[0].connections if providers else 0)
        await self.pool.start()
        for provider in spec.providers:
            self.transports[provider.name] = self.pool.transport(provider.name)

    async def _report_progress(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL_S)
            try:
                async with self.deps.pg.acquire() as conn:
                    asked = await record_progress(conn, self.run_id, self.progress.done, self.progress.failed,
                                                  self.claim)
                if asked is None:
                    self._lose_claim()
                    return
                if asked:
                    self._cancel.set()
                await self._publish(RunState.RUNNING)
                self._progress_down = False
            except Exception as exc:  # progress is best effort; the run itself must go on
                if not self._progress_down:
                    log.warning("could not report progress of run %s (%s); retrying quietly", self.run_id, exc)
                self._progress_down = True

    async def _publish_feed(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_INTERVAL_S)
            await self._flush_feed()

    async def _flush_feed(self) -> None:
        message = self.feed.take()
        if message is not None:
            try:
                await self.deps.hub.publish(feed_channel(self.run_id), message)
                self._feed_down = False
            except Exception as exc:  # the live feed is best effort; every row is in ClickHouse regardless
                if not self._feed_down:  # once per outage, not ten tracebacks a second
                    log.warning("could not publish finished requests of run %s (%s); retrying quietly",
                                self.run_id, exc)
                self._feed_down = True

    async def _publish_quietly(self, status: ProgressStatus) -> None:
        """Tell subscribers a status; a fan-out failure (Redis down) must not change the run's outcome. A run
        taken over by another worker is that worker's to report."""
        if self.lost_claim:
            return
        try:
            await self._publish(status)
            if status not in (RunState.RUNNING, FINISHING, SCORING):  # a final status: the feed ends too
                await self.deps.hub.publish(feed_channel(self.run_id), {"type": "end", "status": status})
        except Exception:
            log.warning("could not publish the final status of run %s", self.run_id, exc_info=True)

    async def _publish(self, status: ProgressStatus) -> None:
        message = self.progress.message(str(self.run_id), status)
        if self.on_progress is not None:
            self.on_progress(message)
        await self.deps.hub.publish(progress_channel(self.run_id), message)
