from __future__ import annotations

from pathlib import Path

from pubkit.testing import make_wheel
from tests.server.conftest import Index


def test_upload_then_list(index: Index, dist_dir: Path) -> None:
    wheel = make_wheel(dist_dir, "demo", "1.0")
    response = index.upload(wheel)
    assert response.status_code == 200, response.text
    page = index.client.get("/simple/demo/")
    assert wheel.name in page.text
