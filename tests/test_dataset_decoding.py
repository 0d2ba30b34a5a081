"""Dataset text that is not UTF-8: each bad line by line and column, and every other problem still listed.

Alike for a spec's `dataset.file` (bytes from disk) and for the GraphQL import (text, where an undecodable
byte arrives as a lone surrogate, e.g. from a client that read the file with `surrogateescape`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from benchlab.spec import SpecError, load_spec
from tests.helpers.graphql import data, error_codes

PROMPT = [{"role": "user", "content": "{{q}}"}]


def file_spec(file_name: str) -> dict[str, Any]:
    return {"name": "t", "providers": [{"name": "p", "type": "openai", "api_base": "http://127.0.0.1:9/v1"}],
            "models": [{"name": "m", "provider": "p", "model": "x"}], "prompts": [{"name": "a", "messages": PROMPT}],
            "dataset": {"name": "d", "file": file_name}, "params": {"max_tokens": 8}}


def spec_problems(tmp_path: Path, file_name: str, content: bytes) -> list[str]:
    (tmp_path / file_name).write_bytes(content)
    with pytest.raises(SpecError) as raised:
        load_spec(file_spec(file_name), base_dir=tmp_path)
    return raised.value.problems


def test_jsonl_file_reports_each_undecodable_line_and_the_other_problems(tmp_path: Path) -> None:
    content = ('{"id": "a", "vars": {"q": "café"}}\n'.encode("latin-1")     # line 1: é as one Latin-1 byte
               + b'{"id": "b", "vars": {"q": "fine"},}\n'                     # line 2: invalid JSON
               + b'\n'
               + '{"id": "d", "vars": {"q": "naïve \xff"}}\n'.encode("latin-1")  # line 4: two bad bytes
               + b'{"id": "e", "vars": {"x": "no q"}}\n')                    # line 5: a missing var
    assert spec_problems(tmp_path, "items.jsonl", content) == [
        "dataset.file:1: not UTF-8: byte 0xE9 at column 31 (convert the file to UTF-8)",
        "dataset.file:4: not UTF-8: byte 0xEF at column 30 (convert the file to UTF-8)",
        "dataset.file:2: invalid JSON: Expecting property name enclosed in double quotes (column 35)",
        "dataset.file:5.vars: missing 'q' used by prompts[0] (a v1)",
    ]


def test_csv_file_reports_each_undecodable_line_and_the_other_problems(tmp_path: Path) -> None:
    content = b"\xef\xbb\xbfid,q\r\n" + "a,café\r\n".encode("cp1252") + b"b,too,many\r\nc,ok\r\n"
    assert spec_problems(tmp_path, "items.csv", content) == [
        "dataset.file:2: not UTF-8: byte 0xE9 at column 6 (convert the file to UTF-8)",
        "dataset.file:3: 3 fields, the header has 2",
    ]


def test_jsonl_lines_end_only_at_newline(tmp_path: Path) -> None:
    """JSON may hold U+2028, U+2029 and U+0085 unescaped; they are text, not line ends (str.splitlines)."""
    (tmp_path / "items.jsonl").write_text('{"vars": {"q": "a\u2028b\u2029c\x85d"}}\r\n{"vars": {"q": "2"}}\n',
                                          encoding="utf-8")
    items = load_spec(file_spec("items.jsonl"), base_dir=tmp_path).dataset.items
    assert [item.vars for item in items] == [{"q": "a\u2028b\u2029c\x85d"}, {"q": "2"}]


def import_items(client: TestClient, text: str, format: str) -> dict[str, Any]:
    project = data(client, 'mutation { createProject(input: {slug: "enc", name: "Enc"}) { project { id } } }')
    dataset = data(client, """mutation($p: ID!) { createDataset(input: {projectId: $p, name: "qa"}) {
        dataset { id } } }""", p=project["createProject"]["project"]["id"])["createDataset"]["dataset"]
    query = """mutation($d: ID!, $t: String!, $f: ImportFormat!) { importDatasetItems(input: {
        datasetId: $d, text: $t, format: $f}) { importedItems } }"""
    # json.dumps escapes a lone surrogate as \udce9, as Python clients send it (httpx's json= cannot encode one)
    body = json.dumps({"query": query, "variables": {"d": dataset["id"], "t": text, "f": format}})
    response = client.post("/graphql", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    return response.json()


def test_api_import_reports_undecodable_lines_with_the_other_problems(client: TestClient) -> None:
    text = ('{"id": "a", "vars": {"q": "ok"}}\n'
            '{"id": "b", "vars": {"q": "caf\udce9"}}\n'     # byte 0xE9 decoded with surrogateescape
            '[1]\n'
            '{"id": "d", "vars": {"q": "\ud800"}}\n')       # a lone surrogate
    body = import_items(client, text, "JSONL")
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"]["problems"] == [
        "line 2: not UTF-8: byte 0xE9 at column 31 (convert the file to UTF-8)",
        "line 3: must be a JSON object",
        "line 4: not UTF-8: unpaired surrogate U+D800 at column 28 (convert the file to UTF-8)",
    ]


def test_api_csv_import_reports_undecodable_lines_with_the_other_problems(client: TestClient) -> None:
    body = import_items(client, "id,q\na,caf\udce9\nb\n", "CSV")
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"]["problems"] == [
        "line 2: not UTF-8: byte 0xE9 at column 6 (convert the file to UTF-8)",
        "line 3: 1 fields, the header has 2",
    ]
