"""CI runs the README's two commands as written: a user's fresh clone and CI agree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_quickstart_commands() -> list[str]:
    """The console blocks of the README's Quickstart section, one command each."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```console\n(.*?)\n```", section, flags=re.DOTALL)
    assert all("\n" not in block for block in blocks), blocks
    return blocks


def ci_lines() -> list[str]:
    return (ROOT / ".ci" / "run").read_text().splitlines()


def test_the_readme_has_a_quickstart_and_a_test_command() -> None:
    quickstart, tests = readme_quickstart_commands()
    assert quickstart.endswith("examples/quickstart.py")
    assert "python -m pytest" in tests and tests.endswith("python -m pytest -m alone")


def test_ci_runs_both_readme_commands_verbatim() -> None:
    lines = ci_lines()
    for command in readme_quickstart_commands():
        assert command in lines, f".ci/run does not run the README's command: {command}"


def test_ci_never_upgrades_the_stock_pip() -> None:
    script = "\n".join(line for line in ci_lines() if not line.lstrip().startswith("#"))
    assert not re.search(r"pip install[^\n]*(--upgrade|-U)\b[^\n]*\bpip\b", script), script
