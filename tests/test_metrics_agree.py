"""One run, one set of numbers: the summary, `run.metrics` and the live progress agree on a real engine run."""

from __future__ import annotations

import json
from typing import Any

from benchlab.analytics import run_metrics
from benchlab.analytics.summary import QUANTILE_NAMES, QUANTILES
from benchlab.engine.deps import EngineDeps
from benchlab.engine.runner import RunExecutor
from benchlab.engine.runs import submit_run
from benchlab.spec import load_spec
from tests.helpers.engine import mock_spec, run_spec
from tests.helpers.mock_llm import run_mock_llm

SUMMARY_KEYS = ["load_phase", "model", "prompt_version", "params"]  # the summary's groups, as run.metrics names them
SUMMARY_METRICS = ["ttft_ms", "ttfot_ms", "tpot_ms", "e2e_ms", "queue_delay_ms", "inter_event_ms"]


def mock_model(**behaviour: Any) -> str:
    return "mock-llm?" + "&".join(f"{name}={json.dumps(value)}" for name, value in behaviour.items())


async def test_summary_and_run_metrics_give_identical_percentiles(engine_deps: EngineDeps) -> None:
    with run_mock_llm(seed=3) as mock:
        spec = mock_spec(mock.base_url, items=6, repetitions=2, load={"profile": "concurrent", "concurrency": 4},
                         models={
                             "a": mock_model(ttft_ms="uniform(5,40)", gap_ms="uniform(0.5,4)", output_tokens=6),
                             "b": mock_model(ttft_ms="exponential(15)", gap_ms="normal(2,1)", output_tokens=3,
                                             fault_rates={"500": 0.3}),
                         })
        spec["params"]["temperature"] = [0.2, 0.8]
        run = await run_spec(engine_deps, spec)
    assert run.status == "completed" and run.summary is not None, run.error
    summary = {(g["load_phase"], g["model"], g["prompt_version"], g["params_hash"]): g
               for g in run.summary["groups"]}
    assert len(summary) == 4
    metrics = await run_metrics(engine_deps.clickhouse, run.project_id, [run.id], SUMMARY_KEYS, SUMMARY_METRICS,
                                [level * 100 for level in QUANTILES])
    keys = list(zip(*(column.values for column in metrics.keys), strict=True))
    assert sorted(keys) == sorted(summary)
    compared = 0
    for row, key in enumerate(keys):
        group = summary[key]
        for metric in metrics.metrics:
            assert metric.n[row] == group[metric.metric]["count"] > 0, (key, metric.metric)
            for name, column in zip(QUANTILE_NAMES, metric.percentiles, strict=True):
                assert column.values[row] == group[metric.metric][name], (key, metric.metric, name)
                compared += 1
    assert compared == 4 * len(SUMMARY_METRICS) * len(QUANTILES)
    assert any(group["succeeded"] < group["requests"] for group in summary.values())  # failures left out of both


async def test_the_last_progress_message_gives_the_summarys_ttft(engine_deps: EngineDeps) -> None:
    """Same rows (successful, with a first token) and same quantile: no warm-up or cool-down, one TTFT group."""
    messages: list[dict[str, Any]] = []
    with run_mock_llm(seed=5) as mock:
        spec = mock_spec(mock.base_url, items=15, repetitions=2, load={"profile": "concurrent", "concurrency": 3},
                         models={"m": mock_model(ttft_ms="uniform(5,40)", gap_ms=1, output_tokens=4,
                                                 fault_rates={"500": 0.3}),
                                 "silent": mock_model(ttft_ms=5, output_tokens=0)})
        run_id = await submit_run(engine_deps, load_spec(spec))
        run = await RunExecutor(engine_deps, run_id, on_progress=messages.append).execute()
    assert run.status == "completed" and run.summary is not None, run.error
    groups = {g["model"]: g for g in run.summary["groups"]}
    silent, timed = groups["silent"], groups["m"]
    assert silent["succeeded"] == 30 and silent["ttft_ms"]["count"] == 0  # answered, but no token: no TTFT
    assert 0 < timed["ttft_ms"]["count"] < 30  # some failed
    last = messages[-1]
    assert last["status"] == "completed" and last["done"] == 60
    assert (last["ttftP50Ms"], last["ttftP99Ms"]) == (timed["ttft_ms"]["p50"], timed["ttft_ms"]["p99"])
