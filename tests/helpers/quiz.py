"""A quiz the mock answers from its answer key: every score of a run over it is known before the run starts.

Which prompt a mock model answers correctly is fixed by `answers_correctly` (a seeded draw per prompt and
model); the mock judge passes a response exactly when it contains the item's expected answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchlab.mockllm.answers import answers_correctly
from tests.helpers.engine import mock_spec

ITEMS = 12
ACCURACY = {"strong": 0.75, "weak": 0.3}


def question(n: int) -> str:
    return f"What is answer number {n}?"


@pytest.fixture
def answer_key(tmp_path: Path) -> Path:
    path = tmp_path / "answers.jsonl"
    path.write_text("".join(json.dumps({"prompt": question(n), "answer": f"It is ans{n} for sure.",
                                        "wrong": "I don't know."}) + "\n" for n in range(ITEMS)))
    return path


def quiz_spec(base_url: str, *, judge: str = "mock-llm?judge=true&ttft_ms=1&gap_ms=0", labels: dict[int, Any]
              | None = None, **extra: Any) -> dict[str, Any]:
    labels = labels or {}
    items = [{"id": f"q{n}", "vars": {"question": question(n)}, "expected_output": f"ans{n}",
              **({"labels": {"judged": labels[n]}} if n in labels else {})} for n in range(ITEMS)]
    spec = mock_spec(base_url, models={name: f"mock-llm?ttft_ms=2&gap_ms=0&accuracy={accuracy}"
                                       for name, accuracy in ACCURACY.items()}, **extra)
    spec["prompts"] = [{"name": "qa", "messages": [{"role": "user", "content": "{{question}}"}]}]
    spec["dataset"] = {"name": "quiz", "items": items}
    spec["load"] = {"profile": "concurrent", "concurrency": 4}
    spec["judges"] = [{"name": "grader", "provider": "mock", "model": judge}]
    spec.setdefault("evaluators", [
        {"type": "icontains", "value": "{{expected_output}}", "name": "hit", "weight": 2},
        {"type": "llm-rubric", "name": "judged", "value": "Answers the question correctly."},
        {"type": "pairwise", "name": "preferred", "value": "Which answer is correct?"},
    ])
    return spec


def correct(model: str, n: int) -> bool:
    return answers_correctly(0, question(n), "mock-llm", ACCURACY[model])
