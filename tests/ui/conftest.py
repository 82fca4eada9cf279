"""Browser tests: one chromium per module, one live server per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pubkit.testing import LiveServer
from tests.ui.support import CHROMIUM, chromium_missing, seed

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    reason = chromium_missing()
    if reason is not None:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("ui")
    started = LiveServer(root / "data").start()
    try:
        seed(started, root / "dists")
        yield started
    finally:
        started.stop()
