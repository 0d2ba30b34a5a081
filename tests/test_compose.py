"""The full-stack deployment files agree with each other and with what the server reads.

Static checks of docker-compose.yml, the Dockerfile and Grafana's provisioning (no Docker engine needed): a typo
in a variable name, a URL naming a service that does not exist, or a mount of a missing file fails here instead
of at `docker compose up`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

import benchlab.config
from benchlab.config import Settings

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
PROVISIONING = REPO / "dashboards" / "provisioning"
DATASOURCES_FILE = PROVISIONING / "datasources" / "datasources.yaml"
DASHBOARD_PROVIDERS_FILE = PROVISIONING / "dashboards" / "dashboards.yaml"
CLICKHOUSE_USERS_FILE = REPO / "clickhouse" / "docker" / "users.d" / "grafana_readonly.xml"
POSTGRES_INIT_FILE = REPO / "postgres" / "docker-init" / "01_grafana_readonly.sh"
NGINX_CONF = REPO / "deploy" / "nginx-scale.conf"

# The stores the server needs in full-stack mode, by URL variable, and the service each should name.
STORE_URLS = {
    "BENCHLAB_DATABASE_URL": "postgres",
    "BENCHLAB_CLICKHOUSE_URL": "clickhouse",
    "BENCHLAB_REDIS_URL": "redis",
}
# The port each store image listens on inside the compose network (ClickHouse: its HTTP interface).
IMAGE_PORTS = {
    "postgres": 5432,
    "clickhouse/clickhouse-server": 8123,
    "redis": 6379,
    "valkey/valkey": 6379,
}
DATASOURCE_UIDS = {"benchlab-clickhouse", "benchlab-postgres"}

# The compose profile `scale` (docs/scale-out.md) and its services; everything else is the default stack.
SCALE_PROFILE = "scale"
DEFAULT_SERVICES = {"server", "postgres", "clickhouse", "redis", "grafana"}
API_REPLICAS = ("api-1", "api-2")
WORKERS = ("worker-1", "worker-2")
PROXY = "proxy"
SECRET_KEY_CHECK = "secret-key-check"
SCALE_SERVICES = {*API_REPLICAS, *WORKERS, PROXY, SECRET_KEY_CHECK}
# What every benchlab process must name exactly as `server` does: the same stores, the same key.
SHARED_VARIABLES = (*sorted(STORE_URLS), "BENCHLAB_CLICKHOUSE_DATABASE", "BENCHLAB_SECRET_KEY")
# The server's paths the proxy must send to the replicas (one example path each).
PROXIED_PATHS = ("/graphql", "/graphql/assets/graphiql/graphiql.min.js", "/auth/login", "/auth/callback/acme",
                 "/ingest/v1/events", "/healthz", "/readyz")
# Variables other than BENCHLAB_* that a benchlab container may set, and the library that reads them.
LIBRARY_VARIABLES = {"FORWARDED_ALLOW_IPS": "uvicorn (trusted proxy addresses)"}


# --- compose variable substitution ----------------------------------------------------------------------------

_SUBSTITUTION = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def resolve(value: str, env: dict[str, str] | None = None) -> str:
    """Expand compose's `$$`, `${VAR}`, `${VAR:-default}`, `${VAR-default}` and `${VAR:?error}` in `value`.

    `env` stands for the shell running `docker compose` (empty by default: the file must work out of the box),
    so a variable with neither a value nor a default is an error here rather than compose's silent "".
    """
    env = env or {}

    def expand(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["name"] or match["bare"]
        op = match["op"]
        current = env.get(name)
        if op == ":-":
            return current or match["arg"]
        if op == "-":
            return match["arg"] if current is None else current
        if current is None or (op == ":?" and current == ""):
            raise AssertionError(f"${{{name}}} has no default in {COMPOSE_FILE.name}; give it one (${{{name}:-...}})")
        return current

    return _SUBSTITUTION.sub(expand, value)


def _resolve_all(node: Any) -> Any:
    if isinstance(node, str):
        return resolve(node)
    if isinstance(node, dict):
        return {key: _resolve_all(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve_all(item) for item in node]
    return node


# --- loading --------------------------------------------------------------------------------------------------

def _raw_compose() -> dict[str, Any]:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE.name} is missing from the repository root"
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _compose() -> dict[str, Any]:
    """docker-compose.yml as compose would run it with an empty environment (every default applied)."""
    return _resolve_all(_raw_compose())


def _services() -> dict[str, dict[str, Any]]:
    services = _compose().get("services") or {}
    assert services, f"{COMPOSE_FILE.name} defines no services"
    return services


def _service(name: str) -> dict[str, Any]:
    services = _services()
    assert name in services, f"{COMPOSE_FILE.name} has no '{name}' service (services: {sorted(services)})"
    return services[name]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's `environment`, in either of compose's forms (mapping or list of KEY=VALUE)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(key): "" if value is None else str(value) for key, value in env.items()}


def _image_name(service: dict[str, Any]) -> str:
    """`postgres:18` -> `postgres`; `docker.io/library/postgres` and digests are normalised too."""
    image = str(service.get("image", "")).split("@", 1)[0]
    name = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    for prefix in ("docker.io/library/", "docker.io/"):
        name = name.removeprefix(prefix)
    return name


def _volume_mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, target) for each of a service's volumes, short (`src:dst[:mode]`) or long syntax."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            mounts.append((str(volume.get("source", "")), str(volume.get("target", ""))))
        else:
            parts = str(volume).split(":")
            mounts.append((parts[0], parts[1]) if len(parts) > 1 else ("", parts[0]))
    return mounts


def _is_bind_mount(source: str) -> bool:
    return source.startswith((".", "/", "~"))


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with line continuations joined and comments dropped."""
    assert DOCKERFILE.is_file(), f"{DOCKERFILE.name} is missing from the repository root"
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, arguments = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
        pending = ""
    return instructions


def _exec_form(arguments: str) -> list[str]:
    """A CMD/ENTRYPOINT's argv: the JSON (exec) form, or the shell form as `sh -c` would split it."""
    if arguments.startswith("["):
        return json.loads(arguments)
    return shlex.split(arguments)


def _datasources() -> dict[str, dict[str, Any]]:
    assert DATASOURCES_FILE.is_file(), f"{DATASOURCES_FILE.relative_to(REPO)} is missing"
    document = yaml.safe_load(DATASOURCES_FILE.read_text())
    assert document.get("apiVersion") == 1, "Grafana provisioning files need apiVersion: 1"
    return {str(source.get("uid")): source for source in document.get("datasources") or []}


def _raw_services() -> dict[str, dict[str, Any]]:
    """Services before variable substitution: `${VAR:-default}` as written (to compare which variable is named)."""
    return _raw_compose().get("services") or {}


def _profiles(service: dict[str, Any]) -> list[str]:
    return [str(profile) for profile in service.get("profiles") or []]


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    """depends_on as {service: condition}; the list form means service_started."""
    depends_on = service.get("depends_on") or {}
    if isinstance(depends_on, list):
        return dict.fromkeys(map(str, depends_on), "service_started")
    return {str(name): str((options or {}).get("condition", "service_started")) for name, options in depends_on.items()}


def _has_healthcheck(service: dict[str, Any]) -> bool:
    check = service.get("healthcheck") or {}
    test = check.get("test")
    return not check.get("disable") and bool(test) and test != ["NONE"]


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def _is_worker(service: dict[str, Any]) -> bool:
    return _command(service)[:2] == ["benchlab", "worker"]


def _is_one_shot(service: dict[str, Any]) -> bool:
    return str(service.get("restart", "no")) == "no" and bool(service.get("command"))


def _is_benchlab_image(service: dict[str, Any]) -> bool:
    return service.get("build") is not None or _image_name(service) == _image_name(_service("server"))


def _ports(service: dict[str, Any]) -> list[tuple[str, int]]:
    """(published host port, container port) for each `ports` entry (short or long syntax); `expose` counts too,
    with no host port."""
    ports: list[tuple[str, int]] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            ports.append((str(entry.get("published", "")), int(entry["target"])))
        else:
            parts = str(entry).split("/", 1)[0].rsplit(":", 2)
            ports.append((parts[-2] if len(parts) > 1 else "", int(parts[-1])))
    ports += [("", int(str(entry).split("/", 1)[0])) for entry in service.get("expose") or []]
    return ports


def _config_variable_names() -> set[str]:
    """Every BENCHLAB_* name that appears in benchlab/config.py's source, i.e. every variable it can read."""
    source = Path(benchlab.config.__file__).read_text()
    names = set(re.findall(r"\bBENCHLAB_[A-Z0-9_]+\b", source))
    # Guard against the regex finding nothing (e.g. config.py building names dynamically): that would make
    # the typo check below pass vacuously.
    assert {"BENCHLAB_DATABASE_URL", "BENCHLAB_CLICKHOUSE_URL", "BENCHLAB_REDIS_URL"} <= names, (
        f"could not find the store variables in {benchlab.config.__file__}; found {sorted(names)}")
    return names


# --- nginx configuration (deploy/nginx-scale.conf) ------------------------------------------------------------

@dataclass
class Directive:
    """One nginx directive: `name args...;` or `name args... { children }` (children is None for the first)."""

    name: str
    args: list[str]
    children: list[Directive] | None = field(default=None)

    def all(self, name: str) -> list[Directive]:
        return [child for child in self.children or [] if child.name == name]

    def first(self, name: str) -> Directive | None:
        found = self.all(name)
        return found[0] if found else None


_NGINX_TOKEN = re.compile(r"""\s+|#[^\n]*|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|([{};])|([^\s{};'"#]+)""")


def _parse_nginx(text: str) -> list[Directive]:
    """nginx's syntax: words and quoted strings ended by `;` or followed by a `{ block }`; `#` comments."""
    stack: list[list[Directive]] = [[]]
    words: list[str] = []
    position = 0
    while position < len(text):
        match = _NGINX_TOKEN.match(text, position)
        assert match, f"{NGINX_CONF.name}: cannot read from {text[position:position + 40]!r}"
        position = match.end()
        single, double, punctuation, word = match.groups()
        if punctuation == ";":
            assert words, f"{NGINX_CONF.name}: an empty statement"
            stack[-1].append(Directive(words[0], words[1:]))
            words = []
        elif punctuation == "{":
            assert words, f"{NGINX_CONF.name}: a block without a name"
            children: list[Directive] = []
            stack[-1].append(Directive(words[0], words[1:], children))
            stack.append(children)
            words = []
        elif punctuation == "}":
            assert not words and len(stack) > 1, f"{NGINX_CONF.name}: unbalanced }} or a missing ;"
            stack.pop()
        elif single is not None or double is not None:
            words.append(single if single is not None else double)
        elif word is not None:
            words.append(word)
    assert len(stack) == 1 and not words, f"{NGINX_CONF.name}: unclosed block or a missing ;"
    return stack[0]


def _matching_location(server: Directive, path: str) -> Directive | None:
    """The location nginx picks for `path`: an exact `=` match, else the longest prefix (no regex locations)."""
    best: Directive | None = None
    for location in server.all("location"):
        modifier, prefix = (location.args[0], location.args[1]) if len(location.args) > 1 else ("", location.args[0])
        assert modifier in ("", "=", "^~"), f"regex location {location.args} is beyond this test's matcher"
        if modifier == "=" and path == prefix:
            return location
        if modifier != "=" and path.startswith(prefix) and (best is None or len(prefix) > len(best.args[-1])):
            best = location
    return best


def _effective(location: Directive, server: Directive, http: Directive, name: str) -> list[Directive]:
    """A directive as nginx applies it in `location`: the innermost level that sets it replaces the outer ones."""
    for level in (location, server, http):
        found = level.all(name)
        if found:
            return found
    return []


def _nginx_seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "": 1}
    parts = re.fullmatch(r"(\d+)(ms|s|m|h|d|)", value)
    assert parts, f"not an nginx time: {value!r}"
    return int(parts[1]) * units[parts[2]]


def _nginx_bytes(value: str) -> int:
    parts = re.fullmatch(r"(\d+)([kKmMgG]?)", value)
    assert parts, f"not an nginx size: {value!r}"
    return int(parts[1]) * {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[parts[2].lower()]


# --- the resolver itself --------------------------------------------------------------------------------------

def test_substitution_resolver_applies_compose_rules() -> None:
    assert resolve("a${X:-dflt}b") == "adfltb"
    assert resolve("${X:-dflt}", {"X": ""}) == "dflt", ":- treats an empty value as unset"
    assert resolve("${X-dflt}", {"X": ""}) == "", "- keeps an empty value"
    assert resolve("${X:-dflt}", {"X": "set"}) == "set"
    assert resolve("$$(hostname) $$HOME") == "$(hostname) $HOME", "$$ is a literal dollar"
    assert resolve("$X/${Y}", {"X": "1", "Y": "2"}) == "1/2"
    with pytest.raises(AssertionError, match="has no default"):
        resolve("${NOT_SET_ANYWHERE}")


# --- docker-compose.yml ---------------------------------------------------------------------------------------

def test_every_service_has_a_healthcheck() -> None:
    """Except workers and one-shot checks: they open no port to ask, so they switch the image's HTTP check off
    (it would call them unhealthy forever); `test_nothing_waits_for_a_service_without_healthcheck` covers them."""
    missing = []
    for name, service in _services().items():
        if _has_healthcheck(service) or ((_is_worker(service) or _is_one_shot(service)) and not _ports(service)):
            continue
        missing.append(name)
    assert not missing, f"services without a healthcheck (depends_on: service_healthy needs one): {missing}"


def test_nothing_waits_for_a_service_without_healthcheck() -> None:
    services = _services()
    waits = [f"{name} -> {target}" for name, service in services.items()
             for target, condition in _depends_on(service).items()
             if condition == "service_healthy" and not _has_healthcheck(services.get(target, {}))]
    assert not waits, f"service_healthy on services that have no healthcheck (they would never start): {waits}"


def test_server_waits_for_healthy_stores() -> None:
    depends_on = _service("server").get("depends_on") or {}
    assert isinstance(depends_on, dict), (
        "server.depends_on must be a mapping with `condition: service_healthy`; the list form only waits for "
        "the containers to start, not for the stores to accept connections")
    for store in ("postgres", "clickhouse", "redis"):
        condition = (depends_on.get(store) or {}).get("condition")
        assert condition == "service_healthy", (
            f"server must wait for {store} with condition: service_healthy (found {condition!r}): it migrates "
            "the databases at start")


@pytest.mark.parametrize("variable", sorted(STORE_URLS))
def test_server_store_url_names_a_service_and_its_port(variable: str) -> None:
    url = _environment(_service("server")).get(variable, "")
    assert url, f"server sets no {variable}: without it the server falls back to an embedded store"
    parts = urlsplit(url)
    services = _services()
    assert parts.hostname in services, (
        f"{variable} points at host {parts.hostname!r}, which is not a compose service ({sorted(services)})")
    assert parts.hostname == STORE_URLS[variable], (
        f"{variable} should name the {STORE_URLS[variable]} service, not {parts.hostname!r}")
    image = _image_name(services[parts.hostname])
    assert image in IMAGE_PORTS, f"no known listening port for image {image!r} (service {parts.hostname})"
    assert parts.port == IMAGE_PORTS[image], (
        f"{variable} uses port {parts.port}, but {image} listens on {IMAGE_PORTS[image]}")


def test_server_environment_gives_full_stack_settings() -> None:
    env = _environment(_service("server"))
    settings = Settings.from_env(env)
    assert settings.embedded_postgres is False, "BENCHLAB_DATABASE_URL must select the postgres service"
    assert settings.uses_chdb is False, "BENCHLAB_CLICKHOUSE_URL must select the ClickHouse server, not chDB"
    assert settings.redis_url and settings.redis_url.startswith("redis://"), (
        f"BENCHLAB_REDIS_URL must select Redis, got {settings.redis_url!r}")
    assert settings.owns_data_dir is False, "full-stack mode must not take the embedded data-dir lock"
    assert settings.host == "0.0.0.0", "inside a container the server must listen on all interfaces"


def test_store_credentials_match_the_store_services() -> None:
    server = _environment(_service("server"))
    postgres = _environment(_service("postgres"))
    database = urlsplit(server.get("BENCHLAB_DATABASE_URL", ""))
    assert (database.username, database.password, database.path.lstrip("/")) == (
        postgres.get("POSTGRES_USER"), postgres.get("POSTGRES_PASSWORD"), postgres.get("POSTGRES_DB")), (
        "BENCHLAB_DATABASE_URL's user/password/database differ from the postgres service's POSTGRES_*")
    clickhouse = _environment(_service("clickhouse"))
    events = urlsplit(server.get("BENCHLAB_CLICKHOUSE_URL", ""))
    assert (events.username, events.password) == (
        clickhouse.get("CLICKHOUSE_USER"), clickhouse.get("CLICKHOUSE_PASSWORD")), (
        "BENCHLAB_CLICKHOUSE_URL's user/password differ from the clickhouse service's CLICKHOUSE_USER/PASSWORD")
    assert server.get("BENCHLAB_CLICKHOUSE_DATABASE", "benchlab") == clickhouse.get("CLICKHOUSE_DB"), (
        "BENCHLAB_CLICKHOUSE_DATABASE differs from the clickhouse service's CLICKHOUSE_DB")


def _variables_set() -> dict[str, set[str]]:
    """Every variable a benchlab container sets (any profile's service, and the Dockerfile) -> where."""
    used: dict[str, set[str]] = {}
    for name, service in _services().items():
        if _is_benchlab_image(service):
            for variable in _environment(service):
                used.setdefault(variable, set()).add(f"{COMPOSE_FILE.name}: {name}")
    for instruction, arguments in _dockerfile_instructions():
        if instruction == "ENV":
            for variable in re.findall(r"\b(BENCHLAB_[A-Z0-9_]+)=", arguments):
                used.setdefault(variable, set()).add(DOCKERFILE.name)
    return used


def test_every_benchlab_variable_is_read_by_config() -> None:
    known = _config_variable_names()
    used = _variables_set()
    for name, service in _services().items():  # other images' services too: a BENCHLAB_* there is a misplacement
        for variable in _environment(service):
            if variable.startswith("BENCHLAB_"):
                used.setdefault(variable, set()).add(f"{COMPOSE_FILE.name}: {name}")
    unknown = {variable: sorted(where) for variable, where in used.items()
               if variable.startswith("BENCHLAB_") and variable not in known}
    assert not unknown, f"variables benchlab/config.py never reads (typo?): {unknown}"
    foreign = {variable: sorted(where) for variable, where in used.items()
               if not variable.startswith("BENCHLAB_") and variable not in LIBRARY_VARIABLES}
    assert not foreign, (f"benchlab containers set variables that neither benchlab/config.py nor a known library "
                         f"reads (add the library to LIBRARY_VARIABLES if one does): {foreign}")


def test_variable_check_covers_the_scale_services_and_queue_settings() -> None:
    """The check above reads every service, profiled ones included; guard that it really sees them."""
    used = _variables_set()
    for service in (*API_REPLICAS, *WORKERS):
        assert any(f": {service}" in where for wheres in used.values() for where in wheres), (
            f"the variable check did not see the {service} service")
    for variable in ("BENCHLAB_WORKERS", "BENCHLAB_WORKER_SLOTS", "BENCHLAB_MAX_RUNS_PER_PROJECT",
                     "BENCHLAB_WORKER_HEARTBEAT_TIMEOUT_S", "BENCHLAB_SECRET_KEY"):
        assert variable in used, f"no service sets {variable}; the variable check would not cover it"


def test_uvicorn_reads_forwarded_allow_ips_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                                tmp_path: Path) -> None:
    """The API replicas set FORWARDED_ALLOW_IPS for uvicorn: `serve` must leave it to the environment."""
    from benchlab.commands.serve import uvicorn_config

    async def app(scope: Any, receive: Any, send: Any) -> None:  # never called
        raise AssertionError

    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")
    assert uvicorn_config(app, Settings(data_dir=tmp_path)).forwarded_allow_ips == "*", (
        "serve passes forwarded_allow_ips to uvicorn itself: FORWARDED_ALLOW_IPS in docker-compose.yml is ignored")


def test_named_volumes_are_declared() -> None:
    declared = set((_compose().get("volumes") or {}).keys())
    undeclared = {
        f"{name}: {source}"
        for name, service in _services().items()
        for source, _ in _volume_mounts(service)
        if source and not _is_bind_mount(source) and source not in declared
    }
    assert not undeclared, f"named volumes used but not declared under top-level volumes: {sorted(undeclared)}"


def test_every_bind_mounted_file_exists() -> None:
    missing = []
    for name, service in _services().items():
        for source, target in _volume_mounts(service):
            if _is_bind_mount(source) and not (REPO / source).exists():
                missing.append(f"{name}: {source} -> {target}")
    assert not missing, f"bind mounts of paths missing from the repository: {missing}"


def test_store_init_files_are_mounted_where_the_images_run_them() -> None:
    postgres = dict(_volume_mounts(_service("postgres")))
    clickhouse = dict(_volume_mounts(_service("clickhouse")))
    postgres_source = f"./{POSTGRES_INIT_FILE.relative_to(REPO).as_posix()}"
    clickhouse_source = f"./{CLICKHOUSE_USERS_FILE.relative_to(REPO).as_posix()}"
    assert postgres.get(postgres_source, "").startswith("/docker-entrypoint-initdb.d/"), (
        f"postgres must mount {postgres_source} into /docker-entrypoint-initdb.d/ (creates grafana_ro)")
    assert clickhouse.get(clickhouse_source, "").startswith("/etc/clickhouse-server/users.d/"), (
        f"clickhouse must mount {clickhouse_source} into /etc/clickhouse-server/users.d/ (creates grafana_ro)")


# --- profile `scale`: API replicas, workers, the secret key check ---------------------------------------------

def test_default_stack_is_unchanged_by_the_scale_profile() -> None:
    """`docker compose up` (no profile) runs exactly the default stack, which needs nothing from `scale`."""
    services = _services()
    unprofiled = {name for name, service in services.items() if not _profiles(service)}
    assert unprofiled == DEFAULT_SERVICES, (
        f"services outside any profile should be exactly {sorted(DEFAULT_SERVICES)}, got {sorted(unprofiled)}")
    for name in DEFAULT_SERVICES:
        needs = set(_depends_on(services[name])) - DEFAULT_SERVICES
        assert not needs, f"{name} depends on {sorted(needs)}, which only the {SCALE_PROFILE} profile starts"


def test_scale_services_exist_only_under_the_scale_profile() -> None:
    services = _services()
    missing = SCALE_SERVICES - set(services)
    assert not missing, f"{COMPOSE_FILE.name} lacks the {SCALE_PROFILE} profile's services {sorted(missing)}"
    for name in sorted(SCALE_SERVICES):
        assert _profiles(services[name]) == [SCALE_PROFILE], (
            f"{name} must be in the {SCALE_PROFILE} profile only (profiles: [{SCALE_PROFILE}]), "
            f"not {_profiles(services[name])}: without it, it would start with the default stack")
    for name in sorted(SCALE_SERVICES):
        for target in _depends_on(services[name]):
            assert target in services, f"{name} depends on {target!r}, which is not a service"
            assert not _profiles(services[target]) or SCALE_PROFILE in _profiles(services[target]), (
                f"{name} depends on {target}, which the {SCALE_PROFILE} profile does not start")


@pytest.mark.parametrize("name", [*API_REPLICAS, *WORKERS])
def test_scale_process_names_the_servers_stores_and_key(name: str) -> None:
    """Same variable text as `server` (compared before substitution), so one shell or .env setting reaches all."""
    server = _raw_services()["server"].get("environment") or {}
    env = _raw_services()[name].get("environment") or {}
    for variable in SHARED_VARIABLES:
        assert env.get(variable) == server.get(variable), (
            f"{name} sets {variable}={env.get(variable)!r}, server {server.get(variable)!r}: every process must use "
            "the same stores and secret key")
    assert "${BENCHLAB_SECRET_KEY" in str(env.get("BENCHLAB_SECRET_KEY")), (
        f"{name} must take BENCHLAB_SECRET_KEY from the environment, not a literal")
    settings = Settings.from_env(_environment(_service(name)))
    assert not settings.embedded_postgres and not settings.uses_chdb, f"{name} must use the shared stores"
    assert settings.redis_url and settings.redis_url.startswith("redis://"), (
        f"{name} needs BENCHLAB_REDIS_URL: live progress crosses processes through Redis")
    assert settings.owns_data_dir is False


@pytest.mark.parametrize("name", API_REPLICAS)
def test_api_replica_serves_without_a_worker_behind_the_proxy(name: str) -> None:
    replica, server = _service(name), _service("server")
    env = _environment(replica)
    assert env.get("BENCHLAB_WORKERS") == "0", f"{name} must set BENCHLAB_WORKERS: \"0\" (an API-only replica)"
    settings = Settings.from_env(env)
    assert settings.workers == 0
    assert settings.host == "0.0.0.0", f"{name} must listen on all interfaces inside its container"
    assert _image_name(replica) == _image_name(server), f"{name} must run the server's image"
    assert not _command(replica), f"{name} must run the image's command (`benchlab serve`), not {_command(replica)}"
    assert not _ports(replica), f"{name} publishes {_ports(replica)}: clients must come through {PROXY} (which the "
    "replica's FORWARDED_ALLOW_IPS trusts)"
    assert replica.get("healthcheck") == server.get("healthcheck"), f"{name} must be checked as server is (/readyz)"
    for store in ("postgres", "clickhouse", "redis"):
        assert _depends_on(replica).get(store) == "service_healthy", (
            f"{name} must wait for {store} with condition: service_healthy: it migrates the databases at start")


@pytest.mark.parametrize("name", WORKERS)
def test_worker_runs_benchlab_worker_and_opens_no_port(name: str) -> None:
    worker = _service(name)
    assert _command(worker) == ["benchlab", "worker"], f"{name} must run `benchlab worker`, not {_command(worker)}"
    assert _image_name(worker) == _image_name(_service("server")), f"{name} must run the server's image"
    assert not _ports(worker), f"{name} publishes or exposes {_ports(worker)}: a worker opens no port"
    assert not _has_healthcheck(worker) and (worker.get("healthcheck") or {}).get("disable") is True, (
        f"{name}: the image's healthcheck asks :8000/healthz, which a worker does not serve; disable it")
    env = _environment(worker)
    settings = Settings.from_env(env)
    assert not settings.uses_chdb or settings.server_url, f"{name} must write to ClickHouse or to a server's ingest"


@pytest.mark.parametrize("name", WORKERS)
def test_worker_starts_after_an_api_replica_has_migrated(name: str) -> None:
    services = _services()
    depends_on = _depends_on(services[name])
    for store in ("postgres", "clickhouse", "redis"):
        assert depends_on.get(store) == "service_healthy", f"{name} must wait for {store} to be healthy"
    apis = [target for target, condition in depends_on.items()
            if condition == "service_healthy" and target in (*API_REPLICAS, "server")]
    assert apis, (f"{name} must wait for an API replica with condition: service_healthy: the API migrates the "
                  "stores at start and a worker must not race it")
    probe = " ".join(map(str, (services[apis[0]].get("healthcheck") or {}).get("test") or []))
    assert "/readyz" in probe, f"{apis[0]}'s healthcheck must ask /readyz (served only once migrated), not {probe!r}"


def test_every_benchlab_process_has_its_own_data_dir_volume() -> None:
    """Workers spool unsent batches under BENCHLAB_DATA_DIR: two processes must never share one."""
    seen: dict[str, str] = {}
    for name in ("server", *API_REPLICAS, *WORKERS):
        data_dir = _environment(_service(name)).get("BENCHLAB_DATA_DIR")
        mounts = {target: source for source, target in _volume_mounts(_service(name))}
        source = mounts.get(str(data_dir))
        assert source and not _is_bind_mount(source), f"{name} must mount a named volume at {data_dir}"
        assert source not in seen, f"{name} and {seen.get(source)} share the data-dir volume {source}"
        seen[source] = name


def test_scale_processes_wait_for_the_secret_key_check() -> None:
    check = _service(SECRET_KEY_CHECK)
    assert _is_one_shot(check), f"{SECRET_KEY_CHECK} must be a one-shot (restart: \"no\") command"
    assert (_raw_services()[SECRET_KEY_CHECK].get("environment") or {}).get("BENCHLAB_SECRET_KEY") == (
        (_raw_services()["server"].get("environment") or {}).get("BENCHLAB_SECRET_KEY")), (
        f"{SECRET_KEY_CHECK} must check the same BENCHLAB_SECRET_KEY the processes get")
    for name in (*API_REPLICAS, *WORKERS):
        assert _depends_on(_service(name)).get(SECRET_KEY_CHECK) == "service_completed_successfully", (
            f"{name} must wait for {SECRET_KEY_CHECK} (condition: service_completed_successfully)")


@pytest.mark.parametrize(("key", "accepted"), [("", False), ("  ", False), ("not-a-key", False),
                                               ("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU=", True)])
def test_secret_key_check_refuses_a_missing_or_invalid_key(key: str, accepted: bool) -> None:
    argv = _command(_service(SECRET_KEY_CHECK))
    assert argv[:2] == ["python", "-c"], f"{SECRET_KEY_CHECK} should run a python -c check, runs {argv[:2]}"
    env = {name: value for name, value in os.environ.items() if not name.startswith("BENCHLAB_")}
    result = subprocess.run([sys.executable, "-c", argv[2]], env={**env, "BENCHLAB_SECRET_KEY": key},
                            capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode == 0) is accepted, (result.returncode, result.stdout, result.stderr)
    if not accepted:
        assert "BENCHLAB_SECRET_KEY" in result.stderr and "Fernet.generate_key" in result.stderr, result.stderr


# --- profile `scale`: the proxy -----------------------------------------------------------------------------

def _proxy_config() -> Directive:
    """deploy/nginx-scale.conf, wrapped in the `http {}` block that conf.d files are included in."""
    mounts = dict(_volume_mounts(_service(PROXY)))
    source = f"./{NGINX_CONF.relative_to(REPO).as_posix()}"
    assert NGINX_CONF.is_file(), f"{source} is missing"
    assert mounts.get(source) in ("/etc/nginx/conf.d/default.conf", "/etc/nginx/nginx.conf"), (
        f"{PROXY} must mount {source} over the image's default site (/etc/nginx/conf.d/default.conf), "
        f"mounts: {mounts}")
    return Directive("http", [], _parse_nginx(NGINX_CONF.read_text()))


def _proxy_server() -> Directive:
    servers = _proxy_config().all("server")
    assert len(servers) == 1, f"{NGINX_CONF.name} should define one server block, has {len(servers)}"
    return servers[0]


def _upstream_of(location: Directive) -> str:
    proxy_pass = location.first("proxy_pass")
    assert proxy_pass is not None, f"location {' '.join(location.args)} has no proxy_pass"
    parts = urlsplit(proxy_pass.args[0])
    assert parts.scheme == "http" and parts.path in ("", "/"), (
        f"location {' '.join(location.args)}: proxy_pass {proxy_pass.args[0]} should be http://<upstream>")
    return str(parts.hostname)


def test_proxy_config_is_mounted_and_exists() -> None:
    _proxy_config()
    assert _image_name(_service(PROXY)) in ("nginx", "nginxinc/nginx-unprivileged"), (
        f"{PROXY} runs {_image_name(_service(PROXY))}; {NGINX_CONF.name} is an nginx configuration")


def test_proxy_balances_both_api_replicas() -> None:
    config = _proxy_config()
    targets = {_upstream_of(location) for location in _proxy_server().all("location")}
    assert len(targets) == 1, f"every location should pass to the same upstream, got {sorted(targets)}"
    upstreams = {upstream.args[0]: upstream for upstream in config.all("upstream")}
    upstream = upstreams.get(targets.pop())
    assert upstream is not None, f"proxy_pass names an upstream that {NGINX_CONF.name} does not define"
    servers = {}
    for server in upstream.all("server"):
        host, _, port = server.args[0].rpartition(":")
        servers[host] = int(port)
    assert set(servers) == set(API_REPLICAS), f"the upstream should list exactly {API_REPLICAS}, got {servers}"
    for name, port in servers.items():
        assert port == Settings.from_env(_environment(_service(name))).port, (
            f"the upstream sends to {name}:{port}, but {name} listens on its BENCHLAB_PORT")
    for name in API_REPLICAS:
        assert _depends_on(_service(PROXY)).get(name) == "service_healthy", (
            f"{PROXY} must wait for {name} to be healthy (condition: service_healthy)")


def test_proxy_listens_on_the_published_port_8080() -> None:
    published = _ports(_service(PROXY))
    assert any(host == "8080" for host, _ in published), (
        f"{PROXY} must be published on port 8080, got {published}")
    container_ports = {target for host, target in published if host == "8080"}
    listens = {int(listen.args[0].rsplit(":", 1)[-1]) for listen in _proxy_server().all("listen")}
    assert container_ports <= listens, f"port 8080 is mapped to {container_ports}, nginx listens on {listens}"


@pytest.mark.parametrize("path", PROXIED_PATHS)
def test_proxy_passes_server_paths_with_websocket_upgrade(path: str) -> None:
    config, server = _proxy_config(), _proxy_server()
    location = _matching_location(server, path)
    assert location is not None, f"no location of {NGINX_CONF.name} matches {path}"
    _upstream_of(location)
    version = _effective(location, server, config, "proxy_http_version")
    assert version and version[0].args == ["1.1"], f"{path}: proxy_http_version 1.1 is needed for WebSockets"
    headers = {d.args[0].lower(): d.args[1] for d in _effective(location, server, config, "proxy_set_header")}
    assert headers.get("upgrade") == "$http_upgrade", f"{path}: proxy_set_header Upgrade $http_upgrade is missing"
    connection = headers.get("connection", "")
    maps = {d.args[1]: d for d in config.all("map") if d.args[0] == "$http_upgrade"}
    assert connection.lower() == "upgrade" or connection in maps, (
        f"{path}: proxy_set_header Connection should be a `map $http_upgrade` variable, not {connection!r}")
    if connection in maps:
        values = {d.name: d.args[0] if d.args else "" for d in maps[connection].children or []}
        assert values.get("default") == "upgrade", f"map {connection}: default must be `upgrade`"
        assert "" in values and values[""].lower() != "upgrade", (
            f"map {connection}: a request without Upgrade ('') must not get `Connection: upgrade`")


def test_proxy_keeps_websockets_open_and_accepts_ingest_batches() -> None:
    config, server = _proxy_config(), _proxy_server()
    graphql = _matching_location(server, "/graphql")
    assert graphql is not None
    read_timeout = _effective(graphql, server, config, "proxy_read_timeout")
    seconds = _nginx_seconds(read_timeout[0].args[0]) if read_timeout else 60
    assert seconds >= 600, f"/graphql: proxy_read_timeout {seconds} s would cut idle subscriptions (use >= 10 min)"
    ingest = _matching_location(server, "/ingest/v1/events")
    assert ingest is not None
    body = _effective(ingest, server, config, "client_max_body_size")
    limit = _nginx_bytes(body[0].args[0]) if body else 1024 * 1024
    default = Settings(data_dir=Path("/unused")).ingest_max_bytes
    assert limit == 0 or limit >= default, (
        f"/ingest: client_max_body_size is {limit} bytes, below BENCHLAB_INGEST_MAX_BYTES' default {default}")


def _docker_compose() -> list[str] | None:
    try:
        subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return ["docker", "compose"]


@pytest.mark.parametrize("profiles", [[], ["--profile", SCALE_PROFILE]], ids=["default", SCALE_PROFILE])
def test_docker_compose_accepts_the_file(profiles: list[str]) -> None:
    """Compose's own validation (merge keys, profiles, depends_on across profiles); needs no engine or pull."""
    command = _docker_compose()
    if command is None:
        pytest.skip("docker compose is not installed")
    env = {name: value for name, value in os.environ.items() if not name.startswith(("BENCHLAB_", "GRAFANA_"))}
    result = subprocess.run([*command, "-f", str(COMPOSE_FILE), *profiles, "config", "--quiet"], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr


# --- Dockerfile -----------------------------------------------------------------------------------------------

def test_server_is_built_from_the_repository_dockerfile() -> None:
    build = _service("server").get("build")
    assert build is not None, "the server service must be built from this repository (build: .)"
    context, dockerfile = (build, "Dockerfile") if isinstance(build, str) else (
        build.get("context", "."), build.get("dockerfile", "Dockerfile"))
    assert Path(context) == Path("."), f"server build context must be the repository root ('.'), not {context!r}"
    assert (REPO / context / dockerfile).is_file(), f"server builds from {dockerfile}, which does not exist"


def test_dockerfile_runs_benchlab_serve_as_non_root() -> None:
    instructions = _dockerfile_instructions()
    users = [arguments for instruction, arguments in instructions if instruction == "USER"]
    assert users, "the Dockerfile has no USER instruction: the server would run as root"
    user = users[-1].split(":", 1)[0]
    assert user not in ("root", "0"), f"the Dockerfile's final USER is {users[-1]!r}, i.e. root"
    entrypoints = [_exec_form(arguments) for instruction, arguments in instructions if instruction == "ENTRYPOINT"]
    commands = [_exec_form(arguments) for instruction, arguments in instructions if instruction == "CMD"]
    assert commands, "the Dockerfile has no CMD"
    argv = (entrypoints[-1] if entrypoints else []) + commands[-1]
    assert argv[:2] == ["benchlab", "serve"], f"the image must run `benchlab serve`, but runs {argv}"


def test_dockerfile_copies_only_existing_paths() -> None:
    missing = []
    for instruction, arguments in _dockerfile_instructions():
        if instruction != "COPY" or "--from=" in arguments:
            continue
        sources = [part for part in arguments.split() if not part.startswith("--")][:-1]
        missing += [source for source in sources if not (REPO / source).exists()]
    assert not missing, f"the Dockerfile copies paths missing from the repository (the build would fail): {missing}"


def test_dockerignore_keeps_what_the_dockerfile_copies() -> None:
    assert DOCKERIGNORE.is_file(), ".dockerignore is missing: .git and local state would enter the build context"
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.strip().startswith(("#", "!"))]
    copied = []
    for instruction, arguments in _dockerfile_instructions():
        if instruction == "COPY" and "--from=" not in arguments:
            copied += [part.rstrip("/") for part in arguments.split() if not part.startswith("--")][:-1]
    excluded = [source for source in copied for pattern in patterns
                if Path(source).match(pattern.removeprefix("**/").rstrip("/"))]
    assert not excluded, f".dockerignore excludes files the Dockerfile copies: {excluded}"
    assert ".git" in patterns, ".dockerignore must keep .git out of the build context"


# --- Grafana --------------------------------------------------------------------------------------------------

def test_grafana_mounts_provisioning_and_dashboards() -> None:
    mounts = {source.rstrip("/"): target.rstrip("/") for source, target in _volume_mounts(_service("grafana"))}
    assert mounts.get("./dashboards/provisioning") == "/etc/grafana/provisioning", (
        f"grafana must mount ./dashboards/provisioning at /etc/grafana/provisioning (mounts: {mounts})")
    providers = yaml.safe_load(DASHBOARD_PROVIDERS_FILE.read_text()).get("providers") or []
    assert providers, f"{DASHBOARD_PROVIDERS_FILE.relative_to(REPO)} defines no dashboard provider"
    target = mounts.get("./dashboards")
    assert target, f"grafana must mount ./dashboards (mounts: {mounts})"
    for provider in providers:
        path = str(provider.get("options", {}).get("path", "")).rstrip("/")
        assert path == target or path.startswith(target + "/"), (
            f"dashboard provider {provider.get('name')!r} reads {path}, outside ./dashboards (mounted at {target})")
        folder = REPO / "dashboards" / path.removeprefix(target).lstrip("/")
        assert folder.is_dir(), f"dashboard provider {provider.get('name')!r} reads {path}, i.e. missing {folder}"


def test_datasource_uids_are_the_fixed_ones() -> None:
    datasources = _datasources()
    assert set(datasources) == DATASOURCE_UIDS, (
        f"provisioned datasource uids must be exactly {sorted(DATASOURCE_UIDS)} (dashboards refer to them), "
        f"got {sorted(datasources)}")
    assert datasources["benchlab-clickhouse"].get("type") == "grafana-clickhouse-datasource"
    assert datasources["benchlab-postgres"].get("type") == "grafana-postgresql-datasource"


def test_datasources_point_at_compose_services() -> None:
    datasources = _datasources()
    services = _services()
    clickhouse = datasources["benchlab-clickhouse"].get("jsonData") or {}
    postgres = urlsplit(f"//{datasources['benchlab-postgres'].get('url', '')}")
    targets = {
        "benchlab-clickhouse": (clickhouse.get("host"), clickhouse.get("port")),
        "benchlab-postgres": (postgres.hostname, postgres.port),
    }
    for uid, (host, port) in targets.items():
        assert host in services, f"datasource {uid} points at {host!r}, which is not a compose service"
        image = _image_name(services[host])
        assert port == IMAGE_PORTS.get(image), (
            f"datasource {uid} uses port {port}, but {image} listens on {IMAGE_PORTS.get(image)}")
    assert clickhouse.get("protocol") == "http", "port 8123 is ClickHouse's HTTP interface: use protocol: http"


def test_datasources_use_the_read_only_users() -> None:
    datasources = _datasources()
    assert (datasources["benchlab-clickhouse"].get("jsonData") or {}).get("username") == "grafana_ro"
    assert datasources["benchlab-postgres"].get("user") == "grafana_ro"
    for uid, variable in (("benchlab-clickhouse", "GRAFANA_CH_PASSWORD"), ("benchlab-postgres", "GRAFANA_PG_PASSWORD")):
        password = (datasources[uid].get("secureJsonData") or {}).get("password", "")
        assert password in (f"${variable}", f"${{{variable}}}"), (
            f"datasource {uid} must read its password from ${variable}, not a literal")


@pytest.mark.parametrize(("variable", "store"), [("GRAFANA_CH_PASSWORD", "clickhouse"),
                                                 ("GRAFANA_PG_PASSWORD", "postgres")])
def test_grafana_and_store_share_the_read_only_password(variable: str, store: str) -> None:
    grafana_value = _environment(_service("grafana")).get(variable)
    store_value = _environment(_service(store)).get(variable)
    assert grafana_value, f"grafana gets no {variable}: its provisioned datasource would have no password"
    assert store_value, f"{store} gets no {variable}: grafana_ro would be created without that password"
    assert grafana_value == store_value, (
        f"{variable} defaults differ between grafana ({grafana_value!r}) and {store} ({store_value!r})")


def test_store_init_files_read_the_password_from_the_environment() -> None:
    users = ElementTree.parse(CLICKHOUSE_USERS_FILE).getroot()
    password = users.find("./users/grafana_ro/password")
    assert password is not None and password.get("from_env") == "GRAFANA_CH_PASSWORD", (
        f"{CLICKHOUSE_USERS_FILE.name}: grafana_ro's password must be <password from_env=\"GRAFANA_CH_PASSWORD\"/>")
    assert "$GRAFANA_PG_PASSWORD" in POSTGRES_INIT_FILE.read_text(), (
        f"{POSTGRES_INIT_FILE.name} must take grafana_ro's password from $GRAFANA_PG_PASSWORD")


def test_clickhouse_grafana_user_is_read_only_but_may_set_a_timeout() -> None:
    users = ElementTree.parse(CLICKHOUSE_USERS_FILE).getroot()
    profile_name = users.findtext("./users/grafana_ro/profile")
    profile = users.find(f"./profiles/{profile_name}")
    assert profile is not None, f"grafana_ro's profile {profile_name!r} is not defined in {CLICKHOUSE_USERS_FILE.name}"
    # readonly=2: no writes or DDL, but settings may change (the Grafana plugin sends max_execution_time with every
    # query); the limits are bounded by constraints (tests/test_grafana_roles.py checks them in detail).
    assert profile.findtext("readonly") == "2", "grafana_ro's profile must set readonly=2"
    assert profile.find("./constraints/max_execution_time/max") is not None, (
        "under readonly=2 a client may change max_execution_time: bound it with a constraint")


def _mount_target(service: str, source: str) -> str | None:
    mounts = dict(_volume_mounts(_service(service)))
    return mounts.get(source)


def test_postgres_init_script_and_its_sql_are_mounted() -> None:
    assert _mount_target("postgres", "./postgres/docker-init/01_grafana_readonly.sh") == (
        "/docker-entrypoint-initdb.d/01_grafana_readonly.sh")
    target = _mount_target("postgres", "./postgres/grafana_readonly.sql")
    assert target, "postgres must mount postgres/grafana_readonly.sql, which the init script runs"
    assert not target.startswith("/docker-entrypoint-initdb.d/"), (
        "the image would run a .sql in docker-entrypoint-initdb.d itself, without the password variable")
    script = POSTGRES_INIT_FILE.read_text()
    default = re.search(r'GRAFANA_READONLY_SQL:-([^}"]+)', script)
    assert default and default.group(1) == target, (
        f"{POSTGRES_INIT_FILE.name} reads the SQL from {default and default.group(1)}, but it is mounted at {target}")
    env = _environment(_service("postgres"))
    assert "GRAFANA_READONLY_SQL" not in env or env["GRAFANA_READONLY_SQL"] == target


def test_clickhouse_grafana_user_and_access_control_are_mounted() -> None:
    for source, target in (
            ("./clickhouse/docker/users.d/grafana_readonly.xml",
             "/etc/clickhouse-server/users.d/grafana_readonly.xml"),
            ("./clickhouse/docker/config.d/access_control.xml", "/etc/clickhouse-server/config.d/access_control.xml")):
        assert (REPO / source).is_file(), f"{source} is missing"
        assert _mount_target("clickhouse", source) == target, f"clickhouse must mount {source} at {target}"


def test_grafana_installs_the_clickhouse_plugin() -> None:
    env = _environment(_service("grafana"))
    plugins = env.get("GF_PLUGINS_PREINSTALL_SYNC") or env.get("GF_PLUGINS_PREINSTALL") or env.get(
        "GF_INSTALL_PLUGINS", "")
    names = {entry.strip().split("@", 1)[0] for entry in plugins.split(",")}
    assert "grafana-clickhouse-datasource" in names, (
        "the provisioned ClickHouse datasource needs the grafana-clickhouse-datasource plugin installed")


def test_dashboards_load_into_the_benchlab_folder() -> None:
    providers = yaml.safe_load(DASHBOARD_PROVIDERS_FILE.read_text()).get("providers") or []
    assert [provider.get("folder") for provider in providers] == ["Benchlab"]
