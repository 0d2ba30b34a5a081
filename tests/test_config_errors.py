"""Malformed settings through a real `benchlab` process: one line naming the variable, no secret, no traceback.

Each case is a value that used to print its password, escape as a traceback, or both (issue 9).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from benchlab.logging_setup import JsonFormatter, TextFormatter
from tests.helpers.server_process import run_cli

SECRET = "s3cr3t-DO-NOT-PRINT"


def assert_one_line_error(result: subprocess.CompletedProcess[str], variable: str, *hints: str) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert SECRET not in output
    assert "Traceback" not in output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"benchlab: error: {variable}: "), output
    for hint in hints:
        assert hint in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(("variable", "value", "hint"), [
    ("BENCHLAB_DATABASE_URL", f"postgres//bench:{SECRET}@host", "use one of postgresql://"),  # no ':' after scheme
    ("BENCHLAB_DATABASE_URL", f"postgresql://u:{SECRET}@[::1/db", "[ ] around an IPv6 address"),
    ("BENCHLAB_DATABASE_URL", f"postgresql://u:{SECRET}@db:5432x/benchlab", "invalid port"),
    ("BENCHLAB_DATABASE_URL", f"postgresql://u:pa@{SECRET}@[::1/db", "[ ] around an IPv6 address"),  # '@' in it
    ("BENCHLAB_CLICKHOUSE_URL", f"http//default:{SECRET}@ch:8123", "use one of http://"),
    ("BENCHLAB_CLICKHOUSE_URL", f"https://default:{SECRET}@ch:99999", "invalid port"),
    ("BENCHLAB_REDIS_URL", f"redis://:{SECRET}@[cache:6379/0", "[ ] around an IPv6 address"),
    ("BENCHLAB_REDIS_URL", f"amqp://guest:{SECRET}@mq?password={SECRET}", "use one of redis://"),
    ("BENCHLAB_PUBLIC_URL", f"https://admin:{SECRET}@bench.example/", "no path, query or credentials"),
    ("BENCHLAB_PUBLIC_URL", "https://[bench.example", "[ ] around an IPv6 address"),
    ("BENCHLAB_HOST", "bench example", "not an IP address or host name"),
])
def test_malformed_setting_is_one_line_without_the_secret(tmp_path: Path, variable: str, value: str,
                                                          hint: str) -> None:
    result = run_cli(["migrate"], {"BENCHLAB_DATA_DIR": str(tmp_path / "data"), variable: value}, timeout=60)
    assert_one_line_error(result, variable, hint)


def test_malformed_oidc_issuer_hides_its_credentials(tmp_path: Path) -> None:
    env = {"BENCHLAB_DATA_DIR": str(tmp_path / "data"), "BENCHLAB_OIDC_PROVIDERS": "acme"}
    for issuer, hint in ((f"ftp://client:{SECRET}@idp.example", "https:// issuer URL"),
                         (f"https://client:{SECRET}@[idp.example", "[ ] around an IPv6 address")):
        result = run_cli(["migrate"], {**env, "BENCHLAB_OIDC_ACME_ISSUER": issuer}, timeout=60)
        assert_one_line_error(result, "BENCHLAB_OIDC_ACME_ISSUER", hint)


def test_a_data_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("not a directory")
    for data_dir in (tmp_path / "taken", tmp_path / "taken" / "below"):
        result = run_cli(["migrate"], {"BENCHLAB_DATA_DIR": str(data_dir)}, timeout=60)
        assert_one_line_error(result, "BENCHLAB_DATA_DIR", f"{tmp_path / 'taken'} is a file, not a directory")


def test_a_data_dir_with_an_impossible_path(tmp_path: Path) -> None:
    too_long = tmp_path / ("x" * 300) / "data"  # no file system takes a 300-byte name
    result = run_cli(["migrate"], {"BENCHLAB_DATA_DIR": str(too_long)}, timeout=60)
    assert_one_line_error(result, "BENCHLAB_DATA_DIR", "name too long")
    result = run_cli(["migrate"], {"BENCHLAB_DATA_DIR": "~no-such-user-benchlab/data"}, timeout=60)
    assert_one_line_error(result, "BENCHLAB_DATA_DIR", "not a usable path")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc, where no one may create folders")
def test_a_data_dir_that_cannot_be_created(tmp_path: Path) -> None:
    result = run_cli(["migrate"], {"BENCHLAB_DATA_DIR": "/proc/benchlab-test/data"}, timeout=60)
    assert_one_line_error(result, "BENCHLAB_DATA_DIR", "cannot create or write /proc/benchlab-test/data")


def test_a_file_where_embedded_postgres_lives(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "postgres").write_text("in the way")
    result = run_cli(["migrate"], {"BENCHLAB_DATA_DIR": str(tmp_path / "data")}, timeout=60)
    assert_one_line_error(result, "BENCHLAB_DATA_DIR", f"embedded PostgreSQL in {tmp_path / 'data' / 'postgres'}")


def test_log_lines_never_carry_url_passwords_or_tokens() -> None:
    record = logging.makeLogRecord({"name": "redis", "levelname": "WARNING", "levelno": logging.WARNING,
                                    "msg": "lost %s; retrying %s", "args": (f"redis://:{SECRET}@cache:6379/0",
                                                                           f"/auth/local?token={SECRET}")})
    record.target = f"postgresql://bench:{SECRET}@db/benchlab"
    text, entry = TextFormatter().format(record), JsonFormatter().format(record)
    assert SECRET not in text and SECRET not in entry
    assert "redis://:***@cache:6379/0" in text and "token=***" in text
    assert json.loads(entry)["target"] == "postgresql://bench:***@db/benchlab"
