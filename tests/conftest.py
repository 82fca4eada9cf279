"""Fixtures shared by every tier."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Tests must never pick up a developer's or CI's own pubkit configuration.
for _name in [name for name in os.environ if name.startswith("PUBKIT_")]:
    del os.environ[_name]


@pytest.fixture
def dist_dir(tmp_path: Path) -> Path:
    path = tmp_path / "dist"
    path.mkdir()
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    path.mkdir()
    yield path
