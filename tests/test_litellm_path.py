"""The litellm transport: failures classified as on the direct path, and nothing printed on stdout (issue 9, item 10).

litellm reports a refused connection or a stream cut mid-response as HTTP 500 (`InternalServerError`,
`MidStreamFallbackError`), and prints "Give Feedback / Get Help" and "Provider List" banners on stdout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchlab.engine.deps import EngineDeps
from tests.helpers.engine import event_rows, mock_spec, run_spec
from tests.helpers.mock_llm import run_mock_llm
from tests.helpers.server_process import free_port, run_cli


def litellm_spec(base_url: str, model: str, items: int = 2) -> dict:
    return mock_spec(base_url, items=items, transport="litellm", models={"m": model})


@pytest.mark.parametrize(("fault", "error_type", "status", "message"), [
    ("disconnect", "disconnected", 200, "the server closed the connection mid-response"),
    ("500", "server_error", 500, "InternalServerError (HTTP 500)"),  # a real 500 stays the server's error
    ("429", "rate_limited", 429, "RateLimitError (HTTP 429)"),
])
async def test_faults_are_classified_as_on_the_direct_path(engine_deps: EngineDeps, fault: str, error_type: str,
                                                           status: int, message: str) -> None:
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=8) as mock:
        run = await run_spec(engine_deps, litellm_spec(mock.base_url, f"mock-llm?fault={fault}"))
    rows = await event_rows(engine_deps, run.id, "status, error_type, http_status, error_message")
    assert [(r["status"], r["error_type"], r["http_status"]) for r in rows] == [("error", error_type, status)] * 2
    assert all(r["error_message"].startswith(message) for r in rows), rows


async def test_a_refused_connection_is_a_connect_failure(engine_deps: EngineDeps) -> None:
    port = free_port()  # nothing listens there
    run = await run_spec(engine_deps, litellm_spec(f"http://127.0.0.1:{port}/v1", "mock-llm"))
    rows = await event_rows(engine_deps, run.id, "status, error_type, http_status, error_message")
    assert [(r["status"], r["error_type"], r["http_status"]) for r in rows] == [("error", "connect_error", 0)] * 2
    assert all(r["error_message"].startswith("cannot connect: ") for r in rows), rows


def test_run_json_stays_parseable_when_litellm_requests_fail(tmp_path: Path) -> None:
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=8) as mock:
        spec = litellm_spec(mock.base_url, "mock-llm?fault=disconnect")  # unknown to litellm's price map, too
        (tmp_path / "spec.yaml").write_text(json.dumps(spec), encoding="utf-8")
        result = run_cli(["run", "--json", str(tmp_path / "spec.yaml")], {"BENCHLAB_DATA_DIR": str(tmp_path / "d")},
                         timeout=180)
    assert "Traceback" not in result.stderr, result.stderr
    summary = json.loads(result.stdout)  # nothing but the JSON document on stdout
    assert summary["runId"] and "disconnected" in json.dumps(summary)
    assert "Give Feedback" not in result.stderr and "Provider List" not in result.stderr


async def test_tool_calls_go_through_litellm(engine_deps: EngineDeps) -> None:
    """litellm imports the `mcp` package for any request with tools: without it, every such request fails."""
    tools = [{"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}]
    with run_mock_llm(ttft_ms=5, gap_ms=1, tool_call={"name": "add", "arguments": {"a": 2, "b": 2}}) as mock:
        spec = litellm_spec(mock.base_url, "mock-llm", items=1)
        spec["models"][0]["params"] = {"tools": tools}
        run = await run_spec(engine_deps, spec)
    [row] = await event_rows(engine_deps, run.id, "status, finish_reason, tool_calls")
    assert (row["status"], row["finish_reason"]) == ("ok", "tool_calls"), row
    assert json.loads(row["tool_calls"])[0]["name"] == "add"
