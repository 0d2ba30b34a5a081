"""Valid `request_events` rows for tests, in the table's column order as ClickHouse reports it.

Values are keyed by column name rather than position, so a migration that adds a column only needs a
default here, and tests never depend on a hand-copied column list.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from benchlab.stores.clickhouse import ClickHouseStore

PROJECT_ID = uuid.UUID("00000000-0000-4000-8000-000000000001")
RUN_ID = uuid.UUID("00000000-0000-4000-8000-000000000002")
EXPERIMENT_ID = uuid.UUID("00000000-0000-4000-8000-000000000003")
BASE_TS = datetime(2025, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


async def table_columns(store: ClickHouseStore, table: str = "request_events") -> tuple[str, ...]:
    result = await store.query("SELECT name FROM system.columns WHERE database = currentDatabase() "
                               "AND table = {t:String} ORDER BY position", {"t": table}, caller="tests")
    return tuple(name for (name,) in result.rows)


def event_row(columns: tuple[str, ...], n: int, **overrides: Any) -> tuple[Any, ...]:
    """Row number `n` of a run: a deterministic event id, a successful streamed request."""
    gaps = [12.5 + (n + i) % 7 for i in range(8)]
    values: dict[str, Any] = {
        "project_id": PROJECT_ID, "run_id": RUN_ID, "experiment_id": EXPERIMENT_ID,
        "event_id": uuid.uuid5(RUN_ID, f"item-{n}/0"), "item_id": f"item-{n}", "repetition": 0, "attempt": 1,
        "provider": "mock", "model": "mock-model", "prompt_version": "v1", "params_hash": "p0",
        "source": "experiment", "load_phase": "main", "ts": BASE_TS + timedelta(milliseconds=n),
        "in_window": True, "run_offset_s": n / 1000, "first_on_connection": n == 0, "queue_delay_ms": 0.5,
        "ttft_ms": 120.0 + n % 50,
        "ttfot_ms": 121.0, "e2e_ms": 480.0, "e2e_from_intended_ms": 481.0, "stream_end_ms": 479.0,
        "tpot_ms": sum(gaps) / len(gaps), "inter_event_ms": gaps, "tokens_per_event": [1] * len(gaps),
        "prompt_tokens": 42, "completion_tokens": len(gaps) + 1, "reasoning_tokens": 0, "cached_tokens": 0,
        "tokens_estimated": False, "cost_usd": 0.000125, "cost_known": True, "status": "ok", "error_type": "",
        "http_status": 200,
        "finish_reason": "stop", "output": f"answer {n}", "tool_calls": "", "error_message": "",
        "input": "",
    }
    values.update(overrides)
    return tuple(values[name] for name in columns)
