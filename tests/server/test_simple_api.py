from __future__ import annotations

from pathlib import Path

import pytest

from pubkit.server import admin
from pubkit.server.simple import JSON_V1
from pubkit.testing import make_sdist, make_wheel
from tests.server.conftest import Index, basic

JSON = {"Accept": JSON_V1}


@pytest.fixture
def demo(index: Index, dist_dir: Path) -> Index:
    for version in ("1.0", "2.0"):
        assert index.upload(make_wheel(dist_dir, "Demo_Pkg", version, requires_python=">=3.9"))
        assert index.upload(make_sdist(dist_dir, "Demo_Pkg", version)).status_code == 200
    return index


def test_index_lists_projects(demo: Index) -> None:
    html = demo.client.get("/simple/")
    assert html.headers["content-type"].startswith("text/html")
    assert '<a href="demo-pkg/">Demo_Pkg</a>' in html.text
    document = demo.client.get("/simple/", headers=JSON).json()
    assert [p["name"] for p in document["projects"]] == ["Demo_Pkg"]
    assert document["meta"]["api-version"] == "1.1"


def test_project_page_json(demo: Index) -> None:
    response = demo.client.get("/simple/demo-pkg/", headers=JSON)
    assert response.headers["content-type"] == JSON_V1
    assert response.headers["vary"] == "Accept, Authorization"
    document = response.json()
    assert document["versions"] == ["1.0", "2.0"]
    assert {f["filename"] for f in document["files"]} == {
        "demo_pkg-1.0-py3-none-any.whl", "demo_pkg-1.0.tar.gz",
        "demo_pkg-2.0-py3-none-any.whl", "demo_pkg-2.0.tar.gz",
    }
    serial = int(response.headers["x-pypi-last-serial"])
    assert document["meta"]["_last-serial"] == serial > 0


def test_non_normalized_name_redirects(demo: Index) -> None:
    for path, location in [
        ("/simple/Demo_Pkg/", "../demo-pkg/"),
        ("/simple/demo.pkg/", "../demo-pkg/"),
        ("/simple/demo-pkg", "demo-pkg/"),
    ]:
        response = demo.client.get(path, follow_redirects=False)
        assert response.status_code == 301, path
        assert response.headers["location"] == location
    assert demo.client.get("/simple/Demo_Pkg/").url.path == "/simple/demo-pkg/"


def test_unknown_project_is_404(demo: Index) -> None:
    response = demo.client.get("/simple/nothing-here/")
    assert response.status_code == 404
    assert "not on this index" in response.text
    assert demo.client.get("/simplex/").status_code == 404
    assert demo.client.get("/simple/demo-pkg/extra").status_code == 404
    assert demo.client.get("/simple", follow_redirects=False).headers["location"] == "/simple/"


def test_simple_api_is_read_only(demo: Index) -> None:
    response = demo.client.post("/simple/demo-pkg/")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"


def test_not_acceptable(demo: Index) -> None:
    response = demo.client.get("/simple/demo-pkg/", headers={"Accept": "application/json"})
    assert response.status_code == 406
    assert JSON_V1 in response.text


def test_format_query_parameter(demo: Index) -> None:
    response = demo.client.get(f"/simple/demo-pkg/?format={JSON_V1}")
    assert response.headers["content-type"] == JSON_V1


def test_etag_and_304(demo: Index) -> None:
    first = demo.client.get("/simple/demo-pkg/", headers=JSON)
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "max-age=0, must-revalidate"
    again = demo.client.get("/simple/demo-pkg/", headers={**JSON, "If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    html = demo.client.get("/simple/demo-pkg/", headers={"If-None-Match": etag})
    assert html.status_code == 200  # another representation, another ETag


def test_new_upload_invalidates_cached_page(demo: Index, dist_dir: Path) -> None:
    before = demo.client.get("/simple/demo-pkg/", headers=JSON)
    demo.upload(make_wheel(dist_dir, "demo-pkg", "3.0"))
    after = demo.client.get("/simple/demo-pkg/", headers={**JSON, "If-None-Match":
                                                          before.headers["etag"]})
    assert after.status_code == 200
    assert "3.0" in after.json()["versions"]
    assert int(after.headers["x-pypi-last-serial"]) > int(before.headers["x-pypi-last-serial"])


def test_other_projects_pages_survive_an_upload(demo: Index, dist_dir: Path) -> None:
    first = demo.client.get("/simple/demo-pkg/", headers=JSON)
    demo.upload(make_wheel(dist_dir, "other", "1.0"))
    again = demo.client.get("/simple/demo-pkg/", headers=JSON)
    assert again.headers["etag"] == first.headers["etag"]
    assert "other" in demo.client.get("/simple/").text


def test_yank_shows_in_both_formats(demo: Index) -> None:
    admin.yank_release(demo.services.storage, demo.catalog, "demo-pkg", "1.0", "broken", "root")
    files = demo.client.get("/simple/demo-pkg/", headers=JSON).json()["files"]
    yanked = {f["filename"]: f["yanked"] for f in files}
    assert yanked["demo_pkg-1.0.tar.gz"] == "broken"
    assert yanked["demo_pkg-2.0.tar.gz"] is False
    assert 'data-yanked="broken"' in demo.client.get("/simple/demo-pkg/").text


def test_head_has_no_body(demo: Index) -> None:
    response = demo.client.head("/simple/demo-pkg/")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0


def test_authenticated_read_policy(data_dir: Path, dist_dir: Path) -> None:
    from starlette.testclient import TestClient

    from pubkit.server.app import create_app
    from pubkit.settings import load_server_settings

    app = create_app(load_server_settings({"data_dir": data_dir, "read": "authenticated"},
                                          environ={}))
    with TestClient(app) as client:
        admin.add_user(app.state.services.catalog, "alice", "correct-horse-battery")
        denied = client.get("/simple/")
        assert denied.status_code == 401
        assert denied.headers["www-authenticate"].startswith("Basic")
        assert client.get("/simple/", headers=basic("alice")).status_code == 200
        assert client.get("/simple/", headers=basic("alice", "wrong-pass")).status_code == 401
        assert client.get("/health").status_code == 200


def test_access_log_lines_are_json(demo: Index, caplog: pytest.LogCaptureFixture) -> None:
    import json
    import logging

    with caplog.at_level(logging.INFO, logger="pubkit.access"):
        demo.client.get('/simple/demo-pkg/?x="quoted"')
        demo.client.get('/simple/we"ird\\/')
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "pubkit.access"]
    assert lines[0]["path"] == "/simple/demo-pkg/" and lines[0]["status"] == 200
    assert lines[1]["path"] == '/simple/we"ird\\/'
    assert set(lines[0]) == {"time", "request_id", "method", "path", "status", "bytes", "ms",
                             "client", "user", "token"}  # fmt: skip
