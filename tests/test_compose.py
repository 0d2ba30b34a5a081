"""The full-stack deployment files agree with each other and with what the server reads.

Static checks of docker-compose.yml, the Dockerfile and Grafana's provisioning (no Docker engine needed): a typo
in a variable name, a URL naming a service that does not exist, or a mount of a missing file fails here instead
of at `docker compose up`.
"""

from __future__ import annotations

import json
import re
import shlex
import xml.etree.ElementTree as ElementTree
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


def _config_variable_names() -> set[str]:
    """Every BENCHLAB_* name that appears in benchlab/config.py's source, i.e. every variable it can read."""
    source = Path(benchlab.config.__file__).read_text()
    names = set(re.findall(r"\bBENCHLAB_[A-Z0-9_]+\b", source))
    # Guard against the regex finding nothing (e.g. config.py building names dynamically): that would make
    # the typo check below pass vacuously.
    assert {"BENCHLAB_DATABASE_URL", "BENCHLAB_CLICKHOUSE_URL", "BENCHLAB_REDIS_URL"} <= names, (
        f"could not find the store variables in {benchlab.config.__file__}; found {sorted(names)}")
    return names


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
    missing = []
    for name, service in _services().items():
        check = service.get("healthcheck") or {}
        test = check.get("test")
        if check.get("disable") or not test or test == ["NONE"]:
            missing.append(name)
    assert not missing, f"services without a healthcheck (depends_on: service_healthy needs one): {missing}"


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


def test_every_benchlab_variable_is_read_by_config() -> None:
    known = _config_variable_names()
    used: dict[str, str] = {}
    for name, service in _services().items():
        for variable in _environment(service):
            if variable.startswith("BENCHLAB_"):
                used[variable] = f"{COMPOSE_FILE.name}: {name}"
    for instruction, arguments in _dockerfile_instructions():
        if instruction == "ENV":
            for variable in re.findall(r"\b(BENCHLAB_[A-Z0-9_]+)=", arguments):
                used[variable] = DOCKERFILE.name
    unknown = {variable: where for variable, where in used.items() if variable not in known}
    assert not unknown, f"variables benchlab/config.py never reads (typo?): {unknown}"


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
