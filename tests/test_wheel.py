"""The wheel carries the SQL, schema and dashboards: installed outside the repo, `benchlab migrate` works."""

from __future__ import annotations

import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "server", "schema", "postgres",
           "clickhouse", "dashboards")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build from a copy of the sources, so the build leaves nothing behind in the checkout."""
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(path, source / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(source)],
                   check=True, capture_output=True, text=True, timeout=600)
    return next(out.glob("benchlab-*.whl"))


def test_wheel_contains_the_shipped_folders(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("benchlab/_shipped/postgres/migrations/0001_core.sql",
                     "benchlab/_shipped/clickhouse/migrations/0001_request_events.sql",
                     "benchlab/_shipped/schema/schema.graphql"):
        assert expected in names
    assert any(n.startswith("benchlab/_shipped/dashboards/") for n in names)


def test_installed_wheel_migrates_outside_the_repo(wheel: Path, tmp_path: Path, empty_database_url: str) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True,
                   timeout=300)
    # Dependencies come from the test environment (a path entry, so its editable benchlab is not activated).
    new_site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                              check=True, capture_output=True, text=True).stdout.strip()
    Path(new_site, "test-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n")

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path),
           "BENCHLAB_DATA_DIR": str(tmp_path / "data"), "BENCHLAB_DATABASE_URL": empty_database_url}
    where = subprocess.run([str(python), "-c", "import benchlab; print(benchlab.__file__)"], cwd=outside,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv)), f"benchlab imported from {where}, not from the wheel"

    result = subprocess.run([str(venv / "bin" / "benchlab"), "migrate"], cwd=outside, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "postgres/migrations/0001_core.sql" in result.stdout
    assert "clickhouse/migrations/0001_request_events.sql" in result.stdout
