"""The upstream guard's rules in the access document: export, import (additive, ``replace``),
the document's version, and the snapshot a server stores for rules kept in its catalog alone
by an older pubkit. The served guard after a rebuild is tested in test_upstream.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pubkit.server import backup
from pubkit.server.access_state import AccessSnapshots, latest_snapshot
from pubkit.server.admin import rebuild_catalog
from pubkit.server.auth.passwords import hash_password
from pubkit.server.catalog import Catalog
from pubkit.server.storage import LocalStorage
from tests.cli_support import run_cli

HASH = hash_password("alice-password")


def with_rules(catalog: Catalog) -> None:
    alice = catalog.add_user("alice", HASH)
    assert catalog.claim_project("acme-core", "acme-core", alice)
    assert catalog.set_upstream_rule("acme-secret", reserved=True)
    assert catalog.set_upstream_rule("acme-core", tracked=True)
    assert catalog.set_upstream_rule("requests", min_age=3600.0)
    assert catalog.set_upstream_rule("both", reserved=True, min_age=0.0)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_rules_go_through_export_and_import(catalogs: Any, backend: str) -> None:
    source = catalogs(backend)
    with_rules(source)
    document = backup.export_access(source)
    assert document["version"] == 3
    assert document["upstream"] == [
        {"name": "acme-core", "reserved": False, "tracked": True, "min_age": None},
        {"name": "acme-secret", "reserved": True, "tracked": False, "min_age": None},
        {"name": "both", "reserved": True, "tracked": False, "min_age": 0.0},
        {"name": "requests", "reserved": False, "tracked": False, "min_age": 3600.0},
    ]
    target = catalogs(backend)
    report = backup.import_access(target, json.loads(json.dumps(document)))
    assert sorted(report.rules_added) == [
        "acme-core (tracked)", "acme-secret (reserved)", "both (reserved, min_age 0 s)",
        "requests (min_age 3600 s)"]  # fmt: skip
    assert "upstream rules 4 added, 0 changed, 0 kept, 0 unchanged" in report.summary()
    assert target.upstream_rules() == source.upstream_rules()
    assert backup.export_access(target) == document
    again = backup.import_access(target, document)
    assert not again.changed and again.rules_unchanged == 4

    # A rule the target holds otherwise is kept and reported, unless replace.
    assert target.set_upstream_rule("requests", min_age=60.0)
    serial = target.serial()
    kept = backup.import_access(target, document)
    assert kept.rules_kept == ["requests (min_age 60 s)"] and not kept.changed
    assert target.serial() == serial
    replaced = backup.import_access(target, document, replace=True)
    assert replaced.rules_changed == ["requests (min_age 3600 s)"]
    assert target.upstream_rules()["requests"].min_age == 3600.0
    # Additive: a rule the document lacks stays.
    assert target.set_upstream_rule("extra", reserved=True)
    assert backup.import_access(target, document, replace=True).rules_unchanged == 4
    assert "extra" in target.upstream_rules()


def test_a_released_name_leaves_the_document(catalogs: Any) -> None:
    catalog = catalogs("sqlite")
    catalog.add_user("alice", HASH)
    assert catalog.set_upstream_rule("acme-secret", reserved=True)
    assert backup.export_access(catalog)["version"] == 3
    assert catalog.set_upstream_rule("acme-secret", reserved=False)
    assert not catalog.set_upstream_rule("acme-secret", reserved=False)
    assert catalog.upstream_rules() == {}
    # Without rules the document is what every pubkit since groups reads whole.
    document = backup.export_access(catalog)
    assert document["version"] == 2 and "upstream" not in document


def test_version_2_documents_still_import(catalogs: Any) -> None:
    catalog = catalogs("sqlite")
    with_rules(catalog)
    document = backup.export_access(catalog)
    del document["upstream"]
    document["version"] = 2
    target = catalogs("sqlite")
    report = backup.import_access(target, document)
    assert report.users_added == ["alice"] and target.upstream_rules() == {}


def test_every_rule_change_is_stored_and_a_rebuild_restores_it(
    catalogs: Any, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "files")
    catalog = catalogs("sqlite")
    catalog.access_state = AccessSnapshots(storage)
    with_rules(catalog)
    found = latest_snapshot(storage)
    assert found is not None and len(found[1]["upstream"]) == 4
    new = catalogs("sqlite")
    report = rebuild_catalog(storage, new)
    assert new.upstream_rules() == catalog.upstream_rules()
    assert report.access is not None and len(report.access.rules_added) == 4


def test_rules_an_older_pubkit_kept_in_the_catalog_alone_are_stored_at_start(
    catalogs: Any, tmp_path: Path
) -> None:
    storage = LocalStorage(tmp_path / "files")
    snapshots = AccessSnapshots(storage)
    catalog = catalogs("sqlite")
    catalog.access_state = snapshots
    catalog.add_user("alice", HASH)  # snapshot 1, without rules
    catalog.access_state = None  # as an older pubkit wrote rules: to the catalog alone
    assert catalog.set_upstream_rule("acme-secret", reserved=True)
    catalog.access_state = snapshots
    found = latest_snapshot(storage)
    assert found is not None and "upstream" not in found[1]

    assert snapshots.add_rules(catalog)
    found = latest_snapshot(storage)
    assert found is not None and found[1]["upstream"][0]["name"] == "acme-secret"
    assert not snapshots.add_rules(catalog)  # stored: nothing more to do
    # A catalog behind storage writes nothing (`index rebuild` first, as for any change).
    behind = catalogs("sqlite")
    behind.add_user("bob", HASH)
    assert behind.set_upstream_rule("other", reserved=True)
    assert not AccessSnapshots(storage).add_rules(behind)


def test_index_import_reports_a_kept_rule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    document = {"format": "pubkit-access", "version": 3,
                "upstream": [{"name": "requests", "min_age": 3600}]}  # fmt: skip
    path = tmp_path / "access.json"
    path.write_text(json.dumps(document))
    code, out, err = run_cli(monkeypatch, capsys, "index", "import", str(path),
                             "--data-dir", str(data_dir))  # fmt: skip
    assert code == 0, err
    assert "upstream rules 1 added" in out
    document["upstream"] = [{"name": "requests", "min_age": 60}]
    path.write_text(json.dumps(document))
    code, out, err = run_cli(monkeypatch, capsys, "index", "import", str(path),
                             "--data-dir", str(data_dir))  # fmt: skip
    assert code == 0, err
    assert err.strip() == ("kept upstream rule requests (min_age 3600 s): the file's differs;"
                           " --replace takes it")  # fmt: skip
    code, out, err = run_cli(monkeypatch, capsys, "index", "import", str(path), "--replace",
                             "--data-dir", str(data_dir))  # fmt: skip
    assert code == 0 and "1 changed" in out, err

