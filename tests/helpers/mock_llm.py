"""Tests start the mock server through the package's own launcher."""

from benchlab.mockllm.process import MockLLM, run_mock_llm

__all__ = ["MockLLM", "run_mock_llm"]
