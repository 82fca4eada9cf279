"""`pubkit index prune` on a real app's data: what goes, what stays, the pages and storage
agreeing after, an interrupted prune finished by a re-run, the API and the CLI."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from pubkit.cli import main
from pubkit.core.retention import RetentionPolicy
from pubkit.errors import StorageError
from pubkit.server.admin import Admin
from pubkit.server.layout import file_key, metadata_key, sidecar_key
from pubkit.server.storage import Storage
from pubkit.testing import make_wheel
from tests.server.conftest import Index, basic

BUILDS = 14


@pytest.fixture
def builds(index: Index, tmp_path: Path) -> Index:
    """Three projects with 14 dev builds each, as `pubkit release --dev N` makes them:
    acme-text's builds pin acme-core's build of the same run; its newest pins an old one."""
    for n in range(1, BUILDS + 1):
        version = f"1.0.0.dev{n}"
        core_pin = "1.0.0.dev2" if n == BUILDS else version
        wheels = [
            make_wheel(tmp_path / "d", "acme-core", version),
            make_wheel(tmp_path / "d", "acme-text", version, requires=[f"acme-core=={core_pin}"]),
            make_wheel(tmp_path / "d", "acme-aws", version, requires=["boto3>=1.34"]),
        ]
        for wheel in wheels:
            assert index.upload(wheel).status_code == 200
    index.upload(make_wheel(tmp_path / "d", "acme-core", "0.9.0"))  # a final release
    return index


def versions(index: Index, project: str) -> list[str]:
    return sorted({r.version for r in index.catalog.project_files(project)})


def stored_keys(storage: Storage) -> set[str]:
    return {o.key for o in storage.list() if not o.key.startswith(".")}


def expected_keys(index: Index) -> set[str]:
    keys = set()
    for project in ("acme-core", "acme-text", "acme-aws"):
        for record in index.catalog.project_files(project):
            keys |= {file_key(record.project, record.filename),
                     metadata_key(record.project, record.filename),
                     sidecar_key(record.project, record.filename)}  # fmt: skip
    return keys


def dev(*numbers: int) -> list[str]:
    return sorted(f"1.0.0.dev{n}" for n in numbers)


def test_a_dry_run_lists_what_would_go_and_changes_nothing(builds: Index) -> None:
    before = stored_keys(builds.services.storage), builds.catalog.serial()
    result = builds.admin().prune(RetentionPolicy(keep=10), dry_run=True)
    assert result.dry_run
    assert len(result.removed) == 3 * (BUILDS - 10) - 1  # acme-core dev2 is pinned
    assert after_state(builds) == before


def after_state(index: Index) -> tuple[set[str], int]:
    return stored_keys(index.services.storage), index.catalog.serial()


def test_prune_keeps_the_newest_and_what_they_pin_and_storage_agrees(builds: Index) -> None:
    result = builds.admin().prune(RetentionPolicy(keep=10))
    assert versions(builds, "acme-aws") == dev(*range(5, 15))
    assert versions(builds, "acme-text") == dev(*range(5, 15))
    # The final release stays; dev2 stays for the newest acme-text build that pins it.
    assert versions(builds, "acme-core") == ["0.9.0", *dev(2, *range(5, 15))]
    assert result.pinned == (("acme-core", "1.0.0.dev2", "acme-text 1.0.0.dev14"),)
    assert stored_keys(builds.services.storage) == expected_keys(builds)
    # The pages list exactly what stays.
    json_page = {"Accept": "application/vnd.pypi.simple.v1+json"}
    page = builds.client.get("/simple/acme-aws/", headers=json_page)
    assert sorted(page.json()["versions"]) == dev(*range(5, 15))
    audit = [e for e in builds.catalog.audit_entries(100) if e.action == "prune"]
    assert len(audit) == len(result.removed) == 11
    # Again: nothing more to do.
    assert builds.admin().prune(RetentionPolicy(keep=10)).removed == ()


def test_builds_of_other_projects_pin_too(builds: Index) -> None:
    # Only acme-core is pruned; acme-text's builds all stay, and each pins an acme-core build.
    result = builds.admin().prune(RetentionPolicy(keep=3, projects=frozenset({"acme-core"})))
    assert result.removed == ()
    assert versions(builds, "acme-core") == ["0.9.0", *dev(*range(1, BUILDS + 1))]
    assert sorted(version for _, version, _ in result.pinned) == dev(*range(1, BUILDS - 2))
    assert {holder.split()[0] for _, _, holder in result.pinned} == {"acme-text"}
    # Once acme-text keeps only its newest 3 (13 and 14 pin their own run's and dev2), the
    # acme-core builds no kept build pins can go.
    builds.admin().prune(RetentionPolicy(keep=3, projects=frozenset({"acme-text"})))
    builds.admin().prune(RetentionPolicy(keep=3, projects=frozenset({"acme-core"})))
    assert versions(builds, "acme-core") == ["0.9.0", *dev(2, 12, 13, 14)]


class FailingStorage:
    """A storage whose deletes fail after ``allowed`` of them (a crash mid-prune)."""

    def __init__(self, inner: Storage, allowed: int) -> None:
        self.inner = inner
        self.allowed = allowed

    def delete(self, key: str) -> None:
        if self.allowed == 0:
            raise StorageError(f"could not delete {key}: injected fault")
        self.allowed -= 1
        self.inner.delete(key)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.mark.parametrize("allowed", [1, 4, 13])
def test_an_interrupted_prune_is_finished_by_a_rerun(builds: Index, allowed: int) -> None:
    failing = FailingStorage(builds.services.storage, allowed)
    crashed = Admin(builds.catalog, lambda: failing, "root")  # type: ignore[arg-type,return-value]
    with pytest.raises(StorageError):
        crashed.prune(RetentionPolicy(keep=10))
    # What a crash leaves: listed releases with some objects gone (never objects unlisted).
    assert stored_keys(builds.services.storage) <= expected_keys(builds)
    builds.admin().prune(RetentionPolicy(keep=10))
    assert stored_keys(builds.services.storage) == expected_keys(builds)
    assert versions(builds, "acme-aws") == dev(*range(5, 15))


def test_the_api_prunes_for_admins_only(builds: Index) -> None:
    body = {"keep": 12, "projects": ["acme-aws"], "dry_run": False}
    refused = builds.client.post("/api/v1/prune", json=body, headers=basic("alice"))
    assert refused.status_code == 403
    answer = builds.client.post("/api/v1/prune", json=body, headers=basic("root"))
    assert answer.status_code == 200, answer.text
    assert [r["version"] for r in answer.json()["removed"]] == dev(1, 2)
    assert versions(builds, "acme-aws") == dev(*range(3, 15))
    assert versions(builds, "acme-core")[1:] == dev(*range(1, 15))  # not named: untouched
    bad = builds.client.post("/api/v1/prune", json={"keep": -1}, headers=basic("root"))
    assert bad.status_code == 400


def test_the_cli_prunes_local_data(
    builds: Index, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            main(["index", "prune", *argv, "--data-dir", str(builds.data_dir)])
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = run("--keep", "13", "--dry-run")
    assert code == 0, err
    assert "would remove acme-aws 1.0.0.dev1 (1 file(s))" in out
    assert out.strip().endswith("(dry run: nothing changed)")
    assert versions(builds, "acme-aws") == dev(*range(1, 15))
    code, out, err = run("--keep", "13", "--json")
    assert code == 0, err
    assert len(json.loads(out)["removed"]) == 3
    code, _, err = run("--older-than", "soon")
    assert code == 2 and err.startswith("error: --older-than 'soon'")
