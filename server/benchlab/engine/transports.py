"""Which transport sends a provider's requests, and how many connections a load profile keeps open."""

from __future__ import annotations

import math

from benchlab.engine.direct_transports import open_direct
from benchlab.engine.executor import Transport
from benchlab.engine.transport_litellm import LiteLLMTransport
from benchlab.spec import (
    ExperimentSpec,
    LoadProfile,
    LoadSpec,
    ProviderSpec,
    ProviderTransport,
    litellm_providers_used,
)

OPEN_LOOP_CONNECTIONS = 256
SWEEP_MAX_CONCURRENCY = 32   # the sweep's "max" phase, when the spec sets no concurrency
STREAMS_PER_PROCESS = 64     # load.processes: auto starts one load-generator process per this many streams


def connections_wanted(load: LoadSpec) -> int:
    """Connections to open per provider: one per closed-loop stream; for open loops, the concurrency cap."""
    if load.profile is LoadProfile.SYNCHRONOUS:
        return 1
    if load.profile is LoadProfile.CONCURRENT:
        return load.concurrency or 1
    wanted = load.max_concurrency or OPEN_LOOP_CONNECTIONS
    if load.profile is LoadProfile.SWEEP:
        wanted = max(wanted, sweep_max_concurrency(load))
    return wanted


def sweep_max_concurrency(load: LoadSpec) -> int:
    """The streams of a sweep's "max" phase, which finds the highest rate the server sustains."""
    return load.max_concurrency or load.concurrency or SWEEP_MAX_CONCURRENCY


def open_transport(provider: ProviderSpec, api_key: str | None, connections: int, timeout_s: float,
                   warm_up_model: str) -> Transport:
    """Benchlab's own client for the API the provider speaks (Anthropic's or OpenAI's), or litellm."""
    if provider.resolved_transport is ProviderTransport.DIRECT:
        return open_direct(provider.direct_api, provider.api_base or "", api_key, connections, timeout_s)
    return LiteLLMTransport(provider.type, provider.api_base, api_key, timeout_s=timeout_s,
                            warm_up_model=warm_up_model)


def load_processes(spec: ExperimentSpec, cores: int) -> int:
    """How many processes send the run's requests (1: the run's own; more: engine/load_pool.py's children).

    `load.processes: auto` starts one per STREAMS_PER_PROCESS streams (connections_wanted), at most one fewer
    than the cores available (the run's own process keeps the schedule and writes the rows; the mock or server
    under test may share the machine) and at least 1; litellm providers keep it at 1. Why 64: one process's
    loop stays under the 1 ms saturation threshold up to about 64 streams at ~6,000 SSE events/s (the client
    costs ~25 us of CPU per event, http_client.py), and the IPC hop costs more than it saves below that.
    """
    processes = spec.load.processes
    if processes is None:
        return 1
    if isinstance(processes, int):
        return processes
    if litellm_providers_used(spec.providers, (model.provider for model in spec.models)):
        return 1
    return max(1, min(math.ceil(connections_wanted(spec.load) / STREAMS_PER_PROCESS), cores - 1))
