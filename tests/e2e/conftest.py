"""Fixtures of the e2e tier: one live server per module and cheap throwaway venvs.

Helpers (clients, the access log, ``start_server``) live in :mod:`tests.e2e.support`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from pubkit.testing import LiveServer
from tests.conftest import server_backend, unique_bucket_name
from tests.e2e.support import Venv, VenvFactory, create_venv, start_server


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module runs against each backend in its ``SERVER_BACKENDS`` (default: local only):
    "local" (files in the data dir, SQLite) and "s3-postgres" (moto's S3 in server mode and
    the local PostgreSQL server)."""
    if "server" in metafunc.fixturenames and "server" not in getattr(
        metafunc.module, "__dict__", {}
    ):
        backends = getattr(metafunc.module, "SERVER_BACKENDS", ("local",))
        metafunc.parametrize("server", backends, indirect=True, scope="module")


@pytest.fixture(scope="module")
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """``pubkit serve`` in a real process, with users alice and bob; shared by a module."""
    backend = getattr(request, "param", "local")
    if backend != "local":
        request.getfixturevalue("moto_s3")
    bucket = unique_bucket_name(f"e2e-{request.module.__name__.rsplit('.', 1)[-1]}")
    with server_backend(backend, bucket):
        live = start_server(tmp_path_factory.mktemp("server") / "data")
        try:
            yield live
        finally:
            live.stop()


@pytest.fixture(scope="session")
def make_venv(tmp_path_factory: pytest.TempPathFactory) -> VenvFactory:
    """A factory of fresh, empty virtual environments (no pip inside: the outer pip installs)."""
    root = tmp_path_factory.mktemp("venvs")
    counter = itertools.count()

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
