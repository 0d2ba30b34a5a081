"""What a request row stores beyond timing: tool calls that always parse, and costs that are known or say so."""

from __future__ import annotations

import json
import time
from typing import Any

import litellm
import pytest

from benchlab.engine.cost import model_prices
from benchlab.engine.deps import EngineDeps
from benchlab.engine.event_row import OUTPUT_LIMIT_CHARS, tool_calls_json
from tests.helpers.engine import event_rows, mock_spec, run_spec
from tests.helpers.event_rows import table_columns
from tests.helpers.mock_llm import run_mock_llm


def test_oversized_tool_calls_are_cut_inside_their_arguments_and_still_parse() -> None:
    calls = [{"id": "a", "name": "write", "arguments": json.dumps({"text": "x" * 100_000})},
             {"id": "b", "name": "add", "arguments": '{"a": 1}'},
             {"id": "c", "name": "quote", "arguments": '"\\\n' * 30_000}]  # escaping doubles its encoded size
    text = tool_calls_json(calls)
    assert len(text) <= OUTPUT_LIMIT_CHARS
    stored = json.loads(text)
    assert [c["name"] for c in stored] == ["write", "add", "quote"]
    assert stored[1] == calls[1]  # what fits is kept whole, unmarked
    for original, kept in ((calls[0], stored[0]), (calls[2], stored[2])):
        assert kept["arguments_truncated"] is True and kept["arguments_length"] == len(original["arguments"])
        assert original["arguments"].startswith(kept["arguments"]) and kept["arguments"]


def test_thousands_of_tool_calls_keep_a_parseable_prefix_that_counts_the_rest() -> None:
    calls = [{"id": str(n), "name": "lookup", "arguments": f'{{"key": {n}}}'} for n in range(10_000)]
    stored = json.loads(tool_calls_json(calls))
    assert 0 < len(stored) < len(calls)
    assert stored[-1]["omitted_calls"] == len(calls) - len(stored)
    assert [c["id"] for c in stored] == [str(n) for n in range(len(stored))]


async def test_a_huge_tool_call_is_stored_as_json_the_api_reads(engine_deps: EngineDeps) -> None:
    from benchlab.api.types.requests import RequestEvent

    tools = [{"type": "function", "function": {"name": "write", "parameters": {"type": "object"}}}]
    huge = {"name": "write", "arguments": {"text": "y" * 80_000}}
    with run_mock_llm(ttft_ms=5, gap_ms=0, tool_call=huge) as mock:  # 4 characters per event: no gaps
        spec = mock_spec(mock.base_url, items=1, timeout_s=120)
        spec["models"][0]["params"] = {"tools": tools}
        run = await run_spec(engine_deps, spec)
    [row] = await event_rows(engine_deps, run.id)
    assert row["status"] == "ok" and len(row["tool_calls"]) <= OUTPUT_LIMIT_CHARS
    [call] = RequestEvent.from_dict(row).tool_calls
    assert call["name"] == "write" and call["arguments_truncated"] is True


async def test_the_direct_transport_prices_models_from_litellms_map_and_marks_unknown_costs(
        engine_deps: EngineDeps) -> None:
    from benchlab.api.types.requests import RequestEvent

    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=7, models=("gpt-4o-mini", "mock-llm")) as mock:
        spec: dict[str, Any] = mock_spec(mock.base_url, items=2, models={"mapped": "gpt-4o-mini",
                                                                          "unpriced": "mock-llm",
                                                                          "priced": "mock-llm"})
        spec["models"][2].update(input_price_per_mtok=1.0, output_price_per_mtok=2.0)
        run = await run_spec(engine_deps, spec)
    assert run.status == "completed", run.error
    rows = {r["model"]: r for r in await event_rows(engine_deps, run.id)}
    mapped = rows["mapped"]
    expected = litellm.cost_per_token(model="openai/gpt-4o-mini", prompt_tokens=mapped["prompt_tokens"],
                                      completion_tokens=mapped["completion_tokens"])
    assert mapped["cost_known"] and mapped["cost_usd"] == sum(expected) > 0
    assert rows["priced"]["cost_known"] and rows["priced"]["cost_usd"] == (
        rows["priced"]["prompt_tokens"] * 1.0 + rows["priced"]["completion_tokens"] * 2.0) / 1e6
    assert (rows["unpriced"]["cost_known"], rows["unpriced"]["cost_usd"]) == (False, 0)
    assert RequestEvent.from_dict(rows["unpriced"]).cost_usd is None  # the API says unknown, not free
    assert RequestEvent.from_dict(rows["mapped"]).cost_usd == mapped["cost_usd"]
    groups = {g["model"]: g for g in run.summary["groups"]}
    assert groups["unpriced"]["cost_usd"] is None and groups["unpriced"]["cost_unknown_requests"] == 2
    assert groups["mapped"]["cost_unknown_requests"] == 0 and groups["mapped"]["cost_usd"] > 0


async def test_prices_are_looked_up_before_the_first_request_is_sent(
        engine_deps: EngineDeps, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first lookup imports litellm (~2 s of CPU): done mid-run, it froze the event loop while requests
    were being timed (and kept a second Ctrl-C waiting)."""
    import benchlab.engine.runner as runner

    looked_up: list[int] = []

    def recording(*args: Any) -> Any:
        prices = model_prices(*args)
        looked_up.append(time.monotonic_ns())
        return prices

    monkeypatch.setattr(runner, "model_prices", recording)
    with run_mock_llm(ttft_ms=5, gap_ms=1, output_tokens=4) as mock:
        run = await run_spec(engine_deps, mock_spec(mock.base_url, items=3, models={"a": "mock-llm", "b": "mock-llm"}))
        first_request_ns = min(record["first_byte_ns"] for record in mock.ground_truth())
    assert run.status == "completed" and len(looked_up) == 2
    assert max(looked_up) < first_request_ns  # both clocks are CLOCK_MONOTONIC


async def test_the_event_record_has_exactly_the_tables_columns(engine_deps: EngineDeps) -> None:
    """The typed record and the migrations must agree, or the writer would insert into columns that do not exist."""
    from benchlab.stores.request_events import COLUMNS

    assert sorted(COLUMNS) == sorted(await table_columns(engine_deps.clickhouse))
