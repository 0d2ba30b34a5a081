"""Scores through the GraphQL API: a run's scoring pass, request scores, scoreRun, compareRuns, leaderboard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import asyncpg
from starlette.testclient import TestClient

from tests.helpers.graphql import data, error_codes, gql, subscribe
from tests.helpers.mock_llm import MockLLM, run_mock_llm
from tests.helpers.polling import wait_until
from tests.helpers.quiz import ACCURACY, ITEMS, answer_key, correct, quiz_spec
from tests.test_api_runs import store_experiment

__all__ = ["answer_key"]  # a fixture

START = "mutation($id: ID!) { startRun(input: {experimentId: $id}) { run { id } } }"
PROGRESS = "subscription($id: ID!) { runProgress(runId: $id) { status phase scored scoringTotal } }"
SCORING = """query($id: ID!) { run(id: $id) { status summary
  scoring { id status trigger scoredRequests judgeCalls judgeCachedCalls judgeErrors
    scores { evaluator scoreName model params count passed passRate passRateLow passRateHigh mean meanLow meanHigh }
    pairwise { evaluator subject counterpart comparisons wins ties losses inconsistent winRate }
    calibration { evaluator labelled accuracy kappa } }
  scoringPasses { id status trigger }
  requests(first: 100) { edges { node { itemId model scores { evaluator type name value passed label reason
    judgeModel } } } } } }"""
SCORE_RUN = """mutation($id: ID!, $yaml: String) { scoreRun(input: {runId: $id, evaluatorsYaml: $yaml}) {
  scoringPass { id status trigger } } }"""


def run_quiz(client: TestClient, experiment: str) -> str:
    run_id = data(client, START, id=experiment)["startRun"]["run"]["id"]
    events = subscribe(client, PROGRESS, id=run_id)
    assert events[-1]["data"]["runProgress"]["status"] == "COMPLETED"
    phases = [event["data"]["runProgress"]["phase"] for event in events]
    assert phases[-1] == "ended"
    return run_id


def scoring_of(client: TestClient, run_id: str) -> dict[str, Any]:
    return data(client, SCORING, id=run_id)["run"]


async def quiz_experiment(pg: asyncpg.Connection, mock: MockLLM, **extra: Any) -> str:
    return await store_experiment(pg, quiz_spec(mock.base_url, **extra))


async def test_a_scored_run_through_the_api(client: TestClient, pg: asyncpg.Connection, answer_key: Path) -> None:
    with run_mock_llm(answer_key=answer_key) as mock:
        run_id = run_quiz(client, await quiz_experiment(pg, mock))
    run = scoring_of(client, run_id)
    scoring = run["scoring"]
    assert (scoring["status"], scoring["trigger"], scoring["scoredRequests"]) == ("completed", "run", 24)
    distinct = sum(1 if correct("strong", n) == correct("weak", n) else 2 for n in range(ITEMS))
    assert scoring["judgeCalls"] == 2 * distinct and scoring["judgeCachedCalls"] == 48 - 2 * distinct
    assert scoring["judgeErrors"] == 0
    overall = {s["model"]: s for s in scoring["scores"] if s["evaluator"] == "overall"}
    for model in ACCURACY:
        right = sum(correct(model, n) for n in range(ITEMS))
        assert (overall[model]["count"], overall[model]["passed"]) == (ITEMS, right)
        assert overall[model]["passRateLow"] <= right / ITEMS <= overall[model]["passRateHigh"]
        assert overall[model]["params"] == {"max_tokens": 16}
    assert overall[None]["count"] == 24  # the whole run
    for edge in run["requests"]["edges"]:
        node = edge["node"]
        right = correct(node["model"], int(node["itemId"][1:]))
        scores = {(s["evaluator"], s["name"]): s for s in node["scores"]}
        assert scores[("hit", "hit")]["passed"] is right and scores[("overall", "overall")]["passed"] is right
        assert scores[("judged", "judged")]["judgeModel"] == "grader" and scores[("judged", "judged")]["reason"]
        assert scores[("preferred", "preferred")]["label"] in ("win", "tie", "loss")
    assert run["summary"]["scores"]["pass_id"] == scoring["id"]
    assert [g["params"] for g in run["summary"]["groups"]] == [{"max_tokens": 16}] * 2


async def test_score_run_again_with_new_evaluators(client: TestClient, pg: asyncpg.Connection,
                                                   answer_key: Path) -> None:
    with run_mock_llm(answer_key=answer_key) as mock:
        run_id = run_quiz(client, await quiz_experiment(pg, mock))
        sent = len(mock.ground_truth())
        new = data(client, SCORE_RUN, id=run_id, yaml="evaluators:\n  - {type: contains, value: ans, name: hit}\n")
        assert new["scoreRun"]["scoringPass"]["trigger"] == "api"
        pass_id = new["scoreRun"]["scoringPass"]["id"]
        wait_until(lambda: scoring_of(client, run_id)["scoring"]["id"] == pass_id, "the new pass to complete")
        assert len(mock.ground_truth()) == sent  # nothing sent to the models, nor to the judge
    run = scoring_of(client, run_id)
    assert [p["status"] for p in run["scoringPasses"]] == ["completed", "completed"]
    assert {s["evaluator"] for s in run["scoring"]["scores"]} == {"hit", "overall"}
    by_model = {s["model"]: s for s in run["scoring"]["scores"] if s["evaluator"] == "hit" and s["model"]}
    assert {m: by_model[m]["passed"] for m in ACCURACY} == {
        m: sum(correct(m, n) for n in range(ITEMS)) for m in ACCURACY}
    # The old pass is still there, whole.
    old = [p["id"] for p in run["scoringPasses"] if p["id"] != pass_id][0]
    old_pass = data(client, "query($id: ID!, $p: String) { run(id: $id) { scoring(passId: $p) { id scores "
                            "{ evaluator } } } }", id=run_id, p=old)["run"]["scoring"]
    assert {s["evaluator"] for s in old_pass["scores"]} == {"hit", "judged", "overall"}


async def test_score_run_refuses_bad_input_and_running_runs(client: TestClient, pg: asyncpg.Connection,
                                                            answer_key: Path) -> None:
    with run_mock_llm(answer_key=answer_key) as mock:
        run_id = run_quiz(client, await quiz_experiment(pg, mock))
    body = gql(client, SCORE_RUN, id=run_id, yaml="evaluators:\n  - {type: containz, value: x}\n")
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "evaluators[0].type" in body["errors"][0]["message"] and "contains" in body["errors"][0]["message"]
    assert [p["status"] for p in scoring_of(client, run_id)["scoringPasses"]] == ["completed"]


async def test_compare_runs_compares_scores_on_shared_cells(client: TestClient, pg: asyncpg.Connection,
                                                            answer_key: Path) -> None:
    with run_mock_llm(answer_key=answer_key) as mock:
        runs = {}
        for model in ACCURACY:
            spec = quiz_spec(mock.base_url, evaluators=[{"type": "icontains", "value": "{{expected_output}}",
                                                         "name": "hit"}])
            spec["name"] = f"quiz-{model}"
            spec["models"] = [m for m in spec["models"] if m["name"] == model]
            spec.pop("judges")
            runs[model] = run_quiz(client, await store_experiment(pg, spec))
    result = data(client, """query($a: ID!, $b: ID!) { compareRuns(baseline: $a, candidate: $b) { scores {
        evaluator scoreName sharedCells baselinePassRate candidatePassRate passedBeforeOnly passedAfterOnly
        mcnemarP meanDelta meanDeltaLow meanDeltaHigh verdict pairedOn } } }""", a=runs["strong"], b=runs["weak"])
    hit = {row["evaluator"]: row for row in result["compareRuns"]["scores"]}["hit"]
    strong = [correct("strong", n) for n in range(ITEMS)]
    weak = [correct("weak", n) for n in range(ITEMS)]
    assert hit["sharedCells"] == ITEMS and "model" not in hit["pairedOn"]  # a new model pairs with the old
    assert hit["passedBeforeOnly"] == sum(s and not w for s, w in zip(strong, weak, strict=True))
    assert hit["passedAfterOnly"] == sum(w and not s for s, w in zip(strong, weak, strict=True))
    assert hit["baselinePassRate"] == sum(strong) / ITEMS and hit["candidatePassRate"] == sum(weak) / ITEMS
    assert hit["meanDelta"] == (sum(weak) - sum(strong)) / ITEMS
    assert hit["meanDeltaLow"] <= hit["meanDelta"] <= hit["meanDeltaHigh"]


async def test_the_leaderboard_ranks_models_by_quality(client: TestClient, pg: asyncpg.Connection,
                                                       answer_key: Path) -> None:
    with run_mock_llm(answer_key=answer_key) as mock:
        experiment = await quiz_experiment(pg, mock)
        run_quiz(client, experiment)
    project = data(client, "query($id: ID!) { node(id: $id) { ... on Experiment { project { id } } } }",
                   id=experiment)["node"]["project"]["id"]
    board = data(client, """query($p: ID!, $e: ID!) { leaderboard(projectId: $p, experimentId: $e) { by evaluator
        rows { rank subject requests scoreCount scoreMean scoreLow scoreHigh passRate ttftP50Ms ttftP50Low
        ttftP50High ttftP95Ms e2eP50Ms e2eP95Ms costPer1kUsd costPer1kLow costPer1kHigh } } }""",
                 p=project, e=experiment)["leaderboard"]
    rows = board["rows"]
    assert [row["subject"] for row in rows] == ["strong", "weak"] and [row["rank"] for row in rows] == [1, 2]
    for row in rows:
        right = sum(correct(row["subject"], n) for n in range(ITEMS))
        assert row["scoreCount"] == row["requests"] == ITEMS
        assert row["passRate"] == right / ITEMS
        assert row["scoreLow"] <= row["scoreMean"] <= row["scoreHigh"]
        assert row["ttftP50Low"] <= row["ttftP50Ms"] <= row["ttftP50High"]
        assert row["costPer1kUsd"] is None  # the mock's models have no price
