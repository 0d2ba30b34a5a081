"""The README's promises: every setting documented, exactly two set-up commands, CI runs the test one."""

import re
import subprocess
from pathlib import Path

import benchlab.config

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_every_setting_is_in_the_configuration_table() -> None:
    read_by_code = set(re.findall(r'"(BENCHLAB_[A-Z_]+)"', Path(benchlab.config.__file__).read_text()))
    documented = set(re.findall(r"^\| `(BENCHLAB_[A-Z_]+)` \|", README, flags=re.M))
    assert read_by_code, "config.py reads no BENCHLAB_* variable?"
    assert read_by_code == documented, f"undocumented: {read_by_code - documented}, stale: {documented - read_by_code}"


def test_two_set_up_commands_and_ci_runs_the_test_one() -> None:
    setup_section = README.split("## Set up", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"```sh\n(.+?)\n```", setup_section)
    assert len(commands) == 2, commands
    assert commands[0].endswith("benchlab serve")
    # .ci/run extracts its command from the README; prove it finds the second one.
    extracted = subprocess.run(
        ["bash", "-c", "grep -A2 '<!-- test-command' README.md | sed -n 's/^python3.11 /python3.11 /p' | head -1"],
        cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    assert extracted == commands[1]
    assert "grep -A2 '<!-- test-command' README.md" in (REPO / ".ci" / "run").read_text()
