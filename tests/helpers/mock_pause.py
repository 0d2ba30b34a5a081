"""Freeze the mock LLM server, so a test can act while a run is certainly unfinished.

A frozen (SIGSTOP) server still has the kernel accept connections and buffer requests, but answers nothing
until it is thawed (SIGCONT): a run started meanwhile can neither progress nor end, whatever the machine's
speed. That turns "subscribe before the run ends" or "cancel before the last request" into an ordering the
test controls instead of a race against the clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psutil

from tests.helpers.mock_llm import MockLLM


def mock_process(mock: MockLLM) -> psutil.Process:
    """The mock's server process: the child of this test process started with its ground-truth file."""
    found = [child for child in psutil.Process().children()
             if str(mock.ground_truth_path) in child.cmdline()]
    assert len(found) == 1, f"expected one mock process for {mock.ground_truth_path}, found {found}"
    return found[0]


@contextmanager
def frozen(mock: MockLLM) -> Iterator[None]:
    """The mock answers nothing inside the block; everything sent meanwhile is answered after it."""
    process = mock_process(mock)
    process.suspend()
    try:
        yield
    finally:
        process.resume()
