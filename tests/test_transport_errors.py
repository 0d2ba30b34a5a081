"""A connection that cannot be made is `connect_error` (the server never saw the request), a connection lost
before the answer was complete is `disconnected`, on the direct transport as on litellm's."""

from __future__ import annotations

from benchlab.engine.deps import EngineDeps
from tests.helpers.engine import event_rows, mock_spec, run_spec
from tests.helpers.server_process import free_port


async def test_a_refused_connection_is_a_connect_error_on_the_direct_path(engine_deps: EngineDeps) -> None:
    spec = mock_spec(f"http://127.0.0.1:{free_port()}/v1", items=2, retries={"max_attempts": 1})  # nobody there
    run = await run_spec(engine_deps, spec)
    rows = await event_rows(engine_deps, run.id, "status, error_type, http_status, error_message")
    assert [(r["status"], r["error_type"], r["http_status"]) for r in rows] == [("error", "connect_error", 0)] * 2
    assert all(r["error_message"].startswith("cannot connect: ") for r in rows), rows
    assert run.status == "failed" and run.error.startswith("every request failed: connect_error x2 (first: cannot")
