"""Benchlab's own client for a provider's API: one choice for the run's process and its load-generator children.

A separate module from transports.py so a load-generator process (load_worker.py) can open its transports
without importing litellm (an import of ~1.8 s that child does not need).
"""

from __future__ import annotations

from benchlab.engine.transport_anthropic import AnthropicTransport
from benchlab.engine.transport_direct import DirectTransport
from benchlab.engine.transport_http import PooledTransport


def open_direct(api: str, api_base: str, api_key: str | None, connections: int, timeout_s: float) -> PooledTransport:
    """The transport for `api` ("anthropic": the Messages API; "openai": OpenAI-compatible), not yet warmed."""
    kind = AnthropicTransport if api == "anthropic" else DirectTransport
    return kind(api_base, api_key, max_connections=connections, timeout_s=timeout_s)
