"""`benchlab export` as a user runs it: a real run's rows exported in-process and through `benchlab serve`, read back
and compared row by row with the data dir's ClickHouse; the download link with plain httpx; exit statuses."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import yaml

from benchlab.exports.scope import ExportFormat, ExportTable
from tests.helpers.engine import mock_spec
from tests.helpers.export_rows import normal, read_back, stored_sorted
from tests.helpers.mock_llm import run_mock_llm
from tests.helpers.server_process import ServerProcess, free_port, run_cli

CREATE_EXPORT = """mutation($in: CreateExportInput!) { createExport(input: $in) { url filename contentType } }"""


def _same_rows(table: ExportTable, got: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    assert len(got) == len(expected) > 0
    for index, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
        assert normal(table, mine) == normal(table, theirs), f"row {index}"


def _graphql(url: str, key: str, query: str, **variables: Any) -> dict[str, Any]:
    body = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables},
                      headers={"Authorization": f"Bearer {key}"}, timeout=30).json()
    assert "errors" not in body, body
    return body["data"]


def test_export_in_process_and_through_a_server(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"BENCHLAB_DATA_DIR": str(data)}
    spec = mock_spec("", items=40, load={"profile": "concurrent", "concurrency": 4})
    spec["evaluators"] = [{"type": "contains", "value": "tok"}]
    spec_path = tmp_path / "spec.yaml"
    with run_mock_llm(output_tokens=4) as mock:
        spec["providers"][0]["api_base"] = mock.base_url
        spec_path.write_text(yaml.safe_dump(spec))
        ran = run_cli(["run", str(spec_path), "--json"], env, timeout=240)
    assert ran.returncode == 0, ran.stderr
    run_id = json.loads(ran.stdout)["runId"]

    # In this process (no server holds the data dir): each format, read back row by row.
    requests = stored_sorted(data, ExportTable.REQUESTS, f"run_id = '{run_id}'")
    assert len(requests) == 40
    for fmt in ExportFormat:
        out = tmp_path / f"requests.{fmt.value}"
        done = run_cli(["export", "requests", "--run", run_id, "--output", str(out)], env)
        assert done.returncode == 0, done.stderr
        assert f"to {out}" in done.stderr and not out.with_name(out.name + ".partial").exists()
        _same_rows(ExportTable.REQUESTS, read_back(fmt, out.read_bytes()), requests)
    scores_file = tmp_path / "scores.parquet"
    done = run_cli(["export", "scores", "--project", "tests", "--source", "experiment", "-o", str(scores_file)], env)
    assert done.returncode == 0, done.stderr
    _same_rows(ExportTable.SCORES, read_back(ExportFormat.PARQUET, scores_file.read_bytes()),
               stored_sorted(data, ExportTable.SCORES, f"run_id = '{run_id}'"))
    stdout = run_cli(["export", "requests", "--run", run_id, "--format", "jsonl", "--output", "-"], env)
    assert stdout.returncode == 0 and stdout.stdout.encode() == (tmp_path / "requests.jsonl").read_bytes()
    dataset_file = tmp_path / "d.jsonl"
    assert run_cli(["export", "dataset", "d", "--project", "tests", "-o", str(dataset_file)], env).returncode == 0
    items = [json.loads(line) for line in dataset_file.read_text().splitlines()]
    assert items == [{"id": f"i{n}", "vars": {"topic": f"topic {n}"}, "metadata": {}} for n in range(40)]
    reimported = run_cli(["import", "dataset", "d-local", str(dataset_file), "--project", "tests"], env)
    assert reimported.returncode == 0 and "imported 40 items into dataset 'd-local'" in reimported.stdout
    local_hash = reimported.stdout.rsplit("content hash ", 1)[1].rstrip(")\n")

    # Bad input: status 2, one line saying what is wrong, no file left behind.
    unknown = run_cli(["export", "requests", "--run", "00000000-0000-4000-8000-000000000009", "-o",
                       str(tmp_path / "none.csv")], env)
    assert unknown.returncode == 2 and "no run with id" in unknown.stderr
    assert not (tmp_path / "none.csv").exists() and not (tmp_path / "none.csv.partial").exists()
    binary = run_cli(["export", "requests", "--run", run_id, "--format", "parquet", "-o", "-"], env)
    assert binary.returncode == 2 and "Parquet is binary" in binary.stderr
    naive = run_cli(["export", "requests", "--project", "tests", "--from", "2025-01-01T00:00", "-o", "x.csv"], env)
    assert naive.returncode == 2 and "no UTC offset" in naive.stderr
    no_version = run_cli(["export", "dataset", "d", "--project", "tests", "--version", "7", "-o",
                          str(tmp_path / "v7.jsonl")], env)
    assert no_version.returncode == 2 and "has no version 7" in no_version.stderr

    # With `benchlab serve` holding the data dir, the same command goes through its API: the same bytes.
    with ServerProcess(env, port=free_port()) as server:
        server.wait_ready()
        for fmt in (ExportFormat.CSV, ExportFormat.JSONL):
            via = tmp_path / f"via.{fmt.value}"
            done = run_cli(["export", "requests", "--run", run_id, "-o", str(via)], env)
            assert done.returncode == 0, done.stderr
            assert via.read_bytes() == (tmp_path / f"requests.{fmt.value}").read_bytes()
        via_dataset = tmp_path / "via-d.jsonl"
        assert run_cli(["export", "dataset", "d", "--project", "tests", "-o", str(via_dataset)], env).returncode == 0
        assert via_dataset.read_bytes() == dataset_file.read_bytes()
        created = run_cli(["keys", "create", "--project", "tests", "--role", "member", "--quiet"], env)
        key = created.stdout.strip().splitlines()[-1]
        # --server with an API key, as a CI machine would
        remote = tmp_path / "remote.parquet"
        done = run_cli(["export", "scores", "--run", run_id, "--server", server.base_url, "-o", str(remote)],
                       {**env, "BENCHLAB_API_KEY": key})
        assert done.returncode == 0, done.stderr
        assert pq.read_table(remote).equals(pq.read_table(scores_file))
        refused = run_cli(["export", "scores", "--run", run_id, "--server", server.base_url, "-o", str(remote)],
                          {**env, "BENCHLAB_API_KEY": "blk_000000000000_wrong"})
        assert refused.returncode == 2 and "unknown API key" in refused.stderr, refused.stderr
        # The link alone, with plain httpx and no other header.
        project = _graphql(server.base_url, key, '{ project(slug: "tests") { id } }')["project"]["id"]
        link = _graphql(server.base_url, key, CREATE_EXPORT, **{"in": {
            "table": "REQUESTS", "format": "PARQUET", "projectId": project}})["createExport"]
        assert link["url"].startswith(server.base_url + "/exports/")
        downloaded = httpx.get(link["url"], timeout=60)
        assert downloaded.status_code == 200 and downloaded.headers["content-type"] == "application/vnd.apache.parquet"
        _same_rows(ExportTable.REQUESTS, pq.read_table(io.BytesIO(downloaded.content)).to_pylist(), requests)
        assert link["url"].rsplit("/", 1)[1] not in server.output, "the token never reaches the log"
        # The exported dataset imported into a new dataset: the same content.
        copy = _graphql(server.base_url, key, """mutation($p: ID!) { createDataset(input: {projectId: $p,
            name: "d-copy"}) { dataset { id } } }""", p=project)["createDataset"]["dataset"]["id"]
        imported = _graphql(server.base_url, key, """mutation($d: ID!, $t: String!) { importDatasetItems(input: {
            datasetId: $d, text: $t, format: JSONL}) { version { contentHash itemCount } } }""", d=copy,
                            t=dataset_file.read_text())["importDatasetItems"]["version"]
        datasets = _graphql(server.base_url, key, """{ project(slug: "tests") { datasets(first: 10) { nodes {
            name latestVersion { contentHash } } } } }""")["project"]["datasets"]["nodes"]
        hashes = {node["name"]: node["latestVersion"]["contentHash"] for node in datasets}
        assert imported == {"contentHash": hashes["d"], "itemCount": 40} and hashes["d-copy"] == hashes["d"]
        assert local_hash == hashes["d"] == hashes["d-local"]
        again = run_cli(["import", "dataset", "d-local", str(via_dataset), "--project", "tests"], env)
        assert again.returncode == 0 and "already held exactly these items" in again.stdout, again.stderr
        broken = tmp_path / "broken.jsonl"
        broken.write_text('{"id": "a"}\n{"id": \n')
        refused_import = run_cli(["import", "dataset", "d-local", str(broken), "--project", "tests"], env)
        assert refused_import.returncode == 2 and "line 2" in refused_import.stderr
