"""The README's CI and deployment snippets are the files they show, byte for byte."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def code_block(section: str, language: str) -> str:
    """The first ``language`` code block under the README heading ``section``."""
    body = README.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(rf"```{language}\n(.*?)```", body, flags=re.DOTALL)
    assert match, f"no {language} block under '{section}'"
    return match.group(1)


@pytest.mark.parametrize(
    ("section", "language", "source"),
    [
        ("Use from Jenkins", "groovy", "jenkins/examples/Jenkinsfile.minimal"),
        ("Use from CircleCI", "yaml", "circleci/examples/config.yml"),
    ],
)
def test_the_readme_shows_the_example_files(section: str, language: str, source: str) -> None:
    assert code_block(section, language) == (ROOT / source).read_text()


def test_the_kubernetes_section_is_the_one_kept_beside_the_manifests() -> None:
    assert (ROOT / "examples/kubernetes/readme-section.md").read_text() in README
