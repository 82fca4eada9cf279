"""Backup and restore without a server: the access document (export/import) on SQLite and
PostgreSQL, tokens that still work after a restore into the app in-process, and mirroring
between in-process storages (the e2e tier mirrors through S3)."""

from __future__ import annotations

import hashlib
import json
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pubkit.errors import AlreadyExistsError, AuthenticationError, ConfigurationError, UsageError
from pubkit.server import admin, backup, mirror
from pubkit.server.auth.authenticator import Authenticator, Credentials
from pubkit.server.auth.passwords import hash_password, verify_password
from pubkit.server.auth.tokens import matches, split_token
from pubkit.server.catalog import MAINTAINER, OWNER, READER, Catalog, open_catalog
from pubkit.server.layout import FileRecord, file_key, metadata_key, sidecar_key, utc_now
from pubkit.server.storage import LocalStorage, MemoryStorage, Storage
from pubkit.testing import make_wheel
from tests.cli_support import run_cli as run
from tests.server.conftest import PASSWORD, Index, basic, upload_fields

PASSWORDS = {"alice": "alice-password", "bob": "bob-password", "root": "root-password"}
# scrypt is slow on purpose: hash each password once for the whole module.
HASHES = {name: hash_password(password) for name, password in PASSWORDS.items()}


def populate(catalog: Catalog) -> dict[str, str]:
    """Users, an owned project with a maintainer and a reader group, a project whose owner was
    removed, a private project a group owns with a reader, a private project with no roles,
    groups with members and without, and tokens: scoped and expiring, read-only and used,
    revoked. Returns the tokens' texts."""
    alice = catalog.add_user("alice", HASHES["alice"])
    bob = catalog.add_user("bob", HASHES["bob"])
    root = catalog.add_user("root", HASHES["root"], is_admin=True)
    carol = catalog.add_user("carol", HASHES["alice"])
    assert catalog.claim_project("demo", "Demo", alice)
    catalog.grant("demo", bob, MAINTAINER)
    assert catalog.claim_project("orphan-lib", "Orphan_Lib", carol)
    catalog.grant("orphan-lib", bob, MAINTAINER)
    for group in ("devs", "ops", "qa"):
        catalog.add_group(group)
    for group, user in (("devs", "bob"), ("devs", "alice"), ("qa", "carol")):
        assert catalog.set_member(group, user, True)
    catalog.grant_group("demo", "ops", READER)
    catalog.grant_group("secret", "devs", OWNER)  # creates it
    catalog.grant("secret", root, READER)
    assert catalog.set_private("secret", True)
    assert catalog.set_private("hidden", True)  # kept private before its first upload
    _, upload = admin.create_token(
        catalog,
        "alice",
        projects=("Demo",),
        expires_in=timedelta(days=30),
        description="CI of demo",
    )
    used, read = admin.create_token(catalog, "bob", permission="read")
    catalog.touch_token(used.id)
    _, revoked = admin.create_token(catalog, "root")
    admin.revoke_token(catalog, revoked)
    admin.create_token(catalog, "carol")  # goes with her
    catalog.remove_user("carol")  # the project keeps only its maintainer; qa is left empty
    return {"upload": upload, "read": read, "revoked": revoked}


def dated(document: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The entries of ``document[key]``, each with a "created" time, which is then left out."""
    entries = [dict(entry) for entry in document[key]]
    for entry in entries:
        assert entry.pop("created")
    return entries


def token_id(text: str) -> str:
    parts = split_token(text)
    assert parts is not None
    return parts[0]


@pytest.mark.parametrize(
    ("source", "target"),
    [("sqlite", "sqlite"), ("postgresql", "postgresql"), ("sqlite", "postgresql")],
)
def test_export_import_round_trip(catalogs: Any, source: str, target: str) -> None:
    old = catalogs(source)
    texts = populate(old)
    document = backup.export_access(old)
    assert document["format"] == "pubkit-access" and document["version"] == 2
    assert [user["name"] for user in document["users"]] == ["alice", "bob", "root"]
    assert dated(document, "groups") == [
        {"name": "devs", "members": ["alice", "bob"]},
        {"name": "ops", "members": []},
        {"name": "qa", "members": []},  # carol's membership went with her
    ]
    assert dated(document, "projects") == [
        {"name": "demo", "display_name": "Demo", "private": False},
        {"name": "hidden", "display_name": "hidden", "private": True},  # no roles, private
        {"name": "orphan-lib", "display_name": "Orphan_Lib", "private": False},
        {"name": "secret", "display_name": "secret", "private": True},
    ]
    assert document["roles"] == [
        {"project": "demo", "user": "alice", "role": OWNER},
        {"project": "demo", "user": "bob", "role": MAINTAINER},
        {"project": "demo", "group": "ops", "role": READER},
        {"project": "orphan-lib", "user": "bob", "role": MAINTAINER},
        {"project": "secret", "user": "root", "role": READER},
        {"project": "secret", "group": "devs", "role": OWNER},
    ]
    tokens = {token["user"]: token for token in document["tokens"]}
    assert sorted(tokens) == ["alice", "bob", "root"]  # carol's went with her
    assert tokens["alice"]["id"] == token_id(texts["upload"])
    assert tokens["alice"]["projects"] == ["demo"] and tokens["alice"]["expires"]
    assert tokens["alice"]["description"] == "CI of demo" and tokens["alice"]["revoked"] is None
    assert tokens["bob"]["permission"] == "read" and tokens["bob"]["last_used"]
    assert tokens["bob"]["projects"] is None and tokens["root"]["revoked"]
    text = json.dumps(document)
    assert "alice-password" not in text
    for token in texts.values():  # only the stored hashes: no token, not even its secret
        assert token not in text and token.split("_", 2)[2] not in text

    new = catalogs(target)
    report = backup.import_access(new, json.loads(text))
    assert report.users_added == ["alice", "bob", "root"]
    assert report.groups_added == ["devs", "ops", "qa"]
    assert report.members_added == ["@devs: alice", "@devs: bob"]
    assert report.projects_created == ["demo", "hidden", "orphan-lib", "secret"]
    assert report.projects_made_private == ["hidden", "secret"]
    assert len(report.roles_granted) == 6 and "secret: @devs (owner)" in report.roles_granted
    assert sorted(report.tokens_added) == sorted(token["id"] for token in tokens.values())
    assert report.summary().startswith(
        "users 3 added, 0 updated, 0 kept, 0 unchanged;"
        " groups 3 added, 0 unchanged; members 2 added,"
    )
    assert "4 projects created, 2 made private, 0 kept private; roles 6 granted" in (
        report.summary()
    )
    assert backup.export_access(new) == document
    # Groups, their members and roles, and the private flags, as the catalog uses them.
    secret = new.project_access("secret")
    assert secret is not None and secret.private
    assert secret.users == {"root": READER} and secret.groups == {"devs": OWNER}
    assert new.private_projects() == {"hidden", "secret"}
    assert new.groups_of("alice") == {"devs"}
    assert {g.name: g.created for g in new.groups()} == {g.name: g.created for g in old.groups()}
    # The tokens came over as their hashes: they authenticate, scoped; the revoked one not.
    authenticator = Authenticator(new, cache_seconds=0)
    principal = authenticator.authenticate(Credentials("__token__", texts["upload"]))
    assert principal.name == "alice" and principal.token is not None
    assert principal.token.projects == ("demo",) and principal.token.permission == "upload"
    assert authenticator.authenticate(Credentials("__token__", texts["read"])).name == "bob"
    with pytest.raises(AuthenticationError, match="is revoked"):
        authenticator.authenticate(Credentials("__token__", texts["revoked"]))
    # The hashes came over as they were: the passwords work, and the flags too.
    alice, root = new.user("alice"), new.user("root")
    assert alice is not None and verify_password(PASSWORDS["alice"], alice.password_hash)
    assert root is not None and root.is_admin and not alice.is_admin
    # No owner appeared for the project that had none; the demo project is alice's.
    assert new.role("orphan-lib", alice) is None
    assert new.role("demo", alice) == OWNER


def test_import_is_idempotent_and_moves_the_serial_only_on_change(catalogs: Any) -> None:
    old, new = catalogs("sqlite"), catalogs("sqlite")
    populate(old)
    document = backup.export_access(old)
    assert backup.import_access(new, document).changed
    serial = new.serial()
    again = backup.import_access(new, document)
    assert not again.changed and again.users_unchanged == 3 and again.roles_unchanged == 6
    assert again.tokens_unchanged == 3 and again.groups_unchanged == 3
    assert again.members_unchanged == 2 and again.projects_made_private == []
    assert new.serial() == serial
    assert backup.export_access(new) == document


def test_existing_users_roles_and_tokens_are_kept_unless_replace(catalogs: Any) -> None:
    old, new = catalogs("sqlite"), catalogs("sqlite")
    texts = populate(old)
    document = backup.export_access(old)
    bob = new.add_user("bob", HASHES["root"], is_admin=True)  # another password, an admin
    new.add_user("dave", HASHES["bob"])  # not in the document: left alone, always
    new.claim_project("demo", "Demo", bob)  # bob owns demo here
    assert new.set_private("demo", True)  # public in the document
    new.add_group("devs")
    new.set_member("devs", "dave", True)  # a member the document lacks
    new.grant_group("secret", "devs", MAINTAINER)  # the document has devs own it; public here
    # alice's token id, here bob's read-only token with another secret.
    upload_id, read_id = token_id(texts["upload"]), token_id(texts["read"])
    new.add_token(upload_id, "0" * 64, bob, "read", None, None, None)

    kept = backup.import_access(new, document)
    assert kept.users_added == ["alice", "root"] and kept.users_kept == ["bob"]
    assert kept.roles_kept == ["demo: bob (owner)", "secret: @devs (maintainer)"]
    assert kept.groups_added == ["ops", "qa"] and kept.groups_unchanged == 1
    assert kept.members_added == ["@devs: alice", "@devs: bob"]
    assert kept.projects_created == ["hidden", "orphan-lib"]
    # A private flag in the document hides the project; a public one never exposes it.
    assert kept.projects_made_private == ["hidden", "secret"]
    assert kept.projects_kept_private == ["demo"]
    assert kept.tokens_kept == [upload_id] and len(kept.tokens_added) == 2
    current = new.user("bob")
    assert current is not None and current.is_admin
    assert current.password_hash == HASHES["root"]
    found = new.token(upload_id)
    assert found is not None and found[0].user == "bob" and found[0].permission == "read"
    assert found[1] == "0" * 64

    # Revoked and used here since: an import revives no token, nor rewinds its last use.
    new.revoke_token(read_id)
    new.touch_token(read_id)
    last_used = next(t.last_used for t in new.tokens("bob") if t.id == read_id)
    for token in document["tokens"]:
        token["last_used"] = token["last_used"] and "2020-01-01T00:00:00+00:00"
    serial = new.serial()
    replaced = backup.import_access(new, document, replace=True)
    assert replaced.users_updated == ["bob"]
    assert replaced.tokens_updated == [upload_id] and replaced.tokens_unchanged == 2
    assert replaced.roles_changed == ["demo: bob (maintainer)", "secret: @devs (owner)"]
    assert replaced.projects_kept_private == ["demo"] and not replaced.projects_made_private
    assert new.serial() > serial  # the workers' password caches see the change
    current = new.user("bob")
    assert current is not None and not current.is_admin
    assert verify_password(PASSWORDS["bob"], current.password_hash)
    assert new.role("demo", current) == MAINTAINER
    assert new.user("dave") is not None
    # Nothing is taken away, not even with replace: dave stays in devs, demo stays private.
    devs = new.group("devs")
    assert devs is not None and devs.members == ("alice", "bob", "dave")
    assert new.private_projects() == {"demo", "hidden", "secret"}
    assert new.project_roles("secret") == [("root", READER), ("@devs", OWNER)]
    found = new.token(upload_id)
    assert found is not None and found[0].user == "alice" and found[0].projects == ("demo",)
    assert matches(upload_id, texts["upload"].split("_", 2)[2], found[1])
    read = new.token(read_id)
    assert read is not None and read[0].revoked is not None
    assert read[0].last_used == last_used and last_used is not None
    serial = new.serial()
    assert not backup.import_access(new, document, replace=True).changed
    assert new.serial() == serial


TOKEN = {
    "id": "0123456789abcdef", "user": "alice", "secret_hash": "ab" * 32, "permission": "upload",
    "projects": None, "description": None, "created": "2024-05-01T12:00:00+00:00",
    "expires": None, "last_used": None, "revoked": None,
}  # fmt: skip


def _tokens(**changes: Any) -> list[dict[str, Any]]:
    return [{**TOKEN, **changes}]


def _document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": "pubkit-access", "version": 1, "tokens": [],
        "users": [{"name": "alice", "password_hash": HASHES["alice"], "is_admin": False}],
        "projects": [{"name": "demo", "display_name": "Demo"}],
        "roles": [{"project": "demo", "user": "alice", "role": "owner"}],
    }  # fmt: skip
    document.update(changes)
    return document


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "not a pubkit access document"),
        (_document(format="pypi"), "not a pubkit access document"),
        (_document(version=4), "version 4, newer than this pubkit reads (3); upgrade pubkit"),
        (_document(version="1"), "version must be an integer"),
        (_document(version=0), "version must be 1 to 3"),
        (_document(upstream={"acme": {}}), "upstream must be a list"),
        (_document(upstream=[{"name": "Acme_Core", "reserved": True}]),
         "upstream[0].name is not a normalized project name"),
        (_document(upstream=[{"name": "acme", "reserved": "yes"}]),
         "upstream[0].reserved must be a bool"),
        (_document(upstream=[{"name": "acme", "min_age": -1}]),
         "upstream[0].min_age must be null or a number of seconds, 0 or more"),
        (_document(upstream=[{"name": "acme", "min_age": True}]),
         "upstream[0].min_age must be null or a number of seconds"),
        (_document(upstream=[{"name": "acme", "reserved": False}]),
         "upstream[0] sets nothing (reserved, tracked or min_age)"),
        (_document(upstream=[{"name": "acme", "reserved": True},
                             {"name": "acme", "tracked": True}]),
         "upstream[1] repeats the name 'acme'"),
        (_document(users={"alice": {}}), "users must be a list"),
        (
            _document(
                users=[{"name": "alice", "password_hash": "hunter2-hunter2", "is_admin": False}]
            ),
            "users[0].password_hash is not a scrypt (or migrated) password hash",
        ),
        (
            _document(users=[{"name": "alice", "password_hash": HASHES["alice"], "is_admin": 1}]),
            "users[0].is_admin must be a bool",
        ),
        (
            _document(users=[{"name": "a:b", "password_hash": HASHES["alice"], "is_admin": False}]),
            "users[0].name is not a valid user name",
        ),
        (
            _document(projects=[{"name": "Demo_X", "display_name": "Demo"}]),
            "projects[0].name is not a normalized project name",
        ),
        (
            _document(roles=[{"project": "demo", "user": "alice", "role": "god"}]),
            "roles[0].role must be one of owner, maintainer, reader",
        ),
        (
            _document(projects=[{"name": "demo", "display_name": "Demo", "private": "yes"}]),
            "projects[0].private must be a bool",
        ),
        # Groups, their members and their roles.
        (_document(groups={"name": "devs"}), "groups must be a list"),
        (_document(groups=["devs"]), "groups[0] is not an object"),
        (_document(groups=[{"members": []}]), "groups[0].name must be a str"),
        (_document(groups=[{"name": "@devs"}]), "groups[0].name is not a valid group name"),
        (_document(groups=[{"name": "a/b"}]), "groups[0].name is not a valid group name"),
        (
            _document(groups=[{"name": "devs", "created": "yesterday"}]),
            "groups[0].created is not an ISO 8601 time",
        ),
        (
            _document(groups=[{"name": "devs", "members": "alice"}]),
            "groups[0].members must be a list",
        ),
        (
            _document(groups=[{"name": "devs", "members": [7]}]),
            "groups[0].members[0] must be a str",
        ),
        (
            _document(groups=[{"name": "devs", "members": ["alice", "alice"]}]),
            "groups[0].members[1] repeats the member 'alice'",
        ),
        (
            _document(groups=[{"name": "devs"}, {"name": "ops"}, {"name": "devs"}]),
            "groups[2] repeats the group 'devs'",
        ),
        (
            _document(groups=[{"name": "devs", "members": ["alice", "zed"]}]),
            "groups name the user 'zed', who is neither in users nor in the catalog",
        ),
        (
            _document(roles=[{"project": "demo", "group": "ops", "role": "owner"}]),
            "roles name the group 'ops', which is neither in groups nor in the catalog",
        ),
        (
            _document(roles=[{"project": "demo", "group": "@devs", "role": "owner"}]),
            "roles[0].group is not a valid group name",
        ),
        (
            _document(
                groups=[{"name": "devs"}],
                roles=[{"project": "demo", "group": "devs", "role": "admin"}],
            ),
            "roles[0].role must be one of owner, maintainer, reader",
        ),
        (
            _document(
                roles=[{"project": "demo", "user": "alice", "group": "devs", "role": "owner"}]
            ),
            "roles[0] names both a user and a group; give one",
        ),
        (
            _document(roles=[{"project": "demo", "role": "owner"}]),
            "roles[0] names no holder; give a user or a group",
        ),
        (
            _document(
                groups=[{"name": "devs"}],
                roles=[
                    {"project": "demo", "group": "devs", "role": "owner"},
                    {"project": "demo", "group": "devs", "role": "reader"},
                ],
            ),
            "roles[1] repeats the role of '@devs' on 'demo'",
        ),
        (
            _document(
                groups=[{"name": "devs"}],
                roles=[{"project": "other", "group": "devs", "role": "reader"}],
            ),
            "roles name the project 'other', which is neither in projects nor in the catalog",
        ),
        (
            _document(roles=[{"project": "demo", "user": "zed", "role": "owner"}]),
            "name the user 'zed', who is neither in users nor in the catalog",
        ),
        (
            _document(roles=[{"project": "other", "user": "alice", "role": "owner"}]),
            "name the project 'other'",
        ),
        (_document(tokens={"id": "x"}), "tokens must be a list"),
        (_document(tokens=_tokens(id="x")), "tokens[0].id is not a token id"),
        (
            # A token where its hash belongs: refused, and not echoed.
            _document(tokens=_tokens(secret_hash=f"pubkit_{TOKEN['id']}_{'hunter2' * 6}x")),
            "tokens[0].secret_hash is a token, not its hash",
        ),
        (_document(tokens=_tokens(secret_hash="hunter2")), "secret_hash is not a token hash"),
        (_document(tokens=_tokens(permission="admin")), "must be one of read, upload"),
        (_document(tokens=_tokens(projects="demo")), "tokens[0].projects must be a list"),
        (
            _document(tokens=_tokens(projects=["demo", "Demo_X"])),
            "tokens[0].projects[1] is not a normalized project name",
        ),
        (_document(tokens=_tokens(expires="soon")), "tokens[0].expires is not an ISO 8601 time"),
        (_document(tokens=[TOKEN, TOKEN]), "tokens[1] repeats the token '0123456789abcdef'"),
        (
            _document(tokens=_tokens(user="zed")),
            "tokens name the user 'zed', who is neither in users nor in the catalog",
        ),
    ],
)
def test_bad_documents_are_refused_and_change_nothing(
    catalogs: Any, document: Any, message: str
) -> None:
    catalog = catalogs("sqlite")
    serial = catalog.serial()
    with pytest.raises(UsageError) as raised:
        backup.import_access(catalog, document)
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)
    assert "hunter2" not in str(raised.value)
    # One transaction: a document refused half-way (an unknown user in roles or tokens) adds
    # no one.
    assert catalog.users() == [] and catalog.tokens() == [] and catalog.serial() == serial
    assert catalog.groups() == [] and catalog.project("demo") is None


# A document as version 1 wrote it: no groups, no private flags, roles of users only.
CREATED = "2024-05-01T12:00:00+00:00"
VERSION_1 = {
    "format": "pubkit-access", "version": 1,
    "users": [
        {"name": "alice", "password_hash": HASHES["alice"], "is_admin": False, "created": CREATED},
        {"name": "bob", "password_hash": HASHES["bob"], "is_admin": True, "created": CREATED},
    ],
    "projects": [{"name": "demo", "display_name": "Demo", "created": CREATED}],
    "roles": [{"project": "demo", "user": "alice", "role": "owner"},
              {"project": "demo", "user": "bob", "role": "maintainer"}],
    "tokens": [TOKEN],
}  # fmt: skip


def test_a_version_1_document_still_imports(catalogs: Any) -> None:
    catalog = catalogs("sqlite")
    report = backup.import_access(catalog, json.loads(json.dumps(VERSION_1)))
    assert report.users_added == ["alice", "bob"] and report.projects_created == ["demo"]
    assert report.roles_granted == ["demo: alice (owner)", "demo: bob (maintainer)"]
    assert report.groups_added == [] and report.projects_made_private == []
    # Exported again, it is the same data in version 2: no groups, the project public.
    assert backup.export_access(catalog) == {
        **VERSION_1, "version": 2, "groups": [],
        "projects": [{"name": "demo", "display_name": "Demo", "created": CREATED,
                      "private": False}],
    }  # fmt: skip

    # A version 1 file knows nothing of private projects: it never makes one public.
    assert catalog.set_private("demo", True)
    again = backup.import_access(catalog, VERSION_1, replace=True)
    assert again.projects_kept_private == ["demo"] and not again.changed
    assert catalog.private_projects() == {"demo"}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
@pytest.mark.parametrize(
    ("key", "entry", "message"),
    [
        ("tokens", {**TOKEN, "user": "zed"}, "tokens name the user 'zed'"),
        ("roles", {"project": "secret", "group": "nobody", "role": READER},
         "roles name the group 'nobody'"),
        ("groups", {"name": "late", "members": ["zed"]}, "groups name the user 'zed'"),
    ],
)  # fmt: skip
def test_a_bad_entry_late_in_the_document_changes_nothing(
    catalogs: Any, backend: str, key: str, entry: dict[str, Any], message: str
) -> None:
    source = catalogs("sqlite")
    populate(source)
    document = backup.export_access(source)
    document[key].append(entry)  # the last of its kind, after everything valid
    target = catalogs(backend)
    bob = target.add_user("bob", HASHES["root"])
    target.claim_project("demo", "Demo", bob)
    before, serial = backup.export_access(target), target.serial()
    with pytest.raises(UsageError, match=message) as raised:
        backup.import_access(target, document, replace=True)
    assert "\n" not in str(raised.value)
    # Users, groups, members, private flags, roles and tokens were written before the bad
    # entry was met, and rolled back with it.
    assert backup.export_access(target) == before and target.serial() == serial


def _group_owned_private_project(index: Index, dist_dir: Path) -> None:
    """secret-lib: private, uploaded by alice, owned by @devs (alice's group) only."""
    ops = index.admin()
    ops.add_group("devs")
    ops.add_member("devs", "alice")
    accepted = index.upload(make_wheel(dist_dir, "secret-lib", "1.0"))
    assert accepted.status_code == 200, accepted.text
    ops.set_private("secret-lib", True)
    ops.grant("secret-lib", "@devs", OWNER)
    ops.revoke("secret-lib", "alice", OWNER)


def test_a_rebuild_keeps_a_private_project_private(index: Index, dist_dir: Path) -> None:
    _group_owned_private_project(index, dist_dir)
    before = index.catalog.project_access("secret-lib")
    assert before is not None and before.private and before.groups == {"devs": OWNER}

    def seen() -> tuple[int, int, int, bool]:
        page = "/simple/secret-lib/"
        return (
            index.client.get(page).status_code,  # anonymous
            index.client.get(page, headers=basic("bob")).status_code,  # no role
            index.client.get(page, headers=basic("alice")).status_code,  # through @devs
            "secret-lib" in index.client.get("/simple/").text,  # listed to anonymous
        )

    assert seen() == (401, 404, 200, False)
    # The file rows lost (a catalog restored from an older copy, say): the rebuild adds them
    # back to the project as it is, and adds no owner to a project a group owns.
    files = [record.filename for record in index.catalog.project_files("secret-lib")]
    index.catalog.delete_files("secret-lib", files, None)
    report = admin.rebuild_catalog(index.services.storage, index.catalog)
    assert (report.added, report.removed, report.owners_assigned) == (1, 0, [])
    assert index.catalog.project_access("secret-lib") == before
    assert seen() == (401, 404, 200, False)
    # Run again on an intact catalog: nothing changes at all.
    report = admin.rebuild_catalog(index.services.storage, index.catalog)
    assert (report.added, report.updated, report.removed) == (0, 0, 0)
    assert index.catalog.project_access("secret-lib") == before


@pytest.mark.parametrize("rebuild_first", [False, True])
def test_a_restore_keeps_a_private_project_private(
    index: Index, dist_dir: Path, tmp_path: Path, rebuild_first: bool
) -> None:
    _group_owned_private_project(index, dist_dir)
    document = backup.export_access(index.catalog)
    restored = open_catalog(f"sqlite:///{tmp_path / 'restored.sqlite3'}")
    try:
        if rebuild_first:
            # The rebuild restores the access state from storage's snapshot: the project is
            # private from the start, and the import then finds nothing to add.
            report = admin.rebuild_catalog(index.services.storage, restored)
            assert report.access is not None
            assert report.access.projects_made_private == ["secret-lib"]
            imported = backup.import_access(restored, document)
            assert not imported.changed
        else:
            imported = backup.import_access(restored, document)
            assert imported.projects_created == ["secret-lib"]
            assert imported.projects_made_private == ["secret-lib"]
            assert imported.roles_granted == ["secret-lib: @devs (owner)"]
            report = admin.rebuild_catalog(index.services.storage, restored)
        assert backup.export_access(restored) == document
        assert report.added == 1 and report.owners_assigned == []
        assert restored.project_access("secret-lib") == index.catalog.project_access("secret-lib")
        assert restored.private_projects() == {"secret-lib"}
    finally:
        restored.close()


def test_a_token_with_the_fields_left_out_is_imported(catalogs: Any) -> None:
    catalog = catalogs("sqlite")
    item = {key: TOKEN[key] for key in ("id", "user", "secret_hash", "permission")}
    report = backup.import_access(catalog, _document(tokens=[item]))
    assert report.tokens_added == [TOKEN["id"]]
    (token,) = catalog.tokens()
    assert token.state(utc_now()) == "active" and token.projects is None
    assert backup.import_access(catalog, _document(tokens=[item])).tokens_unchanged == 1


def test_export_file_is_private_and_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "access.json"
    backup.write_access_file(path, _document())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(AlreadyExistsError, match="pass --force to overwrite it"):
        backup.write_access_file(path, _document(users=[]))
    assert json.loads(path.read_text())["users"] != []
    path.chmod(0o644)
    backup.write_access_file(path, _document(users=[]), force=True)
    assert json.loads(path.read_text())["users"] == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["access.json"]  # no temporary file left


# -- the CLI -------------------------------------------------------------------------------




def test_cli_export_and_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old_dir, new_dir, file = tmp_path / "old", tmp_path / "new", tmp_path / "access.json"
    old = open_catalog(f"sqlite:///{old_dir / 'catalog.sqlite3'}")
    populate(old)
    code, out, err = run(monkeypatch, capsys, "index", "export", str(file), "--data-dir",
                         str(old_dir))  # fmt: skip
    assert code == 0, err
    assert out == (f"exported 3 users, 3 groups, 6 roles on 3 projects (2 private) and 3 tokens"
                   f" to {file}; it holds password and token hashes: keep it secret\n")  # fmt: skip
    code, _, err = run(monkeypatch, capsys, "index", "export", str(file), "--data-dir",
                       str(old_dir))  # fmt: skip
    assert code == 1 and err == f"error: {file} exists; pass --force to overwrite it\n"
    assert run(monkeypatch, capsys, "index", "export", str(file), "--force", "--data-dir",
               str(old_dir))[0] == 0  # fmt: skip

    # The catalog option and its environment variable, as `pubkit serve` takes them (the
    # storage, where the import's access snapshot goes, is the default: ./pubkit-data).
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PUBKIT_CATALOG", f"sqlite:///{new_dir / 'catalog.sqlite3'}")
    code, out, err = run(monkeypatch, capsys, "index", "import", str(file))
    assert code == 0, err
    assert out.startswith("imported ") and "users 3 added" in out and "roles 6 granted" in out
    assert "groups 3 added" in out and "2 made private" in out
    code, out, err = run(monkeypatch, capsys, "index", "import", str(file))
    assert code == 0 and "users 0 added, 0 updated, 0 kept, 3 unchanged" in out
    for line in out + err:
        assert "scrypt$" not in line
    assert backup.export_access(open_catalog(f"sqlite:///{new_dir / 'catalog.sqlite3'}")) == (
        json.loads(file.read_text())
    )


def test_cli_export_to_and_import_from_an_s3_object(
    tmp_path: Path, s3_bucket: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # What the nightly CronJob does: the export goes straight into a bucket, never to a disk.
    import boto3

    old_dir, new_dir = tmp_path / "old", tmp_path / "new"
    populate(open_catalog(f"sqlite:///{old_dir / 'catalog.sqlite3'}"))
    url = f"s3://{s3_bucket}/backups/access-20261203.json?addressing=path"
    code, out, err = run(monkeypatch, capsys, "index", "export", url, "--data-dir", str(old_dir))
    assert code == 0, err
    assert "to s3://" in out and "access-20261203.json" in out
    stored = boto3.client("s3").get_object(Bucket=s3_bucket, Key="backups/access-20261203.json")
    document = json.loads(stored["Body"].read())
    old = open_catalog(f"sqlite:///{old_dir / 'catalog.sqlite3'}")
    assert document == backup.export_access(old)
    # Create-if-absent, as for a file: a second export of that name is refused, --force wins.
    code, _, err = run(monkeypatch, capsys, "index", "export", url, "--data-dir", str(old_dir))
    assert code == 1 and "exists" in err and "--force" in err and err.count("\n") == 1
    assert run(monkeypatch, capsys, "index", "export", url, "--force", "--data-dir",
               str(old_dir))[0] == 0  # fmt: skip

    code, out, err = run(monkeypatch, capsys, "index", "import", url, "--data-dir", str(new_dir))
    assert code == 0, err
    assert "users 3 added" in out
    new = open_catalog(f"sqlite:///{new_dir / 'catalog.sqlite3'}")
    assert backup.export_access(new) == document
    missing = f"s3://{s3_bucket}/backups/nothing.json?addressing=path"
    code, _, err = run(monkeypatch, capsys, "index", "import", missing, "--data-dir", str(new_dir))
    assert code == 2 and "nothing.json is not in" in err and err.count("\n") == 1
    code, _, err = run(monkeypatch, capsys, "index", "export", f"s3://{s3_bucket}", "--data-dir",
                       str(old_dir))  # fmt: skip
    assert code == 2 and "names no object" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"format": "pubkit-access", "version": 1, "users": [', "is not valid JSON (line 1)"),
        (b'{"format": "other", "version": 1}', "not a pubkit access document"),
        (b'{"format": "pubkit-access", "version": 9}', "upgrade pubkit"),
        (None, "cannot read"),
    ],
)
def test_cli_import_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    content: bytes | None, message: str,
) -> None:  # fmt: skip
    file = tmp_path / "access.json"
    if content is not None:
        file.write_bytes(content)
    code, _, err = run(monkeypatch, capsys, "index", "import", str(file), "--data-dir",
                       str(tmp_path / "data"))  # fmt: skip
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err


def test_a_token_created_before_export_authenticates_after_import(
    index: Index, tmp_path: Path, dist_dir: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    old_dir, file = tmp_path / "old", tmp_path / "access.json"
    old = open_catalog(f"sqlite:///{old_dir / 'catalog.sqlite3'}")
    admin.add_user(old, "erin", PASSWORD)
    _, token = admin.create_token(old, "erin", projects=("restored-demo",))
    _, revoked = admin.create_token(old, "erin")
    admin.revoke_token(old, revoked)
    old.close()
    assert run(monkeypatch, capsys, "index", "export", str(file), "--data-dir",
               str(old_dir))[0] == 0  # fmt: skip
    assert token.split("_", 2)[2] not in file.read_text()
    # Into the catalog of the running app, as `pubkit index import` on its data dir.
    code, _, err = run(monkeypatch, capsys, "index", "import", str(file), "--data-dir",
                       str(index.data_dir))  # fmt: skip
    assert code == 0, err

    def upload(version: str, text: str, project: str = "restored-demo") -> Any:
        wheel = make_wheel(dist_dir, project, version)
        content = {"content": (wheel.name, wheel.read_bytes(), "application/octet-stream")}
        return index.client.post("/", data=upload_fields(wheel), files=content,
                                 headers={"Authorization": f"Bearer {text}"})  # fmt: skip

    accepted = upload("1.0", token)
    assert accepted.status_code == 200, accepted.text
    erin = index.catalog.user("erin")
    assert erin is not None and index.catalog.role("restored-demo", erin) == OWNER
    assert upload("1.0", token, "elsewhere").status_code == 403  # still scoped
    assert upload("1.1", revoked).status_code == 401  # still revoked
    (used,) = [t for t in index.catalog.tokens("erin") if t.id == token_id(token)]
    assert used.last_used is not None


# -- mirroring -----------------------------------------------------------------------------


def store(storage: Storage, tmp_path: Path, name: str, data: bytes, yanked: bool = False) -> None:
    """A distribution as an upload stores it: bytes, metadata, then the sidecar."""
    project, filename = "demo", f"demo-{name}-py3-none-any.whl"
    metadata = f"Name: demo\nVersion: {name}\n".encode()
    record = FileRecord(
        project=project, display_name="demo", version=name, filename=filename,
        packagetype="bdist_wheel", size=len(data), sha256=hashlib.sha256(data).hexdigest(),
        md5="0" * 32, blake2_256="0" * 64, requires_python=None,
        metadata_sha256=hashlib.sha256(metadata).hexdigest(), upload_time=utc_now(),
        uploader="alice", yanked=yanked,
    )  # fmt: skip
    spool = tmp_path / f"spool-{name}"  # LocalStorage links it: one file per object
    spool.write_bytes(data)
    storage.put_new(file_key(project, filename), spool)
    storage.put_bytes(metadata_key(project, filename), metadata)
    storage.put_bytes(sidecar_key(project, filename), record.to_sidecar())


def contents(storage: Storage) -> dict[str, bytes]:
    return {obj.key: storage.read_bytes(obj.key) for obj in storage.list()}


class Recording(MemoryStorage):
    """A memory storage that remembers the order in which keys were stored."""

    def __init__(self) -> None:
        super().__init__()
        self.stored: list[str] = []

    def put_new(self, key: str, source: Path) -> bool:
        self.stored.append(key)
        return super().put_new(key, source)


def test_mirror_copies_in_upload_order_and_resumes(tmp_path: Path) -> None:
    source = LocalStorage(tmp_path / "source")
    for version in ("1.0", "2.0"):
        store(source, tmp_path, version, f"wheel {version}".encode())
    (tmp_path / "source" / ".tmp-abc.part").write_bytes(b"half an upload")
    target = Recording()
    events: list[mirror.MirrorEvent] = []
    report = mirror.mirror(source, target, events.append)
    assert report.summary() == "6 objects: 6 copied, 0 already there, 0 conflicts, 0 failed"
    assert contents(target) == contents(source)
    assert target.stored[:3] == [
        "demo/demo-1.0-py3-none-any.whl",
        "demo/demo-1.0-py3-none-any.whl.metadata",
        "demo/demo-1.0-py3-none-any.whl.json",
    ]
    assert [event.outcome for event in events] == ["copied"] * 6

    # Interrupted after the second wheel's bytes: the rest is copied, nothing twice.
    partial = LocalStorage(tmp_path / "partial")
    for key in (
        "demo/demo-1.0-py3-none-any.whl",
        "demo/demo-1.0-py3-none-any.whl.metadata",
        "demo/demo-1.0-py3-none-any.whl.json",
        "demo/demo-2.0-py3-none-any.whl",
    ):
        partial.put_bytes(key, source.read_bytes(key))  # fmt: skip
    report = mirror.mirror(source, partial)
    assert report.summary() == "6 objects: 2 copied, 4 already there, 0 conflicts, 0 failed"
    assert contents(partial) == contents(source)
    assert not list((tmp_path / "partial").glob(".tmp-*"))  # the spool files are gone


def test_mirror_reports_conflicts_and_never_overwrites(tmp_path: Path) -> None:
    source = MemoryStorage()
    store(source, tmp_path, "1.0", b"the real wheel")
    store(source, tmp_path, "2.0", b"another wheel")
    target = MemoryStorage()
    mirror.mirror(source, target)
    # Another size; the same size (found only when verifying); a yank on one side only.
    target.objects["demo/demo-1.0-py3-none-any.whl"] = b"a tampered wheel!"
    target.objects["demo/demo-2.0-py3-none-any.whl"] = b"ANOTHER WHEEL"
    store(source, tmp_path, "3.0", b"third")
    yanked = FileRecord.from_sidecar(source.read_bytes("demo/demo-3.0-py3-none-any.whl.json"))
    target.objects["demo/demo-3.0-py3-none-any.whl.json"] = yanked.with_yank(
        True, "bad").to_sidecar()  # fmt: skip
    before = dict(target.objects)

    report = mirror.mirror(source, target)
    assert [event.key for event in report.conflicts] == [
        "demo/demo-1.0-py3-none-any.whl", "demo/demo-3.0-py3-none-any.whl.json"]  # fmt: skip
    assert report.copied == 2  # the third wheel and its metadata: the sidecar was there
    assert report.failed == []
    assert {k: v for k, v in target.objects.items() if k in before} == before

    verified = mirror.mirror(source, target, verify_existing=True)
    assert {event.key for event in verified.conflicts} == {
        "demo/demo-1.0-py3-none-any.whl", "demo/demo-2.0-py3-none-any.whl",
        "demo/demo-3.0-py3-none-any.whl.json"}  # fmt: skip
    assert target.objects["demo/demo-2.0-py3-none-any.whl"] == b"ANOTHER WHEEL"


def test_mirror_verifies_the_source_against_its_sidecar(tmp_path: Path) -> None:
    source = MemoryStorage()
    store(source, tmp_path, "1.0", b"good bytes")
    store(source, tmp_path, "2.0", b"rotten bytes")
    source.objects["demo/demo-2.0-py3-none-any.whl"] = b"rotted bytes"  # same size, bit rot
    target = MemoryStorage()
    report = mirror.mirror(source, target)
    assert report.copied == 3
    assert [(event.key, event.detail.split(";")[0]) for event in report.failed] == [
        ("demo/demo-2.0-py3-none-any.whl", "the source's bytes do not match its sidecar's sha256"),
        ("demo/demo-2.0-py3-none-any.whl.metadata",
         "not copied, because demo/demo-2.0-py3-none-any.whl was not"),
        ("demo/demo-2.0-py3-none-any.whl.json",
         "not copied, because demo/demo-2.0-py3-none-any.whl was not"),
    ]  # fmt: skip
    assert not any(key.startswith("demo/demo-2.0") for key in target.objects)


def test_mirror_refuses_a_missing_source_and_overlapping_places(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is not a directory; check SRC_URL"):
        mirror.mirror(LocalStorage(tmp_path / "nowhere"), MemoryStorage())
    assert not (tmp_path / "nowhere").exists()
    with pytest.raises(UsageError, match="overlap"):
        mirror.mirror(LocalStorage(tmp_path / "a"), LocalStorage(tmp_path / "a" / "copy"))


def test_cli_mirror_missing_source_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(monkeypatch, capsys, "index", "mirror",
                       (tmp_path / "nowhere").as_uri(), (tmp_path / "copy").as_uri())  # fmt: skip
    assert code == 2 and err.startswith("error: the source ") and err.count("\n") == 1


def test_mirror_refuses_an_unreadable_s3_source(moto_s3: str) -> None:
    from pubkit.server.storage import open_storage

    source = open_storage("s3://no-such-bucket/backup?addressing=path&max_attempts=1")
    with pytest.raises(ConfigurationError, match=r"cannot read the source: .*does not exist"):
        mirror.mirror(source, MemoryStorage())
