"""The code's own rules, checked like any other behaviour: ruff, the architecture contracts (lint-imports, from
pyproject.toml), the types (mypy, from pyproject.toml), and no module reaching into another module's private
names."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "server" / "benchlab"


def _tool(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def test_ruff_is_clean() -> None:
    result = subprocess.run([_tool("ruff"), "check", "server", "tests", "benchmarks"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_architecture_contracts_hold() -> None:
    """Layers point down, no import circles, the mock LLM server stands alone (pyproject.toml)."""
    result = subprocess.run([_tool("lint-imports"), "--no-cache"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    """Every function typed, every call checked ([tool.mypy]: server/benchlab, strawberry's plugin)."""
    result = subprocess.run([_tool("mypy")], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_module_imports_another_modules_private_names() -> None:
    """`from benchlab.x import _name` couples a module to another's internals: make the name public or move it."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("benchlab"):
                private = [alias.name for alias in node.names
                           if alias.name.startswith("_") and not alias.name.endswith("__")]
                if private:
                    found.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.module} {private}")
    assert found == []
