"""The plan: every request an experiment makes, in send order, each with a deterministic event id.

Cells are dataset items × prompt versions × models × parameter sets × repetitions. Models and parameter sets
are interleaved innermost, so every model sees the same conditions over time rather than one after another.
The event id is a UUIDv5 of the run and the cell, so a retried write or a resumed run recognises the cells
already recorded. A duration-bound open-loop run cycles through the plan; the cycle number is part of the id.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from benchlab.engine.transport_direct import LLMRequest
from benchlab.spec import ExperimentSpec, ModelSpec, PromptSpec, ProviderSpec, grid_combinations, params_hash
from benchlab.spec import render_messages as render_prompt


@dataclass(frozen=True)
class PlannedRequest:
    event_id: uuid.UUID
    model: ModelSpec
    provider: ProviderSpec
    prompt_version: str          # "name@version"
    params: dict[str, Any]
    params_hash: str
    item_id: str
    repetition: int
    cycle: int
    request: LLMRequest


@dataclass(frozen=True)
class Cell:
    model: ModelSpec
    prompt: PromptSpec
    params: dict[str, Any]
    item_index: int
    repetition: int


def cells(spec: ExperimentSpec) -> list[Cell]:
    """Every cell in send order. A model's fixed params override the grid; cells that become identical merge."""
    per_model = {model.name: _unique_params(grid_combinations(spec.params), model.params) for model in spec.models}
    out = []
    for repetition in range(spec.repetitions):
        for item_index in range(len(spec.dataset.items)):
            for prompt in spec.prompts:
                for params_index in range(max(len(p) for p in per_model.values())):
                    for model in spec.models:
                        model_params = per_model[model.name]
                        if params_index < len(model_params):
                            out.append(Cell(model, prompt, model_params[params_index], item_index, repetition))
    return out


def params_by_hash(spec: ExperimentSpec) -> dict[str, dict[str, Any]]:
    """Every parameter set the run sends, by its hash: summaries show the values (`temperature=0.7`)."""
    return {params_hash(cell.params): cell.params for cell in cells(spec)}


def _unique_params(grid: list[dict[str, Any]], fixed: dict[str, Any]) -> list[dict[str, Any]]:
    unique: dict[str, dict[str, Any]] = {}
    for combination in grid:
        merged = {**combination, **fixed}
        unique.setdefault(params_hash(merged), merged)
    return list(unique.values())


def event_id(run_id: uuid.UUID, cell: Cell, item_id: str, phase: str, cycle: int) -> uuid.UUID:
    key = "|".join((phase, cell.model.name, f"{cell.prompt.name}@{cell.prompt.version}", params_hash(cell.params),
                    item_id, str(cell.repetition), str(cycle)))
    return uuid.uuid5(run_id, key)


def plan(spec: ExperimentSpec, run_id: uuid.UUID, *, phase: str = "main",
         cycles: int | None = 1) -> Iterator[PlannedRequest]:
    """Planned requests in send order; `cycles=None` repeats the plan without end (duration-bound runs).

    The load phase (sweeps have several) is part of every event id, so phases never share one.
    """
    base = cells(spec)
    counter = itertools.count() if cycles is None else range(cycles)
    for cycle in counter:
        for cell in base:
            yield _planned(spec, run_id, cell, phase, cycle)


def _planned(spec: ExperimentSpec, run_id: uuid.UUID, cell: Cell, phase: str, cycle: int) -> PlannedRequest:
    item = spec.dataset.items[cell.item_index]
    prompt_version = f"{cell.prompt.name}@{cell.prompt.version}"
    eid = event_id(run_id, cell, item.id, phase, cycle)
    headers = {"X-Request-ID": str(eid)}
    if cell.prompt.text is not None:
        request = LLMRequest(cell.model.model, prompt=render_prompt(cell.prompt, item)[0]["content"],
                             params=cell.params, headers=headers, stream=spec.stream)
    else:
        request = LLMRequest(cell.model.model, messages=render_prompt(cell.prompt, item), params=cell.params,
                             headers=headers, stream=spec.stream)
    return PlannedRequest(eid, cell.model, spec.provider(cell.model.provider), prompt_version, cell.params,
                          params_hash(cell.params), item.id, cell.repetition, cycle, request)
