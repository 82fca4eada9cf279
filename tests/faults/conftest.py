"""The fault suites assert time bounds (liveness under 100 ms while S3 is paused, a normal
client's p99 under 50 ms during attacks): they run alone, after the rest of the suite, so
that no other test shares the machine's two cores with them (the README's test command
runs ``-m 'not alone'`` in parallel, then ``-m alone``)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.alone)
