"""Fixtures of the e2e tier: one live server per module and cheap throwaway venvs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pubkit.testing import LiveServer
from tests.e2e.support import PASSWORDS, Venv, create_venv


def start_server(data_dir: Path) -> LiveServer:
    server = LiveServer(data_dir)
    for name, password in PASSWORDS.items():
        server.add_user(name, password)
    return server.start()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``pubkit serve`` in a real process, with users alice and bob; shared by a module."""
    live = start_server(tmp_path_factory.mktemp("server") / "data")
    try:
        yield live
    finally:
        live.stop()


VenvFactory = Callable[[], Venv]


@pytest.fixture(scope="session")
def make_venv(tmp_path_factory: pytest.TempPathFactory) -> VenvFactory:
    """A factory of fresh, empty virtual environments (no pip inside: the outer pip installs)."""
    root = tmp_path_factory.mktemp("venvs")
    counter = iter(range(1_000_000))

    def make() -> Venv:
        return create_venv(root / f"venv-{next(counter)}")

    return make


@pytest.fixture
def venv(make_venv: VenvFactory) -> Venv:
    return make_venv()


@pytest.fixture
def dists(tmp_path: Path) -> Path:
    path = tmp_path / "dists"
    path.mkdir()
    return path
