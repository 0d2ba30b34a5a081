"""Every operation in schema/examples/ works as documented, in the order a new user would run them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from tests.helpers.graphql import data, subscribe
from tests.helpers.mock_llm import run_mock_llm
from tests.helpers.polling import wait_until

EXAMPLES = Path(__file__).resolve().parent.parent / "schema" / "examples"


def example(name: str) -> str:
    return (EXAMPLES / f"{name}.graphql").read_text()


def smoke_spec(base_url: str) -> dict[str, Any]:
    return {"name": "smoke", "providers": [{"name": "local", "type": "openai", "api_base": base_url}],
            "models": [{"name": "small", "provider": "local", "model": "mock-llm"}],
            "prompts": [{"name": "qa", "messages": [{"role": "user", "content": "{{question}}"}]}],
            "dataset": {"name": "qs", "items": [{"vars": {"question": "What is 2+2?"}},
                                                {"vars": {"question": "And 3+3?"}}]},
            "params": {"max_tokens": 64}, "repetitions": 5}


def test_examples_run_end_to_end(client: TestClient) -> None:
    used: set[str] = set()

    def run(example_name: str, /, **variables: Any) -> dict[str, Any]:
        used.add(example_name)
        return data(client, example(example_name), **variables)

    with run_mock_llm(ttft_ms=10, gap_ms=1, output_tokens=4) as mock:
        project = run("create_project", slug="chatbot", name="Chatbot latency")["createProject"]["project"]
        experiment = run("create_experiment", projectId=project["id"],
                         spec=smoke_spec(mock.base_url))["createExperiment"]["experiment"]
        assert experiment["datasetVersion"] == {"version": 1, "itemCount": 2}
        run_ids = []
        for _ in range(2):
            started = run("start_run", experimentId=experiment["id"])["startRun"]["run"]
            used.add("subscribe_run_progress")
            events = subscribe(client, example("subscribe_run_progress"), runId=started["id"])
            assert events[0]["data"]["runProgress"]["snapshot"] is True
            assert events[-1]["data"]["runProgress"]["status"] == "COMPLETED"
            run_ids.append(started["id"])
    results = run("run_results", runId=run_ids[0])["run"]
    assert results["status"] == "COMPLETED" and results["metrics"]["count"] == [10]
    assert len(results["requests"]["nodes"]) == 5 and results["requests"]["totalCount"] == 10
    assert results["requests"]["pageInfo"]["hasNextPage"] is True
    comparison = run("compare_runs", baseline=run_ids[0], candidate=run_ids[1])["compareRuns"]
    assert comparison["metric"] == ["TTFT", "TPOT", "E2E"]
    assert all(v in ("faster", "slower", "no_difference", "insufficient_data") for v in comparison["verdict"])
    evaluators = "evaluators:\n  - {type: contains, value: tok, name: has-tokens}\n"
    scoring = run("score_run", runId=run_ids[0], evaluators=evaluators)["scoreRun"]["scoringPass"]
    wait_until(lambda: run("run_scores", runId=run_ids[0], passId=scoring["id"])["run"]["scoring"]["status"]
               == "completed", "the scoring pass")
    scored = run("run_scores", runId=run_ids[0])["run"]
    assert scored["scoring"]["id"] == scoring["id"] and scored["scoring"]["scoredRequests"] == 10
    whole_run = [s for s in scored["scoring"]["scores"] if s["evaluator"] == "has-tokens" and s["model"] is None]
    assert whole_run[0]["passRate"] == 1.0  # the mock answers "tok0 tok1 ..."
    assert all(s["passed"] for node in scored["requests"]["nodes"] for s in node["scores"])
    board = run("leaderboard", projectId=project["id"], experimentId=experiment["id"])["leaderboard"]
    assert [row["subject"] for row in board["rows"]] == ["small"] and board["rows"][0]["scoreMean"] == 1.0
    link = run("export_run", runId=run_ids[0])["createExport"]
    client.cookies.clear()  # the link is the credential
    exported = client.get(link["url"])
    assert exported.status_code == 200 and len(exported.text.splitlines()) == 11  # a header row and 10 requests
    assert used == {p.stem for p in EXAMPLES.glob("*.graphql")}, "every example must be exercised"
