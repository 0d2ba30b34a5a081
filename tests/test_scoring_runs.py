"""Scoring end to end: runs against the mock's answer key, judged by the mock judge, scores in ClickHouse.

Which prompt a mock model answers correctly is known in advance (`answers_correctly`: a seeded draw per
prompt and model), and the mock judge passes a response exactly when it contains the item's expected answer,
so every score of these runs is known before the run starts and is checked exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from benchlab.engine.deps import EngineDeps
from benchlab.engine.progress import ProgressMessage
from benchlab.engine.rescoring import prepare_rescoring
from benchlab.engine.runner import RunExecutor
from benchlab.engine.runs import submit_run
from benchlab.engine.scoring_pass import ScoringPass
from benchlab.spec import SpecError, load_spec
from benchlab.stores import scoring_passes
from benchlab.stores.scoring_passes import PassState, PassTrigger
from tests.helpers.mock_llm import run_mock_llm
from tests.helpers.quiz import ACCURACY, ITEMS, answer_key, correct, quiz_spec

__all__ = ["answer_key"]  # a fixture


async def run_with_progress(deps: EngineDeps, spec: dict[str, Any]) -> tuple[Any, list[ProgressMessage]]:
    messages: list[ProgressMessage] = []
    run_id = await submit_run(deps, load_spec(spec))
    run = await RunExecutor(deps, run_id, on_progress=messages.append).execute()
    return run, messages


async def score_rows(deps: EngineDeps, run_id: UUID, pass_id: str | UUID) -> list[dict[str, Any]]:
    result = await deps.clickhouse.query(
        "SELECT * FROM scores WHERE run_id = {run:UUID} AND pass_id = {pass:UUID} ORDER BY item_id, model, evaluator",
        {"run": run_id, "pass": UUID(str(pass_id))}, caller="tests")
    return result.dicts()


async def test_every_score_of_a_run_is_the_known_one(engine_deps: EngineDeps, answer_key: Path) -> None:
    with run_mock_llm(answer_key=answer_key) as mock:
        run, messages = await run_with_progress(engine_deps, quiz_spec(mock.base_url))
    assert run.status == "completed", run.error
    scores = run.summary["scores"]
    assert scores["status"] == "completed"
    rows = await score_rows(engine_deps, run.id, scores["pass_id"])
    by_key = {(r["item_id"], r["model"], r["evaluator"], r["counterpart"]): r for r in rows}
    for n in range(ITEMS):
        for model in ACCURACY:
            right = correct(model, n)
            for evaluator in ("hit", "judged", "overall"):
                row = by_key[(f"q{n}", model, evaluator, "")]
                assert (row["passed"], row["value"]) == (right, 1.0 if right else 0.0), (n, model, evaluator)
            judged = by_key[(f"q{n}", model, "judged", "")]
            assert judged["judge_model"] == "grader"
            assert judged["judge_latency_ms"] > 0 or judged["judge_cached"]  # a call alike another waits for it
        strong, weak = correct("strong", n), correct("weak", n)
        outcome = "win" if strong and not weak else "loss" if weak and not strong else "tie"
        assert by_key[(f"q{n}", "strong", "preferred", "weak")]["label"] == outcome
        mirrored = {"win": "loss", "loss": "win", "tie": "tie"}[outcome]
        assert by_key[(f"q{n}", "weak", "preferred", "strong")]["label"] == mirrored
    # One row per request x evaluator (pairwise: per counterpart) x pass: nothing twice.
    assert len(rows) == len(by_key) == ITEMS * 2 * 4
    # Scoring is a phase of its own, after the measurement, with its own progress.
    statuses = [m["status"] for m in messages]
    assert "scoring" in statuses and statuses.index("finishing") < statuses.index("scoring")
    last_scoring = [m for m in messages if m["status"] == "scoring"][-1]
    assert last_scoring["phase"] == "scoring" and last_scoring["scored"] == last_scoring["scoringTotal"] == 24
    # Two models that answered an item alike get the same rubric call, and the two orders of their pair are one
    # call: each distinct call is asked once, the others are served its answer (counted as cached).
    distinct = sum(1 if correct("strong", n) == correct("weak", n) else 2 for n in range(ITEMS))
    assert scores["judge"] == {"calls": 2 * distinct, "cached": 48 - 2 * distinct, "errors": 0, "cost_usd": 0.0}


async def test_the_summary_equals_a_direct_aggregate(engine_deps: EngineDeps, answer_key: Path) -> None:
    with run_mock_llm(answer_key=answer_key) as mock:
        run, _ = await run_with_progress(engine_deps, quiz_spec(mock.base_url))
    scores = run.summary["scores"]
    direct = await engine_deps.clickhouse.query(
        "SELECT evaluator, model, count(), countIf(passed), avg(value) FROM scores WHERE run_id = {run:UUID} "
        "AND pass_id = {pass:UUID} AND counterpart = '' AND evaluator_type != 'pairwise' GROUP BY evaluator, model",
        {"run": run.id, "pass": UUID(scores["pass_id"])}, caller="tests")
    summarised = {(e["evaluator"], e["group"]["model"]): e for e in scores["evaluators"] if e["group"]}
    assert len(summarised) == len(direct.rows) == 3 * 2
    for evaluator, model, n, passed, mean in direct.rows:
        entry = summarised[(evaluator, model)]
        assert (entry["count"], entry["passed"]) == (n, passed)
        assert entry["mean"] == pytest.approx(mean)
        assert entry["pass_rate"] == pytest.approx(passed / n)
        low, high = entry["pass_rate_ci"]
        assert low <= passed / n <= high
        assert entry["group"]["params"] == {"max_tokens": 16}  # the values, not only the hash
    expected_hits = {model: sum(correct(model, n) for n in range(ITEMS)) for model in ACCURACY}
    assert {m: summarised[("hit", m)]["passed"] for m in ACCURACY} == expected_hits
    wins = {p["subject"]: p for p in scores["pairwise"]}
    strong_wins = sum(correct("strong", n) and not correct("weak", n) for n in range(ITEMS))
    assert wins["strong"]["wins"] == wins["weak"]["losses"] == strong_wins
    assert wins["strong"]["comparisons"] == ITEMS and wins["strong"]["inconsistent"] == 0


async def test_rescoring_uses_the_cache_and_keeps_passes_apart(engine_deps: EngineDeps, answer_key: Path) -> None:
    with run_mock_llm(answer_key=answer_key) as mock:
        run, _ = await run_with_progress(engine_deps, quiz_spec(mock.base_url))
        first_pass = UUID(run.summary["scores"]["pass_id"])
        before = len(mock.ground_truth())
        record, spec, pass_id = await prepare_rescoring(engine_deps, run.id, None, PassTrigger.CLI, "test")
        again = await ScoringPass(engine_deps, record, spec, pass_id).execute()
        sent_again = len(mock.ground_truth()) - before
    assert sent_again == 0  # neither the models under test nor the judge were called
    assert again.status is PassState.COMPLETED
    assert (again.counters.judge_calls, again.counters.judge_cached) == (0, ITEMS * 2 + ITEMS * 2)
    old, new = await score_rows(engine_deps, run.id, first_pass), await score_rows(engine_deps, run.id, pass_id)
    key = lambda r: (r["item_id"], r["model"], r["evaluator"], r["counterpart"], r["passed"], r["value"])  # noqa: E731
    assert sorted(map(key, old)) == sorted(map(key, new))
    assert all(r["judge_cached"] for r in new if r["evaluator"] in ("judged",))
    async with engine_deps.pg.acquire() as conn:
        passes = await scoring_passes.passes_of_run(conn, run.id)
        current = await scoring_passes.current_passes(conn, [run.id])
    assert [p.id for p in passes] == [pass_id, first_pass] and current[run.id].id == pass_id


async def test_rescoring_with_new_evaluators_sends_nothing(engine_deps: EngineDeps, answer_key: Path) -> None:
    with run_mock_llm(answer_key=answer_key) as mock:
        spec = quiz_spec(mock.base_url, evaluators=[{"type": "contains", "value": "ans"}])
        spec.pop("judges")
        run, _ = await run_with_progress(engine_deps, spec)
        before = len(mock.ground_truth())
        evaluators = {"evaluators": [{"type": "not-contains", "value": "know", "name": "knows"},
                                     {"type": "regex", "value": "ans[0-9]+", "name": "names-an-answer"}]}
        record, new_spec, pass_id = await prepare_rescoring(engine_deps, run.id, evaluators, PassTrigger.CLI, None)
        finished = await ScoringPass(engine_deps, record, new_spec, pass_id).execute()
        assert len(mock.ground_truth()) == before
    rows = await score_rows(engine_deps, run.id, pass_id)
    assert {r["evaluator"] for r in rows} == {"knows", "names-an-answer", "overall"}
    for row in rows:
        n = int(row["item_id"][1:])
        assert row["passed"] == correct(row["model"], n), row
    assert finished.evaluators["evaluators"][0]["type"] == "not-contains"


async def test_bad_evaluators_are_listed_before_a_pass_exists(engine_deps: EngineDeps, answer_key: Path) -> None:
    with run_mock_llm(answer_key=answer_key) as mock:
        spec = quiz_spec(mock.base_url, evaluators=[{"type": "contains", "value": "x"}])
        spec.pop("judges")
        run, _ = await run_with_progress(engine_deps, spec)
    bad = {"evaluators": [{"type": "containz", "value": "x"}, {"type": "regex", "value": "("}]}
    with pytest.raises(SpecError) as raised:
        await prepare_rescoring(engine_deps, run.id, bad, PassTrigger.CLI, None)
    assert any(p.startswith("evaluators[0].type") for p in raised.value.problems)
    assert any(p.startswith("evaluators[1].value") for p in raised.value.problems)
    async with engine_deps.pg.acquire() as conn:
        assert len(await scoring_passes.passes_of_run(conn, run.id)) == 1  # only the run's own


async def test_malformed_verdicts_are_judge_errors_never_passes(engine_deps: EngineDeps, answer_key: Path) -> None:
    with run_mock_llm(answer_key=answer_key) as mock:
        spec = quiz_spec(mock.base_url, judge="mock-llm?judge=true&judge_malformed_rate=1&ttft_ms=1&gap_ms=0",
                         evaluators=[{"type": "llm-rubric", "name": "judged", "value": "Correct?"}],
                         evaluation={"judge_max_attempts": 2})
        run, _ = await run_with_progress(engine_deps, spec)
    scores = run.summary["scores"]
    rows = await score_rows(engine_deps, run.id, scores["pass_id"])
    judged = [r for r in rows if r["evaluator"] == "judged"]
    assert len(judged) == 24 and all(r["label"] == "judge_error" and not r["passed"] for r in judged)
    assert all(not r["passed"] for r in rows if r["evaluator"] == "overall")
    asked = sum(1 if correct("strong", n) == correct("weak", n) else 2 for n in range(ITEMS))  # distinct calls
    assert scores["judge"]["errors"] == 24 and scores["judge"]["calls"] == 2 * asked  # each asked twice
    total = next(e for e in scores["evaluators"] if e["evaluator"] == "judged" and e["group"] is None)
    assert (total["judge_errors"], total["passed"]) == (24, 0)


async def test_a_position_biased_judge_is_inconsistent_not_a_win(engine_deps: EngineDeps, answer_key: Path) -> None:
    with run_mock_llm(answer_key=answer_key) as mock:
        spec = quiz_spec(mock.base_url, judge="mock-llm?judge=true&judge_bias=first&ttft_ms=1&gap_ms=0",
                         evaluators=[{"type": "pairwise", "name": "preferred", "value": "Better?"}])
        run, _ = await run_with_progress(engine_deps, spec)
    [strong, weak] = sorted(run.summary["scores"]["pairwise"], key=lambda p: p["subject"])
    assert strong["inconsistent"] == weak["inconsistent"] == ITEMS
    assert strong["wins"] == strong["losses"] == 0 and strong["win_rate"] == 0.5


async def test_judge_calibration_against_human_labels(engine_deps: EngineDeps, answer_key: Path) -> None:
    # Humans label the strong model's answers; three labels are deliberately wrong.
    truth = {n: correct("strong", n) for n in range(ITEMS)}
    flipped = {0, 1, 2}
    labels = {n: (not truth[n]) if n in flipped else truth[n] for n in range(ITEMS)}
    with run_mock_llm(answer_key=answer_key) as mock:
        spec = quiz_spec(mock.base_url, labels=labels,
                         evaluators=[{"type": "llm-rubric", "name": "judged", "value": "Correct?"}])
        spec["models"] = [m for m in spec["models"] if m["name"] == "strong"]
        run, _ = await run_with_progress(engine_deps, spec)
    [report] = run.summary["scores"]["calibration"]
    # The judge agrees with the truth, so it disagrees with the humans exactly on the flipped items.
    human = [labels[n] for n in range(ITEMS)]
    judge = [truth[n] for n in range(ITEMS)]
    agree = sum(h == j for h, j in zip(human, judge, strict=True)) / ITEMS
    p_yes = (sum(human) / ITEMS) * (sum(judge) / ITEMS)
    p_no = (1 - sum(human) / ITEMS) * (1 - sum(judge) / ITEMS)
    kappa = (agree - (p_yes + p_no)) / (1 - (p_yes + p_no))
    assert report["labelled"] == ITEMS and report["accuracy"] == pytest.approx(agree)
    assert report["kappa"] == pytest.approx(kappa) and report["pearson_r"] is None


async def test_judge_calls_are_retried_on_provider_errors(engine_deps: EngineDeps, answer_key: Path) -> None:
    # The judge answers 429 to the first attempt of every verdict; the retry policy sends it again.
    judge = "mock-llm?judge=true&fault=429&fault_times=1&retry_after_s=0&ttft_ms=1&gap_ms=0"
    with run_mock_llm(answer_key=answer_key) as mock:
        spec = quiz_spec(mock.base_url, judge=judge,
                         evaluators=[{"type": "llm-rubric", "name": "judged", "value": "Correct?"}])
        run, _ = await run_with_progress(engine_deps, spec)
        judge_records = [r for r in mock.ground_truth() if r["request_id"].startswith("judge-")]
    scores = run.summary["scores"]
    asked = sum(1 if correct("strong", n) == correct("weak", n) else 2 for n in range(ITEMS))  # distinct calls
    assert scores["judge"] == {"calls": 2 * asked, "cached": 24 - asked, "errors": 0, "cost_usd": 0.0}
    assert len(judge_records) == 2 * asked and len({r["request_id"] for r in judge_records}) == asked
    rows = await score_rows(engine_deps, run.id, scores["pass_id"])
    for row in rows:
        if row["evaluator"] == "judged":
            assert row["passed"] == correct(row["model"], int(row["item_id"][1:])), row
