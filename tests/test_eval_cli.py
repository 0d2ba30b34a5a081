"""`benchlab run` with evaluators and `benchlab eval` as a user runs them: tables, JSON, exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.helpers.mock_llm import run_mock_llm
from tests.helpers.quiz import ACCURACY, ITEMS, answer_key, correct, quiz_spec
from tests.helpers.server_process import run_cli

__all__ = ["answer_key"]  # a fixture


def test_run_shows_scores_and_eval_rescores_without_sending(tmp_path: Path, answer_key: Path) -> None:
    env = {"BENCHLAB_DATA_DIR": str(tmp_path / "data")}
    with run_mock_llm(answer_key=answer_key) as mock:
        spec = tmp_path / "quiz.yaml"
        spec.write_text(yaml.safe_dump(quiz_spec(mock.base_url, params={"max_tokens": 16, "temperature": 0.7})))
        ran = run_cli(["run", str(spec)], env, timeout=240)
        assert ran.returncode == 0, ran.stderr
        sent = len(mock.ground_truth())
        evaluators = tmp_path / "evaluators.yaml"
        evaluators.write_text("evaluators:\n  - {type: icontains, value: '{{expected_output}}', name: hit}\n")
        run_id = ran.stdout.split()[1].rstrip(":")
        rescored = run_cli(["eval", run_id, "--evaluators", str(evaluators), "--json"], env, timeout=240)
        assert len(mock.ground_truth()) == sent  # re-scoring sends nothing
    assert "temperature=0.7" in ran.stdout and "max_tokens=16" in ran.stdout  # parameter sets by their values
    assert "scores (pass " in ran.stdout and "judged" in ran.stdout and "pairwise" in ran.stdout
    assert rescored.returncode == 0, rescored.stderr
    report = json.loads(rescored.stdout)
    assert report["status"] == "completed" and report["scoredRequests"] == 2 * ITEMS
    hits = {e["group"]["model"]: e["passed"] for e in report["scores"]["evaluators"]
            if e["evaluator"] == "hit" and e["group"]}
    assert hits == {model: sum(correct(model, n) for n in range(ITEMS)) for model in ACCURACY}


def test_eval_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    env = {"BENCHLAB_DATA_DIR": str(tmp_path / "data")}
    evaluators = tmp_path / "evaluators.yaml"
    evaluators.write_text("evaluators:\n  - {type: regex, value: '('}\n")
    result = run_cli(["eval", "00000000-0000-0000-0000-000000000001", "--evaluators", str(evaluators)], env,
                     timeout=120)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
    missing = run_cli(["eval", "00000000-0000-0000-0000-000000000001", "--evaluators", str(tmp_path / "nope.yaml")],
                      env, timeout=60)
    assert missing.returncode == 2 and "cannot read" in missing.stderr


def test_the_readme_quality_example_runs_as_written(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parent.parent
    with run_mock_llm(answer_key=repo / "examples" / "answers.jsonl") as mock:
        spec = yaml.safe_load((repo / "examples" / "eval-experiment.yaml").read_text())
        assert spec["providers"][0]["api_base"] == "http://127.0.0.1:8100/v1"  # what the README starts
        spec["providers"][0]["api_base"] = mock.base_url
        path = tmp_path / "eval-experiment.yaml"
        path.write_text(yaml.safe_dump(spec))
        result = run_cli(["run", str(path), "--json"], {"BENCHLAB_DATA_DIR": str(tmp_path / "data")}, timeout=240)
    assert result.returncode == 0, result.stderr
    scores = json.loads(result.stdout)["summary"]["scores"]
    assert scores["status"] == "completed" and scores["judge"]["errors"] == 0
    evaluators = {e["evaluator"] for e in scores["evaluators"]}
    assert evaluators == {"mentions-answer", "similar", "fast-enough", "correct", "not-icontains", "overall"}
    assert {p["subject"] for p in scores["pairwise"]} == {"strong", "weak"}
    [calibration] = scores["calibration"]
    assert calibration["evaluator"] == "correct" and calibration["labelled"] == 4  # 2 labelled items x 2 models
