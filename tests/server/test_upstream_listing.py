"""``--upstream-list-cached``, in-process: /simple/ lists the cached upstream projects (HTML
and JSON) beside the local ones, never a name the guard keeps local, nor a page whose files
are all in quarantine; off by default. The upstream is a real HTTP server."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pubkit.errors import PubkitError
from pubkit.server.simple import JSON_V1
from pubkit.testing import make_wheel
from tests.server.conftest import MakeIndex
from tests.server.test_upstream import files_of
from tests.upstream_support import StaticIndex, yesterday

JSON = {"Accept": JSON_V1}


def listed(index: object, timeout: float = 10.0, want: set[str] | None = None) -> list[str]:
    """The JSON project list's names, once the background scan has caught up with ``want``
    (the scan runs at most every few seconds: the first request after a change may not)."""
    client = index.client  # type: ignore[attr-defined]
    listing = index.services.upstream.listing  # type: ignore[attr-defined]
    listing.interval = 0.0  # every request may start a scan (the default waits seconds)
    deadline = time.monotonic() + timeout
    while True:
        response = client.get("/simple/", headers=JSON)
        assert response.status_code == 200, response.text
        names = [p["name"] for p in response.json()["projects"]]
        if want is None or set(names) >= want or time.monotonic() > deadline:
            return names
        time.sleep(0.05)


def test_off_by_default(make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path) -> None:
    upstream.add(make_wheel(dist_dir / "up", "cached-lib", "1.0"))
    index = make_index()
    assert index.services.upstream is not None and index.services.upstream.listing is None
    files_of(index, "cached-lib")
    assert index.client.get("/simple/", headers=JSON).json()["projects"] == []


def test_cached_upstream_projects_are_listed_but_never_a_guarded_name(
    make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path
) -> None:
    up = dist_dir / "up"
    for name in ("cached-lib", "acme-core", "acme-tools", "reserved-name", "private-one"):
        upstream.add(make_wheel(up, name, "99.0"))
    upstream.add(make_wheel(up, "young-lib", "1.0"), upload_time=yesterday())
    upstream.add(make_wheel(up, "aged-lib", "1.0"), upload_time=yesterday().replace(year=2020))
    index = make_index(upstream_list_cached="1", internal_names="acme-t*",
                       upstream_min_age="3d")  # fmt: skip
    # Pages cached while the names were still open to the upstream: then guarded.
    for name in ("cached-lib", "acme-core", "private-one", "reserved-name", "young-lib",
                 "aged-lib"):  # fmt: skip
        index.client.get(f"/simple/{name}/")  # young-lib: no file to offer yet, a 401/404
    assert index.upload(make_wheel(dist_dir, "acme-core", "1.2")).status_code == 200
    assert index.upload(make_wheel(dist_dir, "private-one", "1.0")).status_code == 200
    index.admin().set_private("private-one", True)
    index.admin().reserve("reserved-name")
    stored = {key.rsplit("/", 1)[1] for key in
              (obj.key for obj in index.services.storage.list(".upstream/pages/"))}
    assert {"acme-core.json", "private-one.json", "reserved-name.json"} <= stored
    # A page that no upstream has is stored too, without files: never listed.
    assert index.client.get("/simple/nowhere-lib/").status_code in (401, 404)
    names = listed(index, want={"cached-lib"})
    assert names == ["acme-core", "aged-lib", "cached-lib"]
    html = index.client.get("/simple/").text
    assert '<a href="cached-lib/">cached-lib</a>' in html
    assert '<a href="acme-core/">acme-core</a>' in html
    assert "reserved-name" not in html and "young-lib" not in html and "private-one" not in html
    document = index.client.get("/simple/", headers=JSON).json()
    assert {"name": "cached-lib"} in document["projects"]  # no serial of this index's
    # The local one wins, listed once; a private local name is never shown as the upstream's.
    assert [p["name"] for p in document["projects"]].count("acme-core") == 1
    # The quarantine lifted for young-lib: listed at the next serial.
    index.admin().set_min_age("young-lib", 0)
    assert "young-lib" in listed(index)
    # A name reserved later goes at once (the next serial), without waiting for a scan.
    index.admin().reserve("cached-lib")
    assert "cached-lib" not in listed(index)


def test_pruned_pages_leave_the_list(
    make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path
) -> None:
    upstream.add(make_wheel(dist_dir / "up", "passing-lib", "1.0"))
    index = make_index(upstream_list_cached="1")
    files_of(index, "passing-lib")
    assert listed(index, want={"passing-lib"}) == ["passing-lib"]
    index.admin().prune_upstream(0)
    deadline = time.monotonic() + 10
    while listed(index) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert listed(index) == []


@pytest.mark.parametrize("value", ["1", "true"])
def test_the_environment_turns_it_on(value: str) -> None:
    from pubkit.settings import load_server_settings

    on = load_server_settings(environ={"PUBKIT_UPSTREAM_LIST_CACHED": value})
    assert on.upstream_list_cached is True
    assert load_server_settings(environ={}).upstream_list_cached is False


def test_a_page_that_cannot_be_read_does_not_freeze_the_list(
    make_index: MakeIndex, upstream: StaticIndex, dist_dir: Path, s3_bucket: str
) -> None:
    """One cached page that storage will not give (here S3's InvalidObjectState: a
    lifecycle rule moved it to Glacier) or that is malformed is left out; the scan goes on,
    and the projects cached after it are listed."""
    import boto3

    for name in ("first-lib", "later-lib"):
        upstream.add(make_wheel(dist_dir / "up", name, "1.0"))
    index = make_index(upstream_list_cached="1",
                       storage=f"s3://{s3_bucket}/pubkit?addressing=path")  # fmt: skip
    files_of(index, "first-lib")
    assert listed(index, want={"first-lib"}) == ["first-lib"]
    s3 = boto3.client("s3")
    s3.put_object(Bucket=s3_bucket, Key="pubkit/.upstream/pages/cold-lib.json",
                  Body=b'{"name": "cold-lib", "files": []}', StorageClass="GLACIER")  # fmt: skip
    s3.put_object(Bucket=s3_bucket, Key="pubkit/.upstream/pages/odd-lib.json",
                  Body=b'{"name": "odd-lib", "files": [1]}')  # fmt: skip
    with pytest.raises(PubkitError):
        index.services.storage.read_bytes(".upstream/pages/cold-lib.json")
    files_of(index, "later-lib")
    assert listed(index, want={"later-lib"}) == ["first-lib", "later-lib"]


def test_a_listed_page_costs_the_same_whatever_its_files() -> None:
    """Every worker holds every cached page it lists: what it keeps of one must not grow
    with the page's files (a project of thousands of files, many such pages)."""
    import tracemalloc
    from datetime import datetime, timedelta, timezone

    from pubkit.server.upstream.client import UpstreamFile
    from pubkit.server.upstream.listing import listed as listed_page
    from pubkit.server.upstream.pages import UpstreamPage

    def page(files: int) -> bytes:
        when = datetime(2020, 1, 1, tzinfo=timezone.utc)
        return UpstreamPage("big-lib", "http://up/simple/", tuple(
            UpstreamFile(f"big_lib-{i}.0-py3-none-any.whl", f"http://up/{i}.whl", {},
                         upload_time=when + timedelta(hours=i))
            for i in range(files))).to_json()  # fmt: skip

    def kept(raw: bytes) -> int:
        tracemalloc.start()
        try:
            held = [listed_page(raw) for _ in range(20)]
            size = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert all(entry is not None for entry in held)
        return size

    one, thousands = kept(page(1)), kept(page(2000))
    assert thousands < 2 * one + 64 * 1024, (one, thousands)
