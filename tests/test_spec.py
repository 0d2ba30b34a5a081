"""The experiment spec: parsing, every-problem-at-once validation, dataset files, secrets, grid and templates."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from benchlab.spec import (
    DatasetItem,
    PromptMessage,
    PromptSpec,
    SpecError,
    grid_combinations,
    load_spec,
    params_hash,
    render_messages,
)

REPO = Path(__file__).resolve().parent.parent
SECRET = "sk-live-DO-NOT-LEAK-1234567890"

VALID = """
name: full-spec
project: demo-team
description: every section used
providers:
  - name: local
    type: hosted_vllm
    api_base: http://127.0.0.1:8100/v1
    api_key_env: LOCAL_KEY
    max_concurrency: 8
    transport: direct
  - name: claude
    type: anthropic
models:
  - name: small
    provider: local
    model: mock-small
    input_price_per_mtok: 0.15
    output_price_per_mtok: 0.6
    params: {temperature: 0.2, stop: ["\\n", "END"], top_k: 40}
  - name: big
    provider: claude
    model: claude-x
prompts:
  - name: qa
    messages:
      - {role: system, content: "You are terse."}
      - {role: user, content: "{{ question }} ({{n}})"}
  - name: qa
    version: 2
    text: "Q: {{question}} {{n}}\\nA:"
dataset:
  name: smoke
  items:
    - id: q1
      vars: {question: "What is 2+2?", n: 1}
      expected_output: "4"
      expected_tool_calls: [{name: add, arguments: {a: 2, b: 2}}]
      metadata: {topic: math}
    - vars: {question: "Capital of France?", n: [1, 2]}
      expected_tool_calls: []
params:
  temperature: [0, 0.7]
  max_tokens: 128
  stop: [["###"]]
repetitions: 3
load:
  profile: poisson
  rate: 50
  max_concurrency: 64
  duration_s: 60
  max_requests: 1000
  max_error_rate: 0.5
  warmup_s: 2
  cooldown_s: 1
slos: {ttft_ms: 500, tpot_ms: 50, e2e_ms: 5000}
timeout_s: 30
retries: {max_attempts: 3, backoff_s: 0.5, max_backoff_s: 20, retry_on: [rate_limited, timeout]}
stream: false
"""


def minimal(**overrides: Any) -> dict[str, Any]:
    """A small valid spec as a dict; keyword arguments replace top-level sections."""
    spec = {
        "name": "t",
        "providers": [{"name": "mock", "type": "openai", "api_base": "http://127.0.0.1:8100/v1"}],
        "models": [{"name": "m", "provider": "mock", "model": "mock-small"}],
        "prompts": [{"name": "qa", "messages": [{"role": "user", "content": "{{question}}"}]}],
        "dataset": {"name": "d", "items": [{"vars": {"question": "2+2?"}}]},
        "params": {"max_tokens": 16},
    }
    spec.update(overrides)
    return spec


def problems_of(source: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(source, **kwargs)
    return caught.value.problems


def assert_problems(problems: list[str], expected: list[str]) -> None:
    """Each expected substring is in some problem, and nothing else was reported."""
    missing = [text for text in expected if not any(text in problem for problem in problems)]
    assert not missing, f"not reported: {missing}\nreported:\n" + "\n".join(problems)
    assert len(problems) == len(expected), "\n".join(problems)


def test_valid_spec_round_trips_through_its_snapshot() -> None:
    spec = load_spec(VALID)
    snapshot = spec.to_dict()
    assert load_spec(json.loads(json.dumps(snapshot))) == spec
    assert spec.prompts[1].version == "2" and spec.prompts[1].kind == "completion"
    assert [item.id for item in spec.dataset.items] == ["q1", "item-0002"]
    assert spec.dataset.items[1].expected_tool_calls == ()
    assert spec.params == {"temperature": (0, 0.7), "max_tokens": (128,), "stop": (["###"],)}
    assert spec.models[0].params["stop"] == ["\n", "END"]
    assert spec.load.seed == 0 and spec.load.sweep_rates is None
    assert [p.resolved_transport for p in spec.providers] == ["direct", "litellm"]


def test_the_example_spec_loads_as_documented() -> None:
    spec = load_spec(REPO / "examples" / "mock-experiment.yaml")
    assert [(m.name, m.model) for m in spec.models] == [
        ("fast", "mock-llm?ttft_ms=50&gap_ms=10"), ("slow", "mock-llm?ttft_ms=150&gap_ms=25")]
    assert spec.providers[0].api_base == "http://127.0.0.1:8100/v1"
    assert spec.providers[0].resolved_transport == "direct"
    assert spec.providers[0].resolve_api_key({}) is None
    assert len(spec.dataset.items) == 5 and len(spec.prompts) == 1
    assert grid_combinations(spec.params) == [{"max_tokens": 64, "temperature": 0},
                                              {"max_tokens": 64, "temperature": 0.7}]
    assert (spec.repetitions, spec.load.profile, spec.load.concurrency) == (2, "concurrent", 4)
    assert spec.slos.ttft_ms is not None


def test_a_broken_spec_reports_every_problem_with_its_path() -> None:
    broken = minimal(
        project="Bad Slug",
        providers=[{"name": "mock", "type": "openai"}, {"name": "mock"}],
        models=[{"name": "a", "provider": "mok", "model": "x"},
                {"name": "b", "provider": "mock", "model": "y", "params": {"max_tokens": 8}},
                {"name": "c", "provider": "mock", "model": "z", "params": {"temperature": 3, "max_tokens": 8}}],
        prompts=[{"name": "qa", "messages": [{"role": "user", "content": "{{question}}"}]},
                 {"name": "qa", "version": "v1", "text": "{{question}}"}],
        dataset={"name": "d", "items": [{"vars": {"question": "x"}}, {"vars": {"q": "y"}}]},
        params={"top_p": [0, 1], "n": 2, "stop": [["a", "b", "c", "d", "e"]], "seed": 1.5,
                "presence_penalty": 3, "top_k": []},
        repetitions=0,
        load={"profile": "concurrent", "rate": 5, "max_error_rate": 1.5},
        slos={"ttft_ms": -1},
        timeout_s=0,
        retries={"retry_on": ["boom"]},
        model="typo",
    )
    del broken["name"]
    assert_problems(problems_of(broken), [
        "model: unknown key (did you mean 'models'?)",
        "name: required",
        "project: must be a slug",
        "providers[1].type: required",
        "providers[1].name: duplicate provider name 'mock' (first at providers[0].name)",
        "models[0].provider: unknown provider 'mok' (did you mean 'mock'?)",
        "models[2].params.temperature: must be between 0 and 2",
        "prompts[1]: duplicate prompt name and version 'qa', 'v1' (first at prompts[0])",
        "params.top_p[0]: must be greater than 0 and at most 1",
        "params.n: must be 1",
        "params.stop[0]: must be a string or a list of 1 to 4 strings",
        "params.seed: must be an integer",
        "params.presence_penalty: must be between -2 and 2",
        "params.top_k: empty list",
        "repetitions: must be at least 1",
        "load.rate: only used by profile constant or poisson, not concurrent",
        "load.concurrency: required for profile concurrent",
        "load.max_error_rate: must be at most 1",
        "slos.ttft_ms: must be greater than 0",
        "timeout_s: must be greater than 0",
        "retries.retry_on[0]: must be one of rate_limited, server_error, timeout, connect_error, disconnected",
        "models[0].params.max_tokens: required",
        "dataset.items[1].vars: missing 'question' used by prompts[0]",
        "dataset.items[1].vars: missing 'question' used by prompts[1]",
    ])


def test_unknown_keys_get_a_did_you_mean_hint_at_every_level() -> None:
    spec = minimal(load={"profile": "concurrent", "concurency": 4}, stream=True)
    spec["providers"][0]["api_bse"] = "http://x"
    spec["models"][0]["parms"] = {}
    spec["nmae"] = "x"
    assert_problems(problems_of(spec), [
        "nmae: unknown key (did you mean 'name'?)",
        "providers[0].api_bse: unknown key (did you mean 'api_base'?)",
        "models[0].parms: unknown key (did you mean 'params'?)",
        "load.concurency: unknown key (did you mean 'concurrency'?)",
        "load.concurrency: required for profile concurrent",
    ])


def test_a_misspelt_parameter_is_caught_and_unknown_ones_pass_through() -> None:
    problems = problems_of(minimal(params={"max_tokens": 8, "temprature": 0.5, "model": "x"}))
    assert_problems(problems, ["params.temprature: unknown parameter (did you mean 'temperature'?)",
                               "params.model: set by benchlab"])
    spec = load_spec(minimal(params={"max_tokens": 8, "min_p": 0.1, "response_format": {"type": "json_object"}}))
    assert spec.params["response_format"] == ({"type": "json_object"},)


def test_each_item_missing_a_template_var_is_reported() -> None:
    items = [{"vars": {"name": "a"}}, {"vars": {"question": "q", "name": "b"}}, {"id": "x", "vars": {}}]
    prompts = [{"name": "p", "messages": [{"role": "user", "content": "{{question}} {{ name }}"}]}]
    assert_problems(problems_of(minimal(prompts=prompts, dataset={"name": "d", "items": items})), [
        "dataset.items[0].vars: missing 'question' used by prompts[0]",
        "dataset.items[2].vars: missing 'name', 'question' used by prompts[0]",
    ])


def test_invalid_placeholders_and_missing_output_limit_are_reported() -> None:
    prompts = [{"name": "p", "messages": [{"role": "user", "content": "{{question}} {{ a.b }}"}]}]
    assert_problems(problems_of(minimal(prompts=prompts, params={"temperature": 0})), [
        "prompts[0].messages[0].content: invalid placeholder '{{ a.b }}'",
        "models[0].params.max_tokens: required",
    ])


def test_jsonl_dataset_file_with_line_numbered_problems(tmp_path: Path) -> None:
    (tmp_path / "items.jsonl").write_text(
        '{"id": "a", "vars": {"question": "1?"}, "expected_output": "1"}\n'
        "\n"
        '{"vars": {"question": "2?"}, "metadata": {"k": 1}}\n', encoding="utf-8")
    spec_text = json.dumps(minimal(dataset={"name": "d", "file": "items.jsonl"}))
    (tmp_path / "spec.yaml").write_text(spec_text, encoding="utf-8")
    spec = load_spec(tmp_path / "spec.yaml")
    assert [(i.id, i.vars, i.expected_output) for i in spec.dataset.items] == [
        ("a", {"question": "1?"}, "1"), ("item-0002", {"question": "2?"}, None)]
    assert "file" not in spec.to_dict()["dataset"]
    assert load_spec(spec.to_dict()) == spec

    (tmp_path / "items.jsonl").write_text(
        '{"vars": {"question": "1?"}}\n'
        '{"vars": {"question": "2?"},}\n'
        '["not", "an", "object"]\n'
        '{"vars": {"q": "3?"}, "metdata": {}}\n', encoding="utf-8")
    assert_problems(problems_of(tmp_path / "spec.yaml"), [
        "dataset.file:2: invalid JSON: Expecting property name enclosed in double quotes (column 29)",
        "dataset.file:3: must be a JSON object",
        "dataset.file:4.metdata: unknown key (did you mean 'metadata'?)",
        "dataset.file:4.vars: missing 'question' used by prompts[0]",
    ])


def test_csv_dataset_file_columns_and_line_numbers(tmp_path: Path) -> None:
    (tmp_path / "items.csv").write_text(
        'id,question,expected_output,expected_tool_calls,metadata\n'
        'q1,"two\nlines",4,"[{""name"": ""add"", ""arguments"": {""a"": 2}}]","{""topic"": ""math""}"\n'
        ',plain,,,\n', encoding="utf-8")
    spec = load_spec(minimal(dataset={"name": "d", "file": "items.csv"}), base_dir=tmp_path)
    first, second = spec.dataset.items
    assert first == DatasetItem(id="q1", vars={"question": "two\nlines"}, expected_output="4",
                                expected_tool_calls=({"name": "add", "arguments": {"a": 2}},),
                                metadata={"topic": "math"})
    assert second == DatasetItem(id="item-0002", vars={"question": "plain"})

    (tmp_path / "items.csv").write_text(
        'id,question,metadata\n'
        'q1,"multi\nline",{}\n'
        'q2,ok,{bad json}\n'
        'q3,too,many,fields\n'
        'q1,dup,\n', encoding="utf-8")
    assert_problems(problems_of(minimal(dataset={"name": "d", "file": "items.csv"}), base_dir=tmp_path), [
        "dataset.file:4.metadata: invalid JSON: Expecting property name enclosed in double quotes (column 2)",
        "dataset.file:5: 4 fields, the header has 3",
        "dataset.file:6.id: duplicate item id 'q1' (first at dataset.file:2.id)",
    ])


def test_dataset_file_problems_and_api_specs_cannot_read_files(tmp_path: Path) -> None:
    file_spec = minimal(dataset={"name": "d", "file": "items.jsonl"})
    assert problems_of(file_spec) == [
        "dataset.file: only allowed in a spec read from a file (or given base_dir); give items inline"]
    assert problems_of(file_spec, base_dir=tmp_path) == [f"dataset.file: file not found: {tmp_path / 'items.jsonl'}"]
    (tmp_path / "items.txt").write_text("x", encoding="utf-8")
    assert problems_of(minimal(dataset={"name": "d", "file": "items.txt"}), base_dir=tmp_path) == [
        "dataset.file: unsupported file type '.txt' (use .jsonl or .csv)"]
    (tmp_path / "empty.csv").write_text("question\n", encoding="utf-8")
    assert problems_of(minimal(dataset={"name": "d", "file": "empty.csv"}), base_dir=tmp_path) == [
        "dataset.file: has no items"]


def test_a_literal_api_key_never_leaks() -> None:
    spec_dict = minimal()
    spec_dict["providers"][0]["api_key"] = SECRET
    spec = load_spec(copy.deepcopy(spec_dict))
    assert spec.providers[0].resolve_api_key() == SECRET
    for shown in (repr(spec), str(spec), f"{spec.providers[0].api_key}", json.dumps(spec.to_dict())):
        assert SECRET not in shown
    assert "api_key" not in spec.to_dict()["providers"][0]

    broken = copy.deepcopy(spec_dict)
    broken["providers"][0]["api_key_env"] = SECRET  # the key pasted into the wrong field
    broken["providers"][0]["api_key"] = 12345
    broken["timeout_s"] = -1
    with pytest.raises(SpecError) as caught:
        load_spec(broken)
    assert SECRET not in str(caught.value) and SECRET not in repr(caught.value.problems)
    assert "providers[0].api_key_env: must be the NAME of an environment variable" in str(caught.value)

    yaml_text = f"name: t\nproviders:\n  - name: p\n    api_key: {SECRET}: oops\n"
    with pytest.raises(SpecError) as caught:
        load_spec(yaml_text)
    assert SECRET not in str(caught.value)


def test_api_key_env_is_resolved_at_run_time() -> None:
    spec_dict = minimal()
    spec_dict["providers"][0]["api_key_env"] = "MOCK_KEY"
    provider = load_spec(spec_dict).providers[0]
    assert provider.resolve_api_key({"MOCK_KEY": "k"}) == "k"
    with pytest.raises(SpecError, match="MOCK_KEY is not set"):
        provider.resolve_api_key({})


def test_grid_values_equal_once_canonical_are_duplicates() -> None:
    assert_problems(problems_of(minimal(params={"max_tokens": 8, "temperature": [0, 0.5, 0.0]})), [
        "params.temperature[2]: duplicate grid value '0' (first at params.temperature[0])"])


def test_grid_combinations_are_complete_and_in_a_fixed_order() -> None:
    grid = {"temperature": [0, 0.7], "top_p": [1.0, 0.9], "max_tokens": [64]}
    combos = grid_combinations(grid)
    assert combos == [
        {"max_tokens": 64, "temperature": 0, "top_p": 1.0},
        {"max_tokens": 64, "temperature": 0, "top_p": 0.9},
        {"max_tokens": 64, "temperature": 0.7, "top_p": 1.0},
        {"max_tokens": 64, "temperature": 0.7, "top_p": 0.9},
    ]
    assert grid_combinations(dict(reversed(grid.items()))) == combos
    assert grid_combinations({}) == [{}]


def test_params_hash_is_stable() -> None:
    digest = params_hash({"temperature": 0.7, "max_tokens": 64, "stop": ["a"]})
    assert len(digest) == 12 and int(digest, 16) >= 0
    assert params_hash({"stop": ["a"], "max_tokens": 64, "temperature": 0.7}) == digest
    assert params_hash({"temperature": 1, "max_tokens": 64}) == params_hash({"max_tokens": 64.0, "temperature": 1.0})
    assert params_hash({"temperature": 0.7, "max_tokens": 65, "stop": ["a"]}) != digest


def test_yaml_syntax_errors_and_duplicate_keys_name_their_line() -> None:
    (problem,) = problems_of("name: t\nproviders:\n  - name: a\n   type: b\n")
    assert problem.startswith("<spec>:4:4: invalid YAML: expected <block end>")
    problems = problems_of("name: t\nstream: true\nname: u\n")
    assert problems == ["<spec>:3:1: invalid YAML: duplicate key 'name'"]
    assert problems_of("just text") == [
        "spec: must be a mapping (a str is read as YAML text; pass a Path to read a file)"]


def test_render_messages_fills_placeholders() -> None:
    chat = PromptSpec(name="p", messages=(PromptMessage("system", "Be terse."),
                                          PromptMessage("user", "{{ q }} / {{n}} / {{q}}")))
    item = DatasetItem(id="i", vars={"q": "2+2?", "n": [1, "x"]},
                       messages=({"role": "assistant", "content": "{{q}} stays literal"},))
    assert render_messages(chat, item) == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": '2+2? / [1, "x"] / 2+2?'},
        {"role": "assistant", "content": "{{q}} stays literal"},
    ]
    completion = PromptSpec(name="c", text="Q: {{q}}\nA:")
    assert render_messages(completion, DatasetItem(id="i", vars={"q": "hi"})) == [
        {"role": "user", "content": "Q: hi\nA:"}]
    with pytest.raises(SpecError, match="missing 'n'"):
        render_messages(chat, DatasetItem(id="i", vars={"q": "x"}))


def test_spec_error_lists_problems_one_per_line() -> None:
    error = SpecError(["a: required", "b: must be a string"])
    assert str(error).splitlines() == ["invalid experiment spec: 2 problems", "  a: required", "  b: must be a string"]
