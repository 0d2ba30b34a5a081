"""`benchlab run` and `benchlab eval` through a server (issue 12, item 1): a real `benchlab serve` process, the
CLI as a process with nothing but a URL and an API key, and the CLI on the data dir of a running server.

One embedded server serves the module; its project and keys are made through the API as the local admin
(the token `serve` wrote to its data dir), as a fresh install would without a browser.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
import yaml

from benchlab.client.local_server import read_server_file
from benchlab.commands.run import format_summary
from benchlab.mockllm.process import MockLLM
from tests.helpers.cli_process import SIGINT_STATUS, CliProcess
from tests.helpers.engine import mock_spec
from tests.helpers.mock_llm import run_mock_llm
from tests.helpers.server_process import ServerProcess, free_port, run_cli

UUID_TEXT = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
JSON_KEYS = {"runId", "status", "error", "completedRequests", "failedRequests", "clientSaturated", "selfMeasurement",
             "summary"}


@dataclass
class Served:
    server: ServerProcess
    mock: MockLLM
    data_dir: Path
    token: str          # the local CLI token of server.json
    key: str            # an admin key of project `ci`
    other_key: str      # an admin key of project `other`

    def graphql(self, credential: str, query: str, **variables: Any) -> dict[str, Any]:
        response = httpx.post(f"{self.server.base_url}/graphql", json={"query": query, "variables": variables},
                              headers={"Authorization": f"Bearer {credential}"}, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def env(self, client_dir: Path, **extra: str) -> dict[str, str]:
        """A CI machine's environment: an empty data dir (which must stay empty), no database URL."""
        client_dir.mkdir(parents=True, exist_ok=True)
        return {"BENCHLAB_DATA_DIR": str(client_dir), **extra}


def _make_key(served_graphql: Any, token: str, slug: str) -> str:
    project = served_graphql(token, "mutation($s: String!) { createProject(input: {slug: $s, name: $s}) "
                                    "{ project { id } } }", s=slug)["data"]["createProject"]["project"]["id"]
    created = served_graphql(token, "mutation($p: ID!) { createApiKey(input: {projectId: $p, name: \"ci\", "
                                    "role: ADMIN}) { secret } }", p=project)
    return str(created["data"]["createApiKey"]["secret"])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("cli-server")
    data_dir = root / "data"
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=6) as mock, \
            ServerProcess({"BENCHLAB_DATA_DIR": str(data_dir)}, port=free_port()) as server:
        server.wait_ready(timeout=180)
        local = read_server_file(data_dir)
        assert local is not None and local.token and local.url == server.base_url, server.output
        served = Served(server, mock, data_dir, local.token, "", "")
        served.key = _make_key(served.graphql, local.token, "ci")
        served.other_key = _make_key(served.graphql, local.token, "other")
        yield served
    assert not (data_dir / "server.json").exists(), "a cleanly stopped server removes its server.json"


def write_spec(path: Path, spec: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(spec))
    return path


def ci_spec(served: Served, **extra: Any) -> dict[str, Any]:
    spec = mock_spec(served.mock.base_url, items=3, repetitions=2, **extra)
    spec["project"] = "ci"
    return spec


def run_id_of(stdout: str) -> str:
    first = stdout.splitlines()[0]
    assert first.startswith("run ") and ": " in first, stdout
    return first.split()[1].rstrip(":")


def global_id(run_id: str) -> str:
    return base64.urlsafe_b64encode(f"Run:{run_id}".encode()).decode().rstrip("=")


def test_run_through_the_server_prints_the_local_summary(served: Served, tmp_path: Path) -> None:
    client_dir = tmp_path / "client-data"
    items = tmp_path / "spec" / "items.jsonl"
    items.parent.mkdir(parents=True)
    items.write_text("".join(json.dumps({"id": f"f{n}", "vars": {"topic": f"file topic {n}"}}) + "\n"
                             for n in range(3)))
    spec = ci_spec(served, name="through-server")
    spec["dataset"] = {"name": "from-file", "file": "items.jsonl"}  # read here, sent inline
    path = write_spec(tmp_path / "spec" / "spec.yaml", spec)
    result = run_cli(["run", str(path), "--server", served.server.base_url],
                     served.env(client_dir, BENCHLAB_API_KEY=served.key), timeout=180)
    assert result.returncode == 0, result.stderr
    run_id = run_id_of(result.stdout)
    assert result.stdout.startswith(f"run {run_id}: completed\n")
    assert "6/6" in result.stderr and f"run {run_id} started on {served.server.base_url}" in result.stderr
    assert list(client_dir.iterdir()) == [], "nothing local is touched"
    stored = served.graphql(served.key, "query($id: ID!) { run(id: $id) { status summary selfMeasurement error "
                                        "experiment { spec } } }", id=run_id)["data"]["run"]
    assert stored["experiment"]["spec"]["dataset"]["items"][0]["id"] == "f0"
    expected = format_summary(UUID(run_id), "completed", stored["summary"], stored["selfMeasurement"], None)
    assert result.stdout == expected + "\n"  # exactly what the local command prints
    [group] = stored["summary"]["groups"]
    assert group["requests"] == group["succeeded"] == 6

    # Again, by BENCHLAB_SERVER_URL and with --json: the same experiment (updated by name), a new run.
    again = run_cli(["run", str(path), "--json"], served.env(client_dir, BENCHLAB_API_KEY=served.key,
                                                             BENCHLAB_SERVER_URL=served.server.base_url + "/graphql"),
                    timeout=180)
    assert again.returncode == 0, again.stderr
    report = json.loads(again.stdout)
    assert set(report) == JSON_KEYS and report["status"] == "completed" and report["runId"] != run_id
    assert report["completedRequests"] == 6 and report["failedRequests"] == 0
    assert report["summary"]["groups"][0]["requests"] == 6 and "loop_lag_ms" in report["selfMeasurement"]
    assert list(client_dir.iterdir()) == []


def test_credentials_and_servers_that_do_not_work_exit_2(served: Served, tmp_path: Path) -> None:
    path = write_spec(tmp_path / "spec.yaml", ci_spec(served))
    client_dir = tmp_path / "client-data"
    url = served.server.base_url

    bad = run_cli(["run", str(path), "--server", url], served.env(client_dir, BENCHLAB_API_KEY="blk_nope"))
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith(f"benchlab: error: {url} refused the credential: malformed API key"), bad.stderr

    missing = run_cli(["run", str(path), "--server", url], served.env(client_dir))
    assert missing.returncode == 2 and "BENCHLAB_API_KEY is not set" in missing.stderr

    other = run_cli(["run", str(path), "--server", url], served.env(client_dir, BENCHLAB_API_KEY=served.other_key))
    assert other.returncode == 2
    assert "the API key is for project 'other', but the spec's project is 'ci'" in other.stderr

    nobody = run_cli(["run", str(path), "--server", f"http://127.0.0.1:{free_port()}"],
                     served.env(client_dir, BENCHLAB_API_KEY=served.key))
    assert nobody.returncode == 2 and "benchlab: error: no server at http://127.0.0.1:" in nobody.stderr

    invalid = ci_spec(served)
    invalid["repetitions"] = 0
    refused = run_cli(["run", str(write_spec(tmp_path / "bad.yaml", invalid)), "--server", url],
                      served.env(client_dir, BENCHLAB_API_KEY=served.key))
    assert refused.returncode == 2 and "invalid experiment spec: 1 problem\n  repetitions" in refused.stderr

    # The server's own refusals keep their problems, one a line, like a local spec error.
    from_env = ci_spec(served, name="env-key")
    from_env["providers"][0]["api_key_env"] = "SOME_KEY"
    server_side = run_cli(["run", str(write_spec(tmp_path / "env.yaml", from_env)), "--server", url],
                          served.env(client_dir, BENCHLAB_API_KEY=served.key, SOME_KEY="x"))
    assert server_side.returncode == 2
    assert "invalid experiment spec: 1 problem\n  providers[0].api_key_env: not accepted through the API" in \
        server_side.stderr
    assert list(client_dir.iterdir()) == []


def test_eval_through_the_server_and_both_run_id_forms(served: Served, tmp_path: Path) -> None:
    client_dir = tmp_path / "client-data"
    env = served.env(client_dir, BENCHLAB_API_KEY=served.key, BENCHLAB_SERVER_URL=served.server.base_url)
    spec = ci_spec(served, name="scored", evaluators=[{"type": "regex", "value": ".", "name": "any-text"}])
    ran = run_cli(["run", str(write_spec(tmp_path / "spec.yaml", spec))], env, timeout=180)
    assert ran.returncode == 0, ran.stderr
    assert "scores (pass " in ran.stdout and "any-text" in ran.stdout
    run_id = run_id_of(ran.stdout)

    # The API takes the UUID the CLI printed and the global id alike; another type's global id is refused.
    by_uuid = served.graphql(served.key, "query($id: ID!) { run(id: $id) { id status } }", id=run_id)["data"]["run"]
    by_global = served.graphql(served.key, "query($id: ID!) { run(id: $id) { id status } }",
                               id=by_uuid["id"])["data"]["run"]
    assert by_uuid == by_global and by_uuid["id"] == global_id(run_id) and by_uuid["status"] == "COMPLETED"
    experiment = served.graphql(served.key, "query($id: ID!) { run(id: $id) { experiment { id } } }",
                                id=run_id)["data"]["run"]["experiment"]["id"]
    wrong = served.graphql(served.key, "query($id: ID!) { run(id: $id) { id } }", id=experiment)
    assert "expected the id of a Run, got the id of an Experiment" in wrong["errors"][0]["message"]

    evaluators = tmp_path / "evaluators.yaml"
    evaluators.write_text("evaluators:\n  - {type: icontains, value: 'zzz-not-there', name: never}\n")
    scored = run_cli(["eval", global_id(run_id), "--evaluators", str(evaluators), "--json"], env, timeout=180)
    assert scored.returncode == 0, scored.stderr
    report = json.loads(scored.stdout)
    assert report["runId"] == run_id and report["status"] == "completed" and report["scoredRequests"] == 6
    assert report["scores"]["pass_id"] == report["passId"]
    never = [e for e in report["scores"]["evaluators"] if e["evaluator"] == "never" and e["group"] is None]
    assert never and never[0]["pass_rate"] == 0
    table = run_cli(["eval", run_id], env, timeout=180)
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith("scores (pass ") and "any-text" in table.stdout
    assert f"scoring run {run_id} (pass " in table.stderr
    assert list(client_dir.iterdir()) == []


def test_run_and_eval_submit_to_the_serve_holding_the_data_dir(served: Served, tmp_path: Path) -> None:
    server_file = served.data_dir / "server.json"
    assert stat.S_IMODE(server_file.stat().st_mode) == 0o600  # it holds the local token
    env = {"BENCHLAB_DATA_DIR": str(served.data_dir)}  # as in the README: no --server, no key
    spec = mock_spec(served.mock.base_url, items=2, name="local-submit")  # project `tests`: created as needed
    ran = run_cli(["run", str(write_spec(tmp_path / "spec.yaml", spec))], env, timeout=180)
    assert ran.returncode == 0, ran.stderr
    assert "in the benchlab serve holding the data dir" in ran.stderr and "in use" not in ran.stderr
    run_id = run_id_of(ran.stdout)
    assert ran.stdout.startswith(f"run {run_id}: completed\n") and "TTFT p50" in ran.stdout
    resumed = run_cli(["run", "--resume", run_id], env)
    assert resumed.returncode == 2 and "only interrupted runs can be resumed" in resumed.stderr
    evaluated = run_cli(["eval", run_id, "--evaluators", str(_any_text(tmp_path))], env, timeout=180)
    assert evaluated.returncode == 0, evaluated.stderr
    assert served.server.process is not None and served.server.process.poll() is None, "the server was not disturbed"

    # The token is the local admin's, from this machine only; anything else starting like it is refused.
    viewer = served.graphql(served.token, "{ viewer { email isInstanceAdmin } }")
    assert viewer == {"data": {"viewer": {"email": "local-admin@localhost", "isInstanceAdmin": True}}}
    forged = served.graphql("bll_" + "x" * 43, "{ viewer { email } }")
    assert forged["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def _any_text(tmp_path: Path) -> Path:
    path = tmp_path / "evaluators.yaml"
    path.write_text("evaluators:\n  - {type: regex, value: '.', name: any-text}\n")
    return path


@pytest.mark.parametrize("signals", [1, 2])
def test_ctrl_c_cancels_in_the_server_then_stops_following(served: Served, tmp_path: Path, signals: int) -> None:
    spec = mock_spec(served.mock.base_url, items=50, repetitions=4, name=f"long-{signals}",
                     models={"slow": "mock-llm?ttft_ms=40&gap_ms=10"}, load={"profile": "concurrent", "concurrency": 2})
    spec["project"] = "ci"
    env = served.env(tmp_path / "client-data", BENCHLAB_API_KEY=served.key, BENCHLAB_SERVER_URL=served.server.base_url)
    command = CliProcess(["run", str(write_spec(tmp_path / "spec.yaml", spec))], env, tmp_path / "out")
    command.wait_until(lambda: re.search(r"\] [1-9][0-9]*/200 ", command.stderr) is not None, timeout=120,
                       what="progress")
    command.signal_group(signal.SIGINT)
    if signals == 2:  # once the first is handled: two signals sent at once may arrive as one
        command.wait_until(lambda: "cancelling in the server" in command.stderr, timeout=30, what="cancelling")
        command.signal_group(signal.SIGINT)
    status = command.wait(timeout=120)
    run_id = command.stderr.split("run ", 1)[1].split()[0]
    if signals == 1:
        assert status == 1, command.stderr
        assert command.stdout.startswith(f"run {run_id}: cancelled\n"), command.stdout
        assert "cancelling in the server" in command.stderr
    else:
        assert status == SIGINT_STATUS, command.stderr
        assert command.stdout == ""
        assert f"stopped following run {run_id}; it goes on in the server" in command.stderr
        assert f'cancelRun(id: "{run_id}")' in command.stderr
    final = _wait_ended(served, run_id)
    assert final == "CANCELLED"
    assert os.listdir(tmp_path / "client-data") == []


def _wait_ended(served: Served, run_id: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = served.graphql(served.key, "query($id: ID!) { run(id: $id) { status } }",
                                id=run_id)["data"]["run"]["status"]
        if status not in ("PENDING", "QUEUED", "RUNNING"):
            return str(status)
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not end within {timeout}s")


def test_run_id_forms_agree_between_the_api_and_the_cli() -> None:
    from benchlab.api.ids import decode_global_id, encode_global_id, expect_id
    from benchlab.client.ids import run_uuid
    from benchlab.errors import InvalidInputError

    db_id = uuid4()
    run_global = encode_global_id("Run", db_id)
    assert run_uuid(run_global) == run_uuid(str(db_id)) == expect_id(str(db_id), "Run") == expect_id(run_global, "Run")
    with pytest.raises(InvalidInputError, match="expected the id of an Experiment, got the id of a Run"):
        expect_id(run_global, "Experiment")
    with pytest.raises(InvalidInputError, match="bare UUID"):  # node(id:) has no type to take it as
        decode_global_id(str(db_id))
    with pytest.raises(ValueError, match="not a Run id"):
        run_uuid(encode_global_id("Experiment", db_id))


def test_the_local_token_is_accepted_from_this_machine_only() -> None:
    from benchlab.auth.local_cli import LocalCliCredential, is_loopback_client
    from benchlab.errors import UnauthenticatedError

    user = uuid4()
    credential = LocalCliCredential(hashlib.sha256(b"bll_secret").hexdigest(), user)
    assert credential.user_for("bll_secret", "127.0.0.1") == credential.user_for("bll_secret", "::1") == user
    assert is_loopback_client("::ffff:127.0.0.1") and not is_loopback_client(None)
    for host in ("10.0.0.7", "192.168.1.2", "::ffff:10.0.0.7", None):
        with pytest.raises(UnauthenticatedError, match="only from this machine"):
            credential.user_for("bll_secret", host)
    with pytest.raises(UnauthenticatedError, match="not the running server's"):
        credential.user_for("bll_other", "127.0.0.1")


def test_a_ci_job_gates_through_the_server(served: Served, tmp_path: Path) -> None:
    """The examples/ci workflow's commands: run, mark the baseline, run again with --gate, reports written."""
    client_dir = tmp_path / "client-data"
    env = served.env(client_dir, BENCHLAB_API_KEY=served.key, BENCHLAB_SERVER_URL=served.server.base_url)
    spec = ci_spec(served, name="gated-through-server")
    spec["dataset"]["items"] = [{"id": f"g{n}", "vars": {"topic": f"t{n}"}} for n in range(12)]
    spec["evaluators"] = [{"type": "contains", "value": "tok"}]
    spec["gates"] = [{"metric": "error_rate", "max": 0.01, "name": "errors"},
                     {"score": "overall", "min": 0.9, "regression": 0.05, "name": "quality"}]
    path = write_spec(tmp_path / "spec.yaml", spec)
    first = run_cli(["run", str(path)], env, timeout=180)
    assert first.returncode == 0, first.stderr
    baseline = run_id_of(first.stdout)
    marked = run_cli(["baseline", "set", baseline], env, timeout=60)
    assert marked.returncode == 0, marked.stderr
    gated = run_cli(["run", str(path), "--gate", "--markdown", str(tmp_path / "gates.md"), "--junit",
                     str(tmp_path / "gates.xml")], env, timeout=180)
    assert gated.returncode == 0, gated.stdout + gated.stderr
    assert "| quality" in (tmp_path / "gates.md").read_text() and "<testsuites" in (tmp_path / "gates.xml").read_text()
    candidate = run_id_of(gated.stdout)
    stored = served.graphql(served.key, "query($id: ID!) { run(id: $id) { gate { status baseline results "
                                        "{ gate verdict } } } }", id=candidate)["data"]["run"]["gate"]
    assert stored["status"] == "passed" and stored["baseline"] == "main"
    assert {r["gate"]: r["verdict"] for r in stored["results"]} == {"errors": "pass", "quality": "pass"}
    assert list(client_dir.iterdir()) == [], "nothing local is touched"


def test_the_ci_example_workflow_runs_as_written(served: Served, tmp_path: Path) -> None:
    """examples/ci/benchlab-gates.yml's own shell steps, on main then on a pull request, against a server."""
    repo = Path(__file__).resolve().parent.parent
    workflow = yaml.safe_load((repo / "examples" / "ci" / "benchlab-gates.yml").read_text())
    steps = {step.get("name"): step for step in workflow["jobs"]["gates"]["steps"]}
    checkout = tmp_path / "checkout"
    (checkout / "benchlab").mkdir(parents=True)
    spec = yaml.safe_load((repo / "examples" / "ci" / "spec.yaml").read_text())
    spec["providers"][0].update(api_base=served.mock.base_url, name="example-mock")  # `mock` is stored otherwise
    for model in spec["models"]:
        model["provider"] = "example-mock"
    spec["project"] = "ci"
    (checkout / "benchlab" / "spec.yaml").write_text(yaml.safe_dump(spec))
    summary = tmp_path / "step-summary.md"
    env = {**served.env(tmp_path / "client-data", BENCHLAB_API_KEY=served.key,
                        BENCHLAB_SERVER_URL=served.server.base_url, GITHUB_STEP_SUMMARY=str(summary)),
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}

    def step(name: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["bash", "-e", "-c", steps[name]["run"]], cwd=checkout, env={**os.environ, **env},
                              capture_output=True, text=True, timeout=300)

    main = step("Run and make it the main baseline")
    assert main.returncode == 0, main.stdout + main.stderr
    pull_request = step("Run and gate against the main baseline")
    assert pull_request.returncode == 0, pull_request.stdout + pull_request.stderr
    published = step("Publish the gate report")
    assert published.returncode == 0
    report = summary.read_text()
    assert "| ttft" in report and "| quality" in report and "| errors" in report
    assert (checkout / "gates.xml").read_text().count("<testcase") == 3
