"""Run `benchlab.mockllm` as a real subprocess (tests, benchmarks, demos).

    with run_mock_llm(ttft_ms=20, gap_ms=2, output_tokens=8) as mock:
        client = openai.OpenAI(base_url=mock.base_url, api_key="x")
        ...
        records = mock.ground_truth()

Keyword arguments are behaviour fields (see benchlab/mockllm/behaviour.py), given as the server defaults;
`seed`, `models` and `answer_key` (a file, see answers.py) configure the server itself, `server_args` passes
further CLI flags (e.g. --loop asyncio).
The server listens on a free loopback port, logs ground truth to a temporary file, and is stopped (and the
file removed) when the block ends.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchlab.mockllm.ground_truth import read_ground_truth


@dataclass(frozen=True)
class MockLLM:
    base_url: str  # "http://127.0.0.1:PORT/v1", what OpenAI clients take as base_url / api_base
    ground_truth_path: Path

    def ground_truth(self, request_id: str | None = None, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The server's records (ground_truth.py documents them), oldest first; only `request_id`'s if given.

        Responses the server ended (completed, faults) are always included: a request to /v1/models is served
        after their records are written. With `request_id`, waits up to `timeout` for at least one record, for
        responses the client ended (e.g. by leaving a stall): those are written once the server notices.
        """
        httpx.get(f"{self.base_url}/models", timeout=timeout).raise_for_status()
        deadline = time.monotonic() + timeout
        while True:
            records = read_ground_truth(self.ground_truth_path)
            if request_id is None:
                return records
            mine = [r for r in records if r["request_id"] == request_id]
            if mine or time.monotonic() > deadline:
                return mine
            time.sleep(0.01)


@contextmanager
def run_mock_llm(*, seed: int = 0, models: Sequence[str] = ("mock-llm",), server_args: Sequence[str] = (),
                 answer_key: Path | None = None, **behaviour: object) -> Iterator[MockLLM]:
    with tempfile.TemporaryDirectory(prefix="mockllm-") as tmp:
        log = Path(tmp) / "ground-truth.jsonl"
        stderr_path = Path(tmp) / "stderr.log"
        command = [sys.executable, "-m", "benchlab.mockllm.cli", "--port", "0", "--seed", str(seed),
                   "--ground-truth", str(log), "--behaviour", json.dumps(behaviour),
                   *[arg for model in models for arg in ("--model", model)],
                   *(["--answer-key", str(answer_key)] if answer_key else []), *server_args]
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True)
        try:
            assert process.stdout is not None
            line = process.stdout.readline()  # "mock-llm: listening on http://127.0.0.1:PORT/v1", or EOF
            if "listening on " not in line:
                process.wait(10)
                raise AssertionError(f"mock-llm did not start ({process.returncode}): {stderr_path.read_text()}")
            mock = MockLLM(line.rsplit(" ", 1)[1].strip(), log)
            httpx.get(f"{mock.base_url}/models", timeout=10).raise_for_status()
            yield mock
        finally:
            process.terminate()
            process.wait(10)
            if process.stdout is not None:
                process.stdout.close()
