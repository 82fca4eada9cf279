"""The upstream, in-process: the guard, quarantine, yanks, PEP 658, the cache, stale pages.

The upstream is a real HTTP server (tests/upstream_support.py) whose pages the tests write."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pubkit.server.simple import JSON_V1
from pubkit.testing import core_metadata, make_wheel
from tests.cli_support import run_cli
from tests.server.conftest import Index, MakeIndex, basic
from tests.server.test_admin_api import api
from tests.upstream_support import StaticIndex, yesterday

JSON = {"Accept": JSON_V1}


def files_of(index: Index, name: str) -> dict[str, dict[str, Any]]:
    response = index.client.get(f"/simple/{name}/", headers=JSON)
    assert response.status_code == 200, response.text
    return {f["filename"]: f for f in response.json()["files"]}


def test_an_upstream_project_is_served_and_cached(
    make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path
) -> None:
    wheel = make_wheel(dist_dir, "public-lib", "1.0")
    metadata = core_metadata("public-lib", "1.0").encode()
    upstream.add(wheel, metadata=metadata, yanked="bad build")
    index = make_index()
    files = files_of(index, "public-lib")
    entry = files[wheel.name]
    assert entry["url"] == f"../../upstream/files/public-lib/{wheel.name}"
    assert entry["hashes"] == {"sha256": hashlib.sha256(wheel.read_bytes()).hexdigest()}
    assert entry["yanked"] == "bad build"
    assert entry["core-metadata"] == {"sha256": hashlib.sha256(metadata).hexdigest()}
    page = index.client.get("/simple/public-lib/", headers=JSON).json()
    assert page["tracks"] == [f"{upstream.simple_url}public-lib/"]
    html = index.client.get("/simple/public-lib/").text
    assert 'data-yanked="bad build"' in html
    # The file: fetched once, then from storage, also once the upstream is down.
    url = f"/upstream/files/public-lib/{wheel.name}"
    assert index.client.get(url).content == wheel.read_bytes()
    assert index.client.get(url + ".metadata").content == metadata
    fetched = [p for p in upstream.requests if p.startswith("/files/")]
    assert fetched == [f"/files/{wheel.name}", f"/files/{wheel.name}.metadata"]
    assert index.services.storage.read_bytes(
        f".upstream/files/public-lib/{wheel.name}") == wheel.read_bytes()  # fmt: skip
    upstream.failing = True
    assert index.client.get(url).content == wheel.read_bytes()
    assert [p for p in upstream.requests if p.startswith("/files/")] == fetched


def test_missing_everywhere_is_404(make_index: MakeIndex) -> None:
    index = make_index()
    response = index.client.get("/simple/nowhere/")
    assert response.status_code == 404 and "not on this index" in response.text


def test_the_guard(make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path) -> None:
    upstream_dir = dist_dir / "upstream"
    for name in ("acme-core", "reserved-name", "acme-tools"):
        upstream.add(make_wheel(upstream_dir, name, "99.0"))
    index = make_index(internal_names="Acme_T*")  # spelled as any name may be
    assert index.upload(make_wheel(dist_dir, "acme-core", "1.2")).status_code == 200
    assert list(files_of(index, "acme-core")) == ["acme_core-1.2-py3-none-any.whl"]
    index.admin().reserve("reserved-name")
    # The internal pattern and the reservation: nothing from the upstream, a 404.
    for name in ("acme-tools", "reserved-name"):
        assert index.client.get(f"/simple/{name}/").status_code == 404, name
        wheel = f"{name.replace('-', '_')}-99.0-py3-none-any.whl"
        assert index.client.get(f"/upstream/files/{name}/{wheel}").status_code == 404
    assert index.client.get(
        "/upstream/files/acme-core/acme_core-99.0-py3-none-any.whl").status_code == 404  # fmt: skip
    assert not any(p.startswith(("/simple/acme", "/simple/reserved")) for p in upstream.requests)
    # Tracking is the explicit opt-in: the page then has both, and says so (PEP 708).
    index.admin().track("acme-core", True)
    page = index.client.get("/simple/acme-core/", headers=JSON).json()
    assert [f["filename"] for f in page["files"]] == [
        "acme_core-1.2-py3-none-any.whl", "acme_core-99.0-py3-none-any.whl"]
    assert page["tracks"] == page["alternate-locations"] == [f"{upstream.simple_url}acme-core/"]
    assert page["files"][0]["url"].startswith("../../files/")
    entries = [e for e in index.admin().audit() if e.action == "track upstream"]
    assert [e.target for e in entries] == ["acme-core"]
    index.admin().track("acme-core", False)
    assert list(files_of(index, "acme-core")) == ["acme_core-1.2-py3-none-any.whl"]


def test_quarantine(make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path) -> None:
    upstream.add(make_wheel(dist_dir, "fresh", "1.0"), upload_time=yesterday().replace(year=2020))
    upstream.add(make_wheel(dist_dir, "fresh", "2.0"), upload_time=yesterday())
    index = make_index(upstream_min_age="3d")
    assert list(files_of(index, "fresh")) == ["fresh-1.0-py3-none-any.whl"]
    new = "/upstream/files/fresh/fresh-2.0-py3-none-any.whl"
    assert index.client.get(new).status_code == 404
    index.admin().set_min_age("fresh", 0)
    assert list(files_of(index, "fresh")) == ["fresh-1.0-py3-none-any.whl",
                                              "fresh-2.0-py3-none-any.whl"]  # fmt: skip
    assert index.client.get(new).status_code == 200


def test_a_tampered_file_is_refused(
    make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path
) -> None:
    wheel = make_wheel(dist_dir, "tampered", "1.0")
    upstream.add(wheel, wrong_sha256=True)
    index = make_index()
    response = index.client.get(f"/upstream/files/tampered/{wheel.name}")
    assert response.status_code == 502
    assert "does not match the sha256" in response.text
    assert list(index.services.storage.list(".upstream/files/")) == []


def test_stale_pages_when_the_upstream_fails_or_stalls(
    make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path
) -> None:
    upstream.add(make_wheel(dist_dir, "flaky", "1.0"))
    index = make_index(upstream_ttl="0", upstream_timeout="1")
    assert list(files_of(index, "flaky")) == ["flaky-1.0-py3-none-any.whl"]
    upstream.failing = True
    response = index.client.get("/simple/flaky/", headers=JSON)
    assert response.status_code == 200
    assert "answered 500" in response.headers["x-pubkit-upstream-stale"]
    upstream.failing, upstream.stall = False, 5.0
    response = index.client.get("/simple/flaky/", headers=JSON)
    assert response.status_code == 200
    assert "did not answer" in response.headers["x-pubkit-upstream-stale"]
    # Without a copy: a one-line 502.
    response = index.client.get("/simple/never-seen/")
    assert response.status_code == 502 and response.text.count("\n") == 1


def test_a_new_worker_reads_the_stored_page(
    make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path
) -> None:
    upstream.add(make_wheel(dist_dir, "kept", "1.0"))
    assert list(files_of(make_index(), "kept")) == ["kept-1.0-py3-none-any.whl"]
    upstream.failing = True
    later = make_index()
    response = later.client.get("/simple/kept/", headers=JSON)
    assert response.status_code == 200 and "x-pubkit-upstream-stale" in response.headers


def test_an_html_upstream(make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path) -> None:
    upstream.html = True
    wheel = make_wheel(dist_dir, "old-style", "1.0")
    upstream.add(wheel, yanked="gone")
    index = make_index()
    entry = files_of(index, "old-style")[wheel.name]
    assert entry["yanked"] == "gone"
    assert index.client.get(entry["url"].replace("../..", "")).content == wheel.read_bytes()


def test_redirect_mode(make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path) -> None:
    wheel = make_wheel(dist_dir, "linked", "1.0")
    upstream.add(wheel)
    index = make_index(upstream_mode="redirect")
    entry = files_of(index, "linked")[wheel.name]
    assert entry["url"] == f"http://127.0.0.1:{upstream.port}/files/{wheel.name}"


def test_the_json_api_answers_for_upstream_projects(
    make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path
) -> None:
    old = make_wheel(dist_dir, "bot-read", "1.0")
    upstream.add(old, upload_time=yesterday().replace(year=2020), yanked="broken")
    upstream.add(make_wheel(dist_dir, "bot-read", "2.0"), upload_time=yesterday())
    upstream.add(make_wheel(dist_dir, "acme-core", "99.0"))
    index = make_index(upstream_min_age="3d", internal_names="acme-*")
    document = index.client.get("/pypi/bot-read/json").json()
    # 2.0 is in quarantine; 1.0, yanked upstream, is all there is.
    assert list(document["releases"]) == ["1.0"]
    entry = document["releases"]["1.0"][0]
    assert entry["yanked"] is True and entry["yanked_reason"] == "broken"
    assert entry["digests"]["sha256"] == hashlib.sha256(old.read_bytes()).hexdigest()
    assert entry["upload_time"].startswith("2020-")
    assert entry["url"] == f"http://testserver/upstream/files/bot-read/{old.name}"
    assert index.client.get(entry["url"]).content == old.read_bytes()
    assert index.client.get("/pypi/bot-read/2.0/json").status_code == 404
    # The guard holds here too.
    assert index.client.get("/pypi/acme-core/json").status_code == 404


def test_status_and_prune(
    make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path, data_dir: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    wheel = make_wheel(dist_dir, "kept-lib", "1.0")
    upstream.add(wheel)
    index = make_index()
    url = f"/upstream/files/kept-lib/{wheel.name}"
    files_of(index, "kept-lib")
    files_of(index, "kept-lib")
    assert index.client.get(url).status_code == 200
    assert index.client.get(url).status_code == 200
    status = api(index, "GET", "/upstream").json()
    assert status["upstreams"] == [{"url": upstream.simple_url, "reachable": True,
                                    "problem": None}]  # fmt: skip
    assert status["cache"] == {"files": 1, "pages": 1,
                               "bytes": status["cache"]["bytes"]}  # fmt: skip
    assert status["cache"]["bytes"] > wheel.stat().st_size
    # Pages: the first fetched; the second (the rendered page) and the first download's
    # look-up (the page) from the cache.
    assert status["pages"] == {"hits": 2, "fetches": 1, "errors": 0}
    assert status["files"] == {"hits": 1, "fetches": 1, "errors": 0}
    assert status["last_error"] is None
    # One worker here: it counts for every worker, and says so.
    pid = os.getpid()
    assert status["counted"]["every_worker"] is True
    assert status["counted"]["answered_by"] == pid
    [worker] = status["counted"]["workers"]
    assert worker["pid"] == pid and worker["running"] is True
    assert (worker["pages"], worker["files"]) == (status["pages"], status["files"])
    assert api(index, "GET", "/upstream", who="alice").status_code == 403
    exposed = index.client.get("/metrics").text
    assert 'pubkit_upstream_requests_total{kind="file",result="hit"} 1.0' in exposed
    assert 'pubkit_upstream_requests_total{kind="page",result="fetch"} 1.0' in exposed
    assert 'pubkit_upstream_requests_total{kind="page",result="hit"} 2.0' in exposed
    # The CLI on the data dir: the same cache, reachability checked from here.
    code, out, err = run_cli(monkeypatch, capsys, "upstream", "status", "--upstream",
                             upstream.simple_url, "--data-dir", str(data_dir))  # fmt: skip
    assert code == 0, err
    assert f"{upstream.simple_url}\treachable" in out
    assert "cache: 1 files, 1 pages" in out
    dry = index.client.post("/api/v1/upstream/prune", headers=basic("root"),
                            json={"older_than_seconds": 0, "dry_run": True})  # fmt: skip
    assert dry.json()["files"] == 1 and dry.json()["dry_run"] is True
    assert index.services.storage.size(f".upstream/files/kept-lib/{wheel.name}") is not None
    code, out, err = run_cli(monkeypatch, capsys, "upstream", "prune", "--older-than", "0",
                             "--data-dir", str(data_dir))  # fmt: skip
    assert code == 0, err
    assert "removed 1 files and 1 pages" in out
    assert list(index.services.storage.list(".upstream/")) == []
    # The worker that had it fetches it again.
    assert index.client.get(url).content == wheel.read_bytes()
    assert [p for p in upstream.requests if p.startswith("/files/")] == [f"/files/{wheel.name}"] * 2
    code, out, err = run_cli(monkeypatch, capsys, "upstream", "prune", "--older-than", "soon",
                             "--data-dir", str(data_dir))  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1, err


def test_upstream_credentials_go_to_the_upstream_only(
    make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path
) -> None:
    upstream.credentials = ("mirror", "s3cret-pass")
    wheel = make_wheel(dist_dir, "guarded-lib", "1.0")
    upstream.add(wheel)
    secret_url = upstream.simple_url.replace("http://", "http://mirror:s3cret-pass@")
    assert make_index(upstream=upstream.simple_url).client.get(
        "/simple/guarded-lib/").status_code == 502  # fmt: skip
    index = make_index(upstream=secret_url)
    page = index.client.get("/simple/guarded-lib/", headers=JSON)
    assert page.status_code == 200 and "s3cret" not in page.text
    assert index.client.get(f"/upstream/files/guarded-lib/{wheel.name}").content == (
        wheel.read_bytes())  # fmt: skip
    status = index.client.get("/api/v1/upstream", headers=basic("root"))
    assert "s3cret" not in status.text and status.json()["upstreams"][0]["reachable"]
    linked = make_index(upstream=secret_url, upstream_mode="redirect")
    page = linked.client.get("/simple/guarded-lib/", headers=JSON)
    assert "s3cret" not in page.text and "mirror@" not in page.text


def test_a_token_in_the_upstream_url_is_never_shown(
    make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path
) -> None:
    """A token given as the URL's user (``https://TOKEN@host/simple/``, sent as the user
    with an empty password) is a credential too: not in the 502 an anonymous reader gets,
    the stale page's header, nor the status's last error."""
    upstream.credentials = ("t0ken-s3cret", "")
    upstream.add(make_wheel(dist_dir, "token-lib", "1.0"))
    index = make_index(upstream=upstream.simple_url.replace("http://", "http://t0ken-s3cret@"),
                       upstream_ttl="0")  # fmt: skip
    assert list(files_of(index, "token-lib")) == ["token_lib-1.0-py3-none-any.whl"]
    upstream.failing = True
    stale = index.client.get("/simple/token-lib/", headers=JSON)
    assert stale.status_code == 200
    assert "answered 500" in stale.headers["x-pubkit-upstream-stale"]
    assert "t0ken" not in stale.headers["x-pubkit-upstream-stale"]
    # Port 1: nothing listens there, "did not answer".
    index = make_index(upstream="http://t0ken-s3cret@127.0.0.1:1/simple/")
    missing = index.client.get("/simple/never-seen/")
    assert missing.status_code == 502 and "did not answer" in missing.text
    assert "t0ken" not in missing.text
    status = index.client.get("/api/v1/upstream", headers=basic("root"))
    assert status.status_code == 200 and "did not answer" in status.text
    assert "t0ken" not in status.text


def test_pages_are_revalidated_after_their_ttl(
    make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path
) -> None:
    upstream.add(make_wheel(dist_dir, "steady", "1.0"))
    fresh = make_index()  # the default TTL: asked once
    for _ in range(3):
        assert list(files_of(fresh, "steady")) == ["steady-1.0-py3-none-any.whl"]
    assert [status for status, _ in upstream.page_answers] == [200]
    upstream.page_answers.clear()
    # Another worker, whose pages are revalidated at every request: it starts from the copy
    # in storage, so even its first request is a conditional one.
    index = make_index(upstream_ttl="0")
    for _ in range(2):
        assert list(files_of(index, "steady")) == ["steady-1.0-py3-none-any.whl"]
    assert [status for status, _ in upstream.page_answers] == [304, 304]
    assert all(tag is not None for _, tag in upstream.page_answers)
    upstream.add(make_wheel(dist_dir, "steady", "2.0"))
    assert list(files_of(index, "steady")) == ["steady-1.0-py3-none-any.whl",
                                               "steady-2.0-py3-none-any.whl"]  # fmt: skip
    assert upstream.page_answers[-1][0] == 200


def test_the_guard_survives_a_rebuilt_catalog(
    make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path, data_dir: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    """Reserved, tracked and quarantined names are part of the access state in storage: a
    catalog lost and rebuilt from storage alone guards the same names (else a reserved name
    would be open to dependency confusion again)."""
    upstream_dir = dist_dir / "upstream"
    for name in ("reserved-name", "acme-core"):
        upstream.add(make_wheel(upstream_dir, name, "99.0"))
    upstream.add(make_wheel(upstream_dir, "fresh-lib", "0.9"),
                 upload_time=yesterday().replace(year=2020))
    upstream.add(make_wheel(upstream_dir, "fresh-lib", "1.0"), upload_time=yesterday())
    index = make_index()
    assert index.upload(make_wheel(dist_dir, "acme-core", "1.2")).status_code == 200
    index.admin().reserve("reserved-name")
    index.admin().track("acme-core", True)
    index.admin().set_min_age("fresh-lib", 3 * 86400)
    rules = index.catalog.upstream_rules()
    assert set(rules) == {"reserved-name", "acme-core", "fresh-lib"}
    index.client.__exit__(None, None, None)
    index.catalog.close()
    (data_dir / "catalog.sqlite3").unlink()

    code, _, err = run_cli(monkeypatch, capsys, "index", "rebuild", "--data-dir", str(data_dir))
    assert code == 0, err
    rebuilt = make_index()
    assert rebuilt.catalog.upstream_rules() == rules
    assert rebuilt.client.get("/simple/reserved-name/").status_code == 404
    assert not any(p.startswith("/simple/reserved") for p in upstream.requests)
    page = rebuilt.client.get("/simple/acme-core/", headers=JSON).json()
    assert [f["filename"] for f in page["files"]] == [
        "acme_core-1.2-py3-none-any.whl", "acme_core-99.0-py3-none-any.whl"]
    assert list(files_of(rebuilt, "fresh-lib")) == ["fresh_lib-0.9-py3-none-any.whl"]


def test_every_page_served_from_the_cache_counts_as_a_hit(
    make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path
) -> None:
    """The read path's first try (the rendered page) is a hit like a fresh page's."""
    upstream.add(make_wheel(dist_dir, "counted", "1.0"))
    index = make_index()
    for _ in range(5):
        assert list(files_of(index, "counted")) == ["counted-1.0-py3-none-any.whl"]
    for _ in range(3):
        assert index.client.get("/simple/counted/").status_code == 200  # HTML: another page
    status = api(index, "GET", "/upstream").json()
    assert status["pages"] == {"hits": 7, "fetches": 1, "errors": 0}


def test_file_errors_are_counted_with_the_last_error(
    make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path
) -> None:
    wheel = make_wheel(dist_dir, "broken-file", "1.0")
    upstream.add(wheel, wrong_sha256=True)
    index = make_index()
    files_of(index, "broken-file")
    url = f"/upstream/files/broken-file/{wheel.name}"
    assert index.client.get(url).status_code == 502
    assert index.client.get(url).status_code == 502
    status = api(index, "GET", "/upstream").json()
    assert status["files"] == {"hits": 0, "fetches": 2, "errors": 2}
    error = status["last_error"]
    assert "does not match the sha256" in error["message"] and error["worker"] == os.getpid()
    assert datetime.fromisoformat(error["time"]).tzinfo is not None
    assert status["counted"]["workers"][0]["last_error"]["message"] == error["message"]
    exposed = index.client.get("/metrics").text
    assert 'pubkit_upstream_requests_total{kind="file",result="error"} 2.0' in exposed
