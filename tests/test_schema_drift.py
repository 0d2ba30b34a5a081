"""schema/schema.graphql is exported from the code; a change to one without the other fails here."""

from benchlab.api.schema import export_sdl
from benchlab.resources import schema_sdl_path
from tests.helpers.server_process import run_cli


def test_checked_in_schema_matches_the_code() -> None:
    checked_in = schema_sdl_path().read_text(encoding="utf-8")
    assert checked_in == export_sdl(), (
        "schema/schema.graphql is out of date: run `benchlab export-schema --output schema/schema.graphql`")


def test_export_command_prints_the_same_sdl() -> None:
    result = run_cli(["export-schema"], {})
    assert result.returncode == 0, result.stderr
    assert result.stdout == export_sdl()
    assert "serverInfo: ServerInfo!" in result.stdout
