"""Settings from BENCHLAB_* variables: defaults, and errors that name the variable."""

from pathlib import Path

import pytest

from benchlab.config import Settings, redact_text, redact_url
from benchlab.errors import ConfigError


def test_defaults_are_embedded(tmp_path: Path) -> None:
    settings = Settings.from_env({"BENCHLAB_DATA_DIR": str(tmp_path)})
    assert settings.embedded_postgres
    assert settings.uses_chdb
    assert settings.effective_clickhouse_url == f"chdb://{tmp_path / 'clickhouse'}"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.redis_url is None


def test_external_urls_are_used(tmp_path: Path) -> None:
    settings = Settings.from_env({
        "BENCHLAB_DATA_DIR": str(tmp_path),
        "BENCHLAB_DATABASE_URL": "postgresql://u:p@db:5432/benchlab",
        "BENCHLAB_CLICKHOUSE_URL": "https://ch.example:8443",
        "BENCHLAB_REDIS_URL": "redis://cache:6379/0",
    })
    assert not settings.embedded_postgres
    assert not settings.uses_chdb
    assert not settings.owns_data_dir
    assert settings.redis_url == "redis://cache:6379/0"


@pytest.mark.parametrize(("variable", "value", "hint"), [
    ("BENCHLAB_DATABASE_URL", "mysql://u@h/db", "postgresql://"),
    ("BENCHLAB_DATABASE_URL", "postgresql:///nohost", "names no host"),
    ("BENCHLAB_CLICKHOUSE_URL", "tcp://h:9000", "http://"),
    ("BENCHLAB_REDIS_URL", "amqp://h", "redis://"),
    ("BENCHLAB_PORT", "eighty", "not a whole number"),
    ("BENCHLAB_PORT", "70000", "out of range"),
    ("BENCHLAB_LOG_FORMAT", "xml", "text, json"),
    ("BENCHLAB_CLICKHOUSE_DATABASE", "drop table;", "not a valid database name"),
    ("BENCHLAB_SHARED_SUBSCRIPTIONS", "sometimes", "not a boolean"),
    ("BENCHLAB_SCHEDULER_INTERVAL_S", "61", "out of range; use 0..60"),
    ("BENCHLAB_ALERTS_INTERVAL_S", "-1", "out of range; use 0..86400"),
    ("BENCHLAB_ALERTS_INTERVAL_S", "0.5", "not a whole number"),
    ("BENCHLAB_PRODUCTION_SCORING_INTERVAL_S", "-5", "out of range; use 0..86400"),
    ("BENCHLAB_PRODUCTION_SCORING_INTERVAL_S", "often", "not a whole number"),
])
def test_bad_values_name_the_variable(tmp_path: Path, variable: str, value: str, hint: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"BENCHLAB_DATA_DIR": str(tmp_path), variable: value})
    message = str(raised.value)
    assert message.startswith(f"{variable}: ")
    assert hint in message


@pytest.mark.parametrize(("values", "variable", "hint"), [
    ({"BENCHLAB_METRICS_TOKEN": "short"}, "BENCHLAB_METRICS_TOKEN", "at least 16 printable characters"),
    ({"BENCHLAB_METRICS_TOKEN": "with a space 0123456789"}, "BENCHLAB_METRICS_TOKEN", "without spaces"),
    ({"BENCHLAB_METRICS_PORT": "0"}, "BENCHLAB_METRICS_PORT", "out of range; use 1..65535"),
    ({"BENCHLAB_METRICS_PORT": "nine"}, "BENCHLAB_METRICS_PORT", "not a whole number"),
    ({"BENCHLAB_METRICS_PORT": "9100", "BENCHLAB_METRICS_HOST": "bad host!"}, "BENCHLAB_METRICS_HOST",
     "not an IP address or host name"),
    ({"BENCHLAB_METRICS_HOST": "0.0.0.0"}, "BENCHLAB_METRICS_HOST", "set BENCHLAB_METRICS_PORT too"),
    ({"BENCHLAB_METRICS_PORT": "9100", "BENCHLAB_METRICS_TOKEN": "0123456789abcdef"}, "BENCHLAB_METRICS_TOKEN",
     "checks no token"),
])
def test_bad_metrics_settings_say_what_to_do(tmp_path: Path, values: dict[str, str], variable: str,
                                             hint: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"BENCHLAB_DATA_DIR": str(tmp_path), **values})
    assert str(raised.value).startswith(f"{variable}: ") and hint in str(raised.value)
    assert "0123456789abcdef" not in str(raised.value)  # a token is never repeated back


def test_metrics_settings(tmp_path: Path) -> None:
    base = {"BENCHLAB_DATA_DIR": str(tmp_path)}
    default = Settings.from_env(base)
    assert (default.metrics_token, default.metrics_port, default.metrics_host) == (None, None, "127.0.0.1")
    token = Settings.from_env({**base, "BENCHLAB_METRICS_TOKEN": "0123456789abcdef"})
    assert token.metrics_token == "0123456789abcdef" and "0123456789abcdef" not in repr(token)
    port = Settings.from_env({**base, "BENCHLAB_METRICS_PORT": "9100", "BENCHLAB_METRICS_HOST": "::"})
    assert (port.metrics_port, port.metrics_host) == (9100, "::")


def test_shared_subscriptions_are_on_unless_switched_off(tmp_path: Path) -> None:
    base = {"BENCHLAB_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(base).shared_subscriptions
    assert not Settings.from_env({**base, "BENCHLAB_SHARED_SUBSCRIPTIONS": "false"}).shared_subscriptions


def test_errors_never_show_passwords(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"BENCHLAB_DATA_DIR": str(tmp_path),
                           "BENCHLAB_CLICKHOUSE_URL": "tcp://admin:hunter2@h:9000"})
    assert "hunter2" not in str(raised.value)
    assert redact_url("postgresql://u:s3cret@h/db") == "postgresql://u:***@h/db"


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://u:s3cret@h/db", "postgresql://u:***@h/db"),
    ("postgres//bench:s3cret@host", "postgres//bench:***@host"),              # not a URL urllib can split
    ("postgresql://u:s3cret@[::1/db", "postgresql://u:***@[::1/db"),          # urlsplit raises ValueError
    ("postgresql://u:p@s3cret/x@h:5432/db", "postgresql://u:***@h:5432/db"),  # '@' and '/' in the password
    ("postgres:bench:s3cret@host", "postgres:***@host"),                     # no '//' at all
    ("redis://s3cret@cache:6379", "redis://***@cache:6379"),                  # a bare token as user info
    ("postgresql://h/db?user=u&password=s3cret", "postgresql://h/db?user=u&password=***"),
    ("host=h password='s3cret x' dbname=d", "host=h password=*** dbname=d"),  # a keyword DSN
    ("chdb:///var/lib/benchlab/clickhouse", "chdb:///var/lib/benchlab/clickhouse"),
    ("http://ch:8123", "http://ch:8123"),
])
def test_redact_url_masks_credentials_of_any_shape(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_masks_urls_and_the_known_password_in_free_text() -> None:
    url = "postgresql://u:pa@s3cret@h/db"
    text = redact_text(f"cannot use {url}: host spec 'pa@s3cret@h' ({url!r}) token=abc", url)
    assert "s3cret" not in text and "abc" not in text
    assert "postgresql://u:***@h/db" in text


def test_production_scoring_interval(tmp_path: Path) -> None:
    """Seconds between production scorer ticks (docs/production.md): 30 by default, 0 turns this process's off."""
    assert Settings.from_env({"BENCHLAB_DATA_DIR": str(tmp_path)}).production_scoring_interval_s == 30
    assert Settings.from_env({"BENCHLAB_DATA_DIR": str(tmp_path),
                              "BENCHLAB_PRODUCTION_SCORING_INTERVAL_S": "0"}).production_scoring_interval_s == 0
