"""Fixtures of the CI-integration tier: a live ``pubkit serve`` per module, as in tests/e2e."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pubkit.testing import LiveServer
from tests.e2e.support import start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``pubkit serve`` in a real process, with users alice and bob; shared by a module."""
    live = start_server(tmp_path_factory.mktemp("server") / "data")
    try:
        yield live
    finally:
        live.stop()
