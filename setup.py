"""Build hook: ship the language-neutral folders inside the wheel.

`schema/`, `postgres/`, `clickhouse/` and `dashboards/` live at the repository root (docs/architecture.md,
"Layers") but the server needs them at run time wherever it is installed, so the wheel carries a copy under
`benchlab/_shipped/`. `benchlab.resources` looks there first and falls back to the repository root for
editable installs.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED_FOLDERS = ("schema", "postgres", "clickhouse", "dashboards")


class BuildPyWithShippedFolders(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        root = Path(__file__).parent
        target = Path(self.build_lib) / "benchlab" / "_shipped"
        for name in SHIPPED_FOLDERS:
            shutil.copytree(root / name, target / name, dirs_exist_ok=True)


setup(cmdclass={"build_py": BuildPyWithShippedFolders})
