"""Access logs: one line per request with method, path, status, duration and request id; JSON on request."""

from __future__ import annotations

import json
import logging

import pytest
from starlette.testclient import TestClient

from benchlab.logging_setup import JsonFormatter, TextFormatter


def test_one_access_line_per_request(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="benchlab.http")
    response = client.post("/graphql?token=should-not-be-logged", json={"query": "{ serverInfo { version } }"},
                           headers={"X-Request-ID": "req-123"})
    assert response.status_code == 200
    lines = [r for r in caplog.records if r.name == "benchlab.http"]
    assert len(lines) == 1
    record = lines[0]
    assert (record.method, record.path, record.status, record.request_id) == ("POST", "/graphql", 200, "req-123")
    assert record.duration_ms >= 0
    assert "should-not-be-logged" not in caplog.text


def _record(**extra: object) -> logging.LogRecord:
    record = logging.makeLogRecord({"name": "benchlab.http", "levelname": "INFO", "levelno": logging.INFO,
                                    "msg": "GET %s", "args": ("/healthz",)})
    record.__dict__.update(extra)
    return record


def test_json_format_is_one_object_per_line() -> None:
    line = JsonFormatter().format(_record(request_id="abc", status=200, duration_ms=1.5))
    entry = json.loads(line)
    assert "\n" not in line
    assert entry["msg"] == "GET /healthz"
    assert (entry["request_id"], entry["status"], entry["duration_ms"]) == ("abc", 200, 1.5)
    assert entry["level"] == "INFO" and entry["ts"].endswith("Z")


def test_text_format_keeps_the_fields() -> None:
    line = TextFormatter().format(_record(request_id="abc", status=200))
    assert "GET /healthz" in line and "request_id=abc" in line and "status=200" in line
