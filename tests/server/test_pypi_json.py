"""PyPI's JSON API: the shape of a recorded PyPI answer, the values from the catalog and the
stored metadata, and the read policy of /simple/ (private answers as missing)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from pubkit.testing import core_metadata, make_sdist, make_wheel
from tests.server.conftest import Index, basic

# Recorded with `curl https://pypi.org/pypi/sampleproject/json` (2026-12-03), trimmed to
# three releases, its description and license text shortened.
RECORDED = Path(__file__).parent.parent / "fixtures" / "pypi_sampleproject.json"
ISO_8601 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
PLAIN_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$")


def recorded() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(RECORDED.read_text())
    return document


def metadata(name: str, version: str) -> str:
    return core_metadata(name, version, requires=["peppercorn", 'coverage; extra == "test"'],
                         requires_python=">=3.9", summary="A sample project").replace(
        "Description-Content-Type",
        "Project-URL: Source, https://example.com/src\nKeywords: sample,demo\n"
        "Provides-Extra: test\nClassifier: Programming Language :: Python :: 3\n"
        "Description-Content-Type",
    )  # fmt: skip


@pytest.fixture
def sample(index: Index, dist_dir: Path) -> Index:
    for version in ("1.0", "1.2.0", "2.0rc1"):
        wheel = make_wheel(dist_dir, "Sample_Project", version, requires_python=">=3.9",
                           metadata=metadata("Sample_Project", version))  # fmt: skip
        assert index.upload(wheel).status_code == 200
        assert index.upload(make_sdist(dist_dir, "Sample_Project", version)).status_code == 200
    return index


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def test_the_answer_has_the_shape_of_pypis(sample: Index) -> None:
    ours = sample.client.get("/pypi/sample-project/json")
    assert ours.status_code == 200
    assert ours.headers["content-type"] == "application/json"
    document = ours.json()
    pypi = recorded()
    assert set(document) == set(pypi) - {"ownership"}
    assert set(document["info"]) == set(pypi["info"])
    pypi_file = pypi["releases"]["1.2.0"][0]
    for entry in [*document["urls"], *(f for r in document["releases"].values() for f in r)]:
        assert set(entry) == set(pypi_file)
        assert set(entry["digests"]) == set(pypi_file["digests"])
        for key, value in entry.items():
            # Fields PyPI may leave empty are compared when both have a value.
            if value is not None and pypi_file[key] is not None and key != "core-metadata":
                assert _kind(value) == _kind(pypi_file[key]), key
        assert PLAIN_TIME.match(entry["upload_time"]) and PLAIN_TIME.match(
            pypi_file["upload_time"])  # fmt: skip
        assert ISO_8601.match(entry["upload_time_iso_8601"]) and ISO_8601.match(
            pypi_file["upload_time_iso_8601"])  # fmt: skip
        assert entry["upload_time_iso_8601"].startswith(entry["upload_time"])
    for key, value in document["info"].items():
        if value is not None and pypi["info"][key] is not None:
            assert _kind(value) == _kind(pypi["info"][key]), key
    assert _kind(document["last_serial"]) == _kind(pypi["last_serial"]) == "int"
    assert document["vulnerabilities"] == pypi["vulnerabilities"] == []


def test_the_fields_update_bots_read(sample: Index, dist_dir: Path) -> None:
    document = sample.client.get("/pypi/sample-project/json").json()
    info = document["info"]
    # The highest final release: 2.0rc1 is a pre-release.
    assert info["version"] == "1.2.0"
    assert info["name"] == "Sample_Project"
    assert info["summary"] == "A sample project"
    assert info["requires_python"] == ">=3.9"
    assert info["requires_dist"] == ["peppercorn", 'coverage; extra == "test"']
    assert info["project_urls"] == {"Source": "https://example.com/src"}
    assert info["keywords"] == "sample, demo"
    assert info["yanked"] is False
    assert list(document["releases"]) == ["1.0", "1.2.0", "2.0rc1"]
    wheel = dist_dir / "sample_project-1.2.0-py3-none-any.whl"
    data = wheel.read_bytes()
    urls = {entry["filename"]: entry for entry in document["urls"]}
    assert set(urls) == {wheel.name, "sample_project-1.2.0.tar.gz"}
    entry = urls[wheel.name]
    assert entry["digests"] == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "md5": hashlib.md5(data, usedforsecurity=False).hexdigest(),
        "blake2b_256": hashlib.blake2b(data, digest_size=32).hexdigest(),
    }
    assert entry["size"] == len(data) and entry["packagetype"] == "bdist_wheel"
    assert entry["python_version"] == "py3"
    assert urls["sample_project-1.2.0.tar.gz"]["python_version"] == "source"
    assert entry["url"] == f"http://testserver/files/sample-project/{wheel.name}"
    assert sample.client.get(entry["url"]).content == data
    assert entry["core-metadata"] == {"sha256": hashlib.sha256(
        metadata("Sample_Project", "1.2.0").encode()).hexdigest()}  # fmt: skip
    assert document["last_serial"] == int(
        sample.client.get("/simple/sample-project/").headers["x-pypi-last-serial"])  # fmt: skip


def test_yanks_and_new_releases_show_at_once(sample: Index, dist_dir: Path) -> None:
    assert sample.client.get("/pypi/sample-project/json").json()["info"]["version"] == "1.2.0"
    sample.admin("alice").yank("sample-project", "1.2.0", "broken")
    document = sample.client.get("/pypi/sample-project/json").json()
    assert document["info"]["version"] == "1.0"  # a yanked release is not the latest
    assert all(f["yanked"] and f["yanked_reason"] == "broken"
               for f in document["releases"]["1.2.0"])  # fmt: skip
    release = sample.client.get("/pypi/sample-project/1.2.0/json").json()
    assert release["info"]["yanked"] is True and release["info"]["yanked_reason"] == "broken"
    assert sample.upload(make_wheel(dist_dir, "Sample_Project", "3.0")).status_code == 200
    assert sample.client.get("/pypi/sample-project/json").json()["info"]["version"] == "3.0"


def test_every_release_yanked_or_pre_release_only(index: Index, dist_dir: Path) -> None:
    assert index.upload(make_wheel(dist_dir, "pre", "1.0a1")).status_code == 200
    assert index.upload(make_wheel(dist_dir, "pre", "1.0b1")).status_code == 200
    assert index.client.get("/pypi/pre/json").json()["info"]["version"] == "1.0b1"
    index.admin("alice").yank("pre", "1.0b1", None)
    assert index.client.get("/pypi/pre/json").json()["info"]["version"] == "1.0a1"
    index.admin("alice").yank("pre", "1.0a1", None)
    assert index.client.get("/pypi/pre/json").json()["info"]["version"] == "1.0b1"


def test_a_version_answer(sample: Index) -> None:
    response = sample.client.get("/pypi/Sample.Project/1.0/json")
    assert response.status_code == 200
    document = response.json()
    assert set(document) == {"info", "last_serial", "urls", "vulnerabilities"}
    assert document["info"]["version"] == "1.0"
    assert {f["filename"] for f in document["urls"]} == {
        "sample_project-1.0-py3-none-any.whl",
        "sample_project-1.0.tar.gz",
    }
    # Another spelling of a version finds it, as it does on PyPI.
    assert sample.client.get("/pypi/sample-project/1.0.0/json").json()["info"]["version"] == "1.0"
    assert sample.client.get("/pypi/sample-project/2.0rc1/json").json()["info"]["version"] == (
        "2.0rc1")  # fmt: skip


def test_missing_projects_versions_and_paths(sample: Index) -> None:
    for path in ("/pypi/nothing/json", "/pypi/sample-project/9.9/json",
                 "/pypi/sample-project/not a version/json"):  # fmt: skip
        response = sample.client.get(path)
        assert response.status_code == 404, path
        assert "not on this index" in response.text
    for path in ("/pypi/sample-project", "/pypi/sample-project/1.0/2.0/json", "/pypi//json"):
        assert sample.client.get(path).status_code == 404, path
    response = sample.client.post("/pypi/sample-project/json")
    assert response.status_code == 405 and response.headers["allow"] == "GET, HEAD"
    head = sample.client.head("/pypi/sample-project/json")
    assert head.status_code == 200 and head.content == b""


def test_private_projects_answer_as_missing_ones(sample: Index) -> None:
    sample.admin().set_private("sample-project", True)
    missing = sample.client.get("/pypi/nothing-here/json", headers=basic("bob"))
    hidden = sample.client.get("/pypi/sample-project/json", headers=basic("bob"))
    assert (hidden.status_code, hidden.text.replace("sample-project", "X")) == (
        missing.status_code, missing.text.replace("nothing-here", "X"))  # fmt: skip
    assert hidden.status_code == 404
    version = sample.client.get("/pypi/sample-project/1.0/json", headers=basic("bob"))
    assert version.status_code == 404
    # Anonymous: the 401 a missing project gets on an index with private projects.
    anonymous = sample.client.get("/pypi/sample-project/json")
    assert anonymous.status_code == sample.client.get("/pypi/nothing-here/json").status_code
    assert anonymous.status_code == 401
    # The owner (alice uploaded it) reads it.
    own = sample.client.get("/pypi/sample-project/json", headers=basic("alice"))
    assert own.status_code == 200 and own.json()["info"]["version"] == "1.2.0"
