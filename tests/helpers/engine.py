"""Build experiment specs against the mock server and run them through the real engine."""

from __future__ import annotations

import copy
from typing import Any
from uuid import UUID

from benchlab.engine.deps import EngineDeps
from benchlab.engine.runner import RunExecutor
from benchlab.engine.runs import submit_run
from benchlab.spec import load_spec
from benchlab.stores.runs import RunRecord


def mock_spec(base_url: str, *, models: dict[str, str] | None = None, items: int = 3, repetitions: int = 1,
              load: dict[str, Any] | None = None, transport: str = "direct", **extra: Any) -> dict[str, Any]:
    """A small valid spec; `models` maps result labels to mock model strings (behaviour in the query)."""
    models = models or {"m": "mock-llm"}
    spec: dict[str, Any] = {
        "name": "engine-test",
        "project": "tests",
        "providers": [{"name": "mock", "type": "openai", "api_base": base_url, "transport": transport}],
        "models": [{"name": label, "provider": "mock", "model": model} for label, model in models.items()],
        "prompts": [{"name": "p", "messages": [{"role": "user", "content": "Say something about {{topic}}"}]}],
        "dataset": {"name": "d", "items": [{"id": f"i{n}", "vars": {"topic": f"topic {n}"}} for n in range(items)]},
        "params": {"max_tokens": 16},
        "repetitions": repetitions,
        "load": load or {"profile": "synchronous"},
        "timeout_s": 10,
    }
    spec.update(copy.deepcopy(extra))
    return spec


async def run_spec(deps: EngineDeps, spec: dict[str, Any]) -> RunRecord:
    run_id = await submit_run(deps, load_spec(spec))
    return await RunExecutor(deps, run_id).execute()


async def event_rows(deps: EngineDeps, run_id: UUID, columns: str = "*") -> list[dict[str, Any]]:
    result = await deps.clickhouse.query(
        f"SELECT {columns} FROM request_events WHERE run_id = {{run:UUID}} ORDER BY ts", {"run": run_id},
        caller="tests")
    return result.dicts()
