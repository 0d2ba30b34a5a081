"""The litellm callback (benchlab.client.litellm_callback) through real litellm against the mock LLM server, sending
to a real `benchlab serve` process: streamed, plain, sync and failed calls arrive as production rows with their
timing, tokens, cost and content; a stalled Benchlab does not slow the application's calls (the send is off the
caller's path), a full queue drops and counts, 503s are retried, and the exit flush is bounded. The rows are read
back from the server's ClickHouse through its worker relay (a worker token from the server's own secret key).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import litellm
import pytest
from cryptography.fernet import Fernet
from litellm.proxy.common_utils.callback_utils import _loaded_callback_or_raise
from litellm.proxy.types_utils.utils import get_instance_fn

from benchlab.catalog import register_experiment
from benchlab.client.litellm_callback import BenchlabCallback
from benchlab.secrets import SecretBox, load_secret_box, mint_worker_token
from benchlab.spec import load_spec
from tests.helpers.access import make_key
from tests.helpers.engine import mock_spec
from tests.helpers.mock_llm import MockLLM, run_mock_llm
from tests.helpers.polling import eventually
from tests.helpers.server_process import ServerProcess, child_env

NIL = "00000000-0000-0000-0000-000000000000"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Count for me."}]
# The recorded TTFT is checked against two bounds taken in the same call: it cannot be below the mock's scheduled
# TTFT (the first token is written no earlier), and it cannot be above the time the application itself saw the
# first content chunk, measured around `acompletion` (litellm's start is after the app's, and it stamps
# `completion_start_time` before handing the chunk over). The band between is the client's own delay (loopback
# transfer, litellm's per-chunk processing, event-loop scheduling): 5-30 ms on an idle machine, more on a loaded
# 2-core one, which a fixed tolerance would turn into a flaky test; its width is printed.
EPSILON_MS = 1.0  # clock granularity and float rounding between litellm's datetimes and perf_counter


@pytest.fixture(scope="module")
def mock() -> Iterator[MockLLM]:
    # role_first_event off: litellm's completion_start_time is its first chunk of any kind, so a server that opens
    # the stream with a role-only chunk at once makes it the time to that chunk (docs/ingest.md says so).
    with run_mock_llm(role_first_event=False) as server:
        yield server


@pytest.fixture
async def keyed(pg: asyncpg.Connection) -> dict[str, Any]:
    registered = await register_experiment(pg, load_spec(mock_spec("http://127.0.0.1:9/v1", project="app")),
                                           SecretBox(Fernet.generate_key()))
    return {"id": registered.project_id, "key": await make_key(pg, registered.project_id, "member")}


_CALLBACK_LISTS = ("callbacks", "input_callback", "success_callback", "failure_callback", "_async_success_callback",
                   "_async_failure_callback")


@pytest.fixture(params=[False, True], ids=["streaming-logging", "no-streaming-logging"])
def callbacks(request: pytest.FixtureRequest) -> Iterator[None]:
    """litellm's global callback lists as they were, after the test (litellm copies `callbacks` into the others
    on each call). Both settings of `disable_streaming_logging`: off is litellm's default, on is what Benchlab's
    engine sets in its process; the callback must see streamed calls either way."""
    saved = {name: list(getattr(litellm, name)) for name in _CALLBACK_LISTS}
    saved_streaming = litellm.disable_streaming_logging
    litellm.disable_streaming_logging = request.param
    yield
    for name, value in saved.items():
        getattr(litellm, name)[:] = value
    litellm.disable_streaming_logging = saved_streaming


def stored_rows(server: ServerProcess, project_id: Any) -> list[dict[str, Any]]:
    token = mint_worker_token(load_secret_box(None, Path(server.env["BENCHLAB_DATA_DIR"])), "test")
    answer = httpx.post(f"{server.base_url}/worker/v1/query", headers={"Authorization": f"Bearer {token}"}, json={
        "sql": "SELECT model, provider, source, toString(run_id), toString(experiment_id), item_id, status, "
               "error_type, error_message, http_status, ttft_ms, tpot_ms, e2e_ms, prompt_tokens, completion_tokens, "
               "cost_usd, cost_known, finish_reason, output, input FROM request_events "
               "WHERE project_id = {p:UUID} ORDER BY ts",
        "parameters": {"p": {"$uuid": str(project_id)}}, "caller": "test"}, timeout=30)
    answer.raise_for_status()
    body = answer.json()
    return [dict(zip(body["columns"], row, strict=True)) for row in body["rows"]]


async def call(mock: MockLLM, model: str, *, stream: bool, **extra: Any) -> tuple[str, float, float]:
    """The answer, and when the application saw its first content and its end (ms after it made the call)."""
    started = time.perf_counter()
    response = await litellm.acompletion(model=f"openai/{model}", api_base=mock.base_url, api_key="sk-mock",
                                         messages=MESSAGES, stream=stream, num_retries=0,
                                         **({"stream_options": {"include_usage": True}} if stream else {}), **extra)
    if not stream:
        spent = (time.perf_counter() - started) * 1000
        return str(response.choices[0].message.content), spent, spent
    text, first = "", 0.0
    async for chunk in response:
        if chunk.choices and chunk.choices[0].delta.content:
            first = first or (time.perf_counter() - started) * 1000
            text += chunk.choices[0].delta.content
    return text, first, (time.perf_counter() - started) * 1000


async def test_calls_arrive_as_production_rows_with_their_timing_tokens_cost_and_content(
        live_server: ServerProcess, keyed: dict[str, Any], mock: MockLLM, callbacks: None,
        caplog: pytest.LogCaptureFixture) -> None:
    callback = BenchlabCallback(url=live_server.base_url, api_key=keyed["key"], flush_interval_s=0.1)
    litellm.callbacks = [callback]
    caplog.set_level(logging.DEBUG, logger="benchlab.client.litellm_callback")
    warm_up = "mock-llm?ttft_ms=5&output_tokens=2"  # pays litellm's one-time set-up (recorded, not timed here)
    await call(mock, warm_up, stream=True)

    streamed = "mock-llm?ttft_ms=300&gap_ms=10&output_tokens=8"
    text, seen_first_ms, seen_end_ms = await call(mock, streamed, stream=True, input_cost_per_token=1e-6,
                                                  output_cost_per_token=2e-6)
    assert text == "".join(f"tok{i} " for i in range(8))
    plain = "mock-llm?ttft_ms=100&gap_ms=5&output_tokens=6"
    _, _, plain_seen_ms = await call(mock, plain, stream=False)
    failing = "mock-llm?fault=500"
    with pytest.raises(litellm.InternalServerError):
        await call(mock, failing, stream=False)
    sync_streamed = "mock-llm?ttft_ms=200&gap_ms=5&output_tokens=4"

    def sync_call() -> list[float]:
        started, first = time.perf_counter(), []
        for chunk in litellm.completion(model=f"openai/{sync_streamed}", api_base=mock.base_url, api_key="sk-mock",
                                        messages=MESSAGES, stream=True, stream_options={"include_usage": True}):
            if not first and chunk.choices and chunk.choices[0].delta.content:
                first.append((time.perf_counter() - started) * 1000)
        return first

    sync_seen = await asyncio.to_thread(sync_call)
    sync_failing = "mock-llm?fault=429&output_tokens=2"

    def sync_failing_call() -> None:
        with pytest.raises(litellm.RateLimitError):
            litellm.completion(model=f"openai/{sync_failing}", api_base=mock.base_url, api_key="sk-mock",
                               messages=MESSAGES, num_retries=0)

    await asyncio.to_thread(sync_failing_call)

    rows = await eventually(lambda: (r := stored_rows(live_server, keyed["id"])) and len(r) >= 6 and r,
                            "the six calls in Benchlab", within_s=30)
    by_model = {row["model"]: row for row in rows}
    assert len(rows) == 6 and set(by_model) == {warm_up, streamed, plain, failing, sync_streamed, sync_failing}, rows
    for row in rows:
        assert (row["source"], row["toString(run_id)"], row["toString(experiment_id)"]) == ("production", NIL, NIL)
        assert row["provider"] == "openai" and len(row["item_id"]) == 32
        assert json.loads(row["input"]) == MESSAGES

    stream_row = by_model[streamed]
    assert stream_row["status"] == "ok" and stream_row["http_status"] == 200 and stream_row["finish_reason"] == "stop"
    assert 300 - EPSILON_MS <= stream_row["ttft_ms"] <= seen_first_ms + EPSILON_MS, (stream_row, seen_first_ms)
    # A stream's end is litellm's end_time, stamped when its logging task runs just after the stream: a little
    # after the application saw the end (an idle event loop here: well under 100 ms).
    assert 300 + 7 * 10 - EPSILON_MS <= stream_row["e2e_ms"] <= seen_end_ms + 100
    print(f"TTFT: mock 300 ms, recorded {stream_row['ttft_ms']:.1f} ms, seen by the app {seen_first_ms:.1f} ms")
    assert stream_row["tpot_ms"] == pytest.approx((stream_row["e2e_ms"] - stream_row["ttft_ms"]) / 7, rel=1e-4)
    assert stream_row["completion_tokens"] == 8 and stream_row["prompt_tokens"] > 0
    assert stream_row["output"] == "".join(f"tok{i} " for i in range(8))
    assert stream_row["cost_known"] is True
    assert stream_row["cost_usd"] == pytest.approx(stream_row["prompt_tokens"] * 1e-6 + 8 * 2e-6)

    sync_row = by_model[sync_streamed]
    assert 200 - EPSILON_MS <= sync_row["ttft_ms"] <= sync_seen[0] + EPSILON_MS, (sync_row, sync_seen)
    assert sync_row["completion_tokens"] == 4

    plain_row = by_model[plain]
    assert plain_row["status"] == "ok" and plain_row["completion_tokens"] == 6
    assert plain_row["ttft_ms"] == 0 and plain_row["tpot_ms"] == 0  # no stream: no first token to time
    assert 100 + 5 * 5 - EPSILON_MS <= plain_row["e2e_ms"] <= plain_seen_ms + EPSILON_MS
    assert plain_row["cost_known"] is False  # the mock model has no price in litellm's map

    failed = by_model[failing]
    assert (failed["status"], failed["error_type"], failed["http_status"]) == ("error", "InternalServerError", 500)
    assert "mock fault 500" in failed["error_message"] and failed["output"] == ""
    sync_failed = by_model[sync_failing]
    assert (sync_failed["status"], sync_failed["error_type"], sync_failed["http_status"]) == \
        ("error", "RateLimitError", 429)

    assert callback.flush(5) and (callback.sent, callback.dropped, callback.failed) == (6, 0, 0)
    assert keyed["key"] not in caplog.text and keyed["key"] not in repr(callback)
    callback.close(1)


class _Stalled:
    """A TCP server that takes connections and never answers: a Benchlab that hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"


async def test_a_stalled_benchlab_does_not_slow_the_calls_and_the_exit_flush_is_bounded(
        mock: MockLLM, callbacks: None, caplog: pytest.LogCaptureFixture) -> None:
    stalled = _Stalled()
    model = "mock-llm?ttft_ms=40&gap_ms=2&output_tokens=5"
    await call(mock, model, stream=True)  # warm up litellm

    async def timed(n: int) -> list[float]:
        spent = []
        for _ in range(n):
            spent.append((await call(mock, model, stream=True))[2])
        return spent

    without = await timed(8)
    key = "blk_0123456789ab_secretsecretsecret"
    callback = BenchlabCallback(url=stalled.url, api_key=key, max_queue=3, batch_size=2, flush_interval_s=0,
                                timeout_s=60, exit_timeout_s=1)
    litellm.callbacks = [callback]
    with_callback = await timed(8)
    await eventually(lambda: callback.dropped + callback.queued >= 6, "the calls to be queued or dropped",
                     within_s=10)
    # The sender is stuck on its first POST (60 s timeout); the application's calls took as long as without the
    # callback (medians within scheduling noise on a shared 2-core machine), none waited for that POST.
    assert statistics.median(with_callback) <= statistics.median(without) + 25, (without, with_callback)
    assert max(with_callback) < 1000, with_callback
    print(f"call ms without the callback {sorted(without)}, with a stalled Benchlab {sorted(with_callback)}")
    assert callback.sent == 0 and callback.dropped >= 3  # queue of 3, two in the stuck batch, 8 calls

    started = time.monotonic()
    callback.close()  # the exit flush: bounded by exit_timeout_s although the server never answers
    assert time.monotonic() - started < 1.5
    assert key not in caplog.text and key not in repr(callback)
    stalled.sock.close()


class _Flaky(BaseHTTPRequestHandler):
    """Answers 503 (Retry-After: 0) to the first two posts, then 200 with an OTLP/JSON response."""

    bodies: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 (the stdlib's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append(body)
        failing = len(type(self).bodies) <= 2
        answer = b'{"code": 14, "message": "busy"}' if failing else b"{}"
        self.send_response(503 if failing else 200)
        if failing:
            self.send_header("Retry-After", "0")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


async def test_503_is_retried_with_the_same_batch(mock: MockLLM, callbacks: None) -> None:
    _Flaky.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        callback = BenchlabCallback(url=f"http://127.0.0.1:{server.server_address[1]}/", api_key="blk_x",
                                    flush_interval_s=0.3)
        litellm.callbacks = [callback]
        for _ in range(2):
            await call(mock, "mock-llm?ttft_ms=5&output_tokens=3", stream=False)
        await eventually(lambda: callback.sent == 2, "the batch to be accepted after two 503s", within_s=20)
        assert len(_Flaky.bodies) == 3 and len(set(_Flaky.bodies)) == 1  # the same batch, sent three times
        export = json.loads(gzip.decompress(_Flaky.bodies[0]))
        spans = export["resourceSpans"][0]["scopeSpans"][0]["spans"]
        assert len(spans) == 2 and {s["name"] for s in spans} == {"chat mock-llm?ttft_ms=5&output_tokens=3"}
        assert callback.failed == 0
        callback.close(1)
    finally:
        server.shutdown()


def test_configuration_from_the_environment_and_the_proxy_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCHLAB_URL", raising=False)
    monkeypatch.delenv("BENCHLAB_API_KEY", raising=False)
    with pytest.raises(ValueError, match="BENCHLAB_URL and BENCHLAB_API_KEY"):
        BenchlabCallback()
    with pytest.raises(ValueError, match="must start with http"):
        BenchlabCallback(url="bench.example.com", api_key="blk_x")
    monkeypatch.setenv("BENCHLAB_URL", "https://bench.example.com/")
    monkeypatch.setenv("BENCHLAB_API_KEY", "blk_0123456789ab_secret")
    # What the litellm proxy does with `litellm_settings: callbacks: ["benchlab.client.litellm_callback.proxy_handler"]`
    # (proxy/common_utils/callback_utils.py: initialize_callbacks_on_proxy, for each entry that names a module).
    entry = "benchlab.client.litellm_callback.proxy_handler"
    handler = _loaded_callback_or_raise(entry=entry, loaded=get_instance_fn(value=entry,
                                                                            config_file_path="/srv/proxy/config.yaml"))
    assert isinstance(handler, BenchlabCallback) and handler.endpoint == "https://bench.example.com/v1/traces"
    assert "secret" not in repr(handler)
    handler.close(0)


APP = """
import os, sys, time
import litellm
from benchlab.client.litellm_callback import BenchlabCallback

litellm.callbacks = [BenchlabCallback(url=sys.argv[1], flush_interval_s=60, exit_timeout_s=float(sys.argv[3]))]
litellm.completion(model="openai/mock-llm?ttft_ms=20&output_tokens=3", api_base=sys.argv[2], api_key="sk-mock",
                   messages=[{"role": "user", "content": "last words"}])
print("called", flush=True)
"""


def test_an_exiting_application_flushes_its_queue_within_the_exit_timeout(
        live_server: ServerProcess, keyed: dict[str, Any], mock: MockLLM, tmp_path: Path) -> None:
    """A real process: the call is still queued when the script ends (the batch would wait 60 s); the exit flush
    sends it. Against a Benchlab that never answers, the process still ends within its exit timeout."""
    script = tmp_path / "app.py"
    script.write_text(APP)
    env = {**child_env({"BENCHLAB_API_KEY": keyed["key"]}), "LITELLM_LOCAL_MODEL_COST_MAP": "True"}

    def run(url: str, exit_timeout_s: float) -> tuple[float, str]:
        process = subprocess.Popen([sys.executable, str(script), url, mock.base_url, str(exit_timeout_s)], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert process.stdout is not None and process.stdout.readline() == "called\n"
        called = time.monotonic()
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        return time.monotonic() - called, stderr

    spent, _ = run(live_server.base_url, 10)
    assert spent < 10
    (row,) = stored_rows(live_server, keyed["id"])
    assert row["model"] == "mock-llm?ttft_ms=20&output_tokens=3" and json.loads(row["input"]) == [
        {"role": "user", "content": "last words"}]

    stalled = _Stalled()
    spent, stderr = run(stalled.url, 1)
    assert spent < 1 + 2, spent  # the exit timeout, and the interpreter's own teardown
    assert "not sent" in stderr or "unsent" in stderr, stderr
    assert keyed["key"] not in stderr
    stalled.sock.close()
