"""`benchlab projects create` and `benchlab keys create|list` (issue 12, item 2): a project and a CI key on a
fresh install without a browser, on the embedded stores, with and without `benchlab serve` running on the data
dir; the key works against the real server. Real processes only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx

from benchlab.commands.keys import cli_actor
from tests.helpers.server_process import ServerProcess, free_port, run_cli

KEY = re.compile(r"blk_[0-9a-f]{12}_[\w-]+")
PROJECT = "query { project(slug: \"demo\") { name slug experiments(first: 5) { totalCount } } }"
AUDIT = ("query { project(slug: \"demo\") { auditLog(first: 20) { nodes { actor action target details } } } }")


def cli(env: dict[str, str], *args: str) -> tuple[str, str]:
    result = run_cli(list(args), env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout, result.stderr


def refused(env: dict[str, str], *args: str) -> str:
    """stderr of a command that must fail with exit status 2 and print nothing on stdout."""
    result = run_cli(list(args), env, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == "", result.stdout
    return result.stderr


def graphql(server: ServerProcess, query: str, key: str | None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    response = httpx.post(f"{server.base_url}/graphql", json={"query": query}, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_a_project_and_keys_from_the_command_line(tmp_path: Path) -> None:
    env = {"BENCHLAB_DATA_DIR": str(tmp_path / "data")}
    said, _ = cli(env, "projects", "create", "demo", "--name", "Demo")  # a fresh install: nothing ran before
    assert said.startswith("created project demo (") and "benchlab keys create --project demo" in said
    said, _ = cli(env, "keys", "create", "--project", "demo", "--role", "member", "--name", "nightly CI",
                  "--expires", "30d")
    *explained, member_key = said.splitlines()
    assert KEY.fullmatch(member_key), said
    assert "role member" in explained[0] and "expires" in explained[0] and said.count(member_key) == 1

    with ServerProcess(env, port=free_port()) as server:
        server.wait_ready(timeout=120)
        # while the server holds the data dir: through its PostgreSQL socket; with --quiet only the key
        said, _ = cli(env, "keys", "create", "--project", "demo", "--role", "admin", "--quiet")
        admin_key = said.removesuffix("\n")
        assert KEY.fullmatch(admin_key) and said == admin_key + "\n"

        assert graphql(server, PROJECT, member_key) == {
            "data": {"project": {"name": "Demo", "slug": "demo", "experiments": {"totalCount": 0}}}}
        anonymous = graphql(server, PROJECT, None)
        assert [e["extensions"]["code"] for e in anonymous["errors"]] == ["UNAUTHENTICATED"]
        # the key's role is the one asked for: a member may not create keys, an admin may
        create = ('mutation($p: ID!) { createApiKey(input: {projectId: $p, name: "x", role: VIEWER}) '
                  "{ apiKey { role } } }")
        project_id = graphql(server, 'query { project(slug: "demo") { id } }', member_key)["data"]["project"]["id"]
        by_member = httpx.post(f"{server.base_url}/graphql", json={"query": create, "variables": {"p": project_id}},
                               headers={"Authorization": f"Bearer {member_key}"}, timeout=30).json()
        assert [e["extensions"]["code"] for e in by_member["errors"]] == ["FORBIDDEN"]

        entries = graphql(server, AUDIT, admin_key)["data"]["project"]["auditLog"]["nodes"]
        actor = cli_actor()
        assert [(e["actor"], e["action"]) for e in entries] == [
            (actor, "api_key.create"), (actor, "api_key.create"), (actor, "project.create")]
        admin_entry, member_entry, project_entry = entries
        assert project_entry["target"] == "demo"
        assert member_entry["details"]["role"] == "member" and member_entry["details"]["name"] == "nightly CI"
        assert member_entry["details"]["prefix"] == member_key[4:16] and member_entry["details"]["expires_at"]
        assert admin_entry["details"]["role"] == "admin" and "expires_at" not in admin_entry["details"]
        assert member_key not in json.dumps(entries) and admin_key not in json.dumps(entries)

        listed, _ = cli(env, "keys", "list", "--project", "demo")
        assert "blk_" not in listed and member_key[4:16] in listed and admin_key[4:16] in listed
        assert "nightly CI" in listed
        keys, _ = cli(env, "keys", "list", "--project", "demo", "--json")
        by_role = {key["role"]: key for key in json.loads(keys)}
        assert set(by_role) == {"member", "admin"} and all(k["state"] == "active" for k in by_role.values())
        assert by_role["member"]["last_used_at"] and by_role["member"]["expires_at"]

        unknown = refused(env, "keys", "create", "--project", "nope", "--role", "member")
        assert unknown.strip() == ("benchlab: error: no project with slug 'nope'; create it with "
                                   "`benchlab projects create nope`")
        assert "no project with slug 'nope'" in refused(env, "keys", "list", "--project", "nope")
        assert "invalid choice: 'boss'" in refused(env, "keys", "create", "--project", "demo", "--role", "boss")
        assert "already exists" in refused(env, "projects", "create", "demo")
        assert server.process is not None and server.process.poll() is None, "the server was not disturbed"


def test_bad_input_is_refused_before_any_store_starts(tmp_path: Path) -> None:
    env = {"BENCHLAB_DATA_DIR": str(tmp_path / "data")}
    for expires, said in (("soon", "--expires 'soon': give a duration from now (12h, 30d, 2w, 1y) or a date"),
                          ("2020-01-01", "--expires 2020-01-01: 2020-01-01 00:00 UTC is in the past"),
                          ("0d", "--expires 0d: give a duration of at least 1d")):
        stderr = refused(env, "keys", "create", "--project", "demo", "--role", "member", "--expires", expires)
        assert stderr.startswith(f"benchlab: error: {said}"), stderr
    assert "--project" in refused(env, "keys", "create", "--role", "member")
    assert not (tmp_path / "data" / "postgres").exists(), "nothing was started"


def test_on_an_external_postgresql(tmp_path: Path, database_url: str) -> None:
    env = {"BENCHLAB_DATA_DIR": str(tmp_path / "data"), "BENCHLAB_DATABASE_URL": database_url}
    cli(env, "projects", "create", "ci-project")
    key, _ = cli(env, "keys", "create", "--project", "ci-project", "--role", "viewer", "--quiet")
    listed, _ = cli(env, "keys", "list", "--project", "ci-project", "--json")
    [entry] = json.loads(listed)
    assert KEY.fullmatch(key.strip()) and entry["prefix"] == key[4:16] and entry["role"] == "viewer"
    assert not (tmp_path / "data" / "postgres").exists(), "no embedded PostgreSQL was started"
