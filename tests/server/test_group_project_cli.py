"""`pubkit group`, `pubkit project`, `pubkit role` with @groups and the reader role, and
`pubkit delete`, through the CLI entry point on a data dir."""

from __future__ import annotations

import getpass
import io
import json
from pathlib import Path

import pytest

from pubkit.server.catalog import open_catalog
from pubkit.server.layout import file_key, sidecar_key
from pubkit.server.storage import LocalStorage
from tests.server.test_cli import _publish, run

PASSWORD = "a-long-enough-password"


@pytest.fixture
def d(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[str, str]:
    """The data dir option, with users alice, bob and carol in it."""
    option = ("--data-dir", str(data_dir))
    for name in ("alice", "bob", "carol"):
        assert (
            run(
                monkeypatch,
                capsys,
                "user",
                "add",
                name,
                "--password-stdin",
                *option,
                stdin=PASSWORD + "\n",
            )[0]
            == 0
        )
    return option


def test_groups(
    d: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(monkeypatch, capsys, "group", "add", "dev", *d)[:2] == (0, "added group @dev\n")
    assert run(monkeypatch, capsys, "group", "add", "@ops", *d)[:2] == (0, "added group @ops\n")
    code, _, err = run(monkeypatch, capsys, "group", "add", "@dev", *d)
    assert code == 1 and err == (
        "error: group 'dev' already exists; `pubkit group list` shows its members\n"
    )
    for user in ("bob", "alice"):
        code, out, _ = run(monkeypatch, capsys, "group", "add-member", "dev", user, *d)
        assert (code, out) == (0, f"added {user} to @dev\n")
    assert run(monkeypatch, capsys, "group", "add-member", "@dev", "bob", *d)[0] == 0  # again
    assert run(monkeypatch, capsys, "group", "list", *d)[1] == "@dev\talice,bob\n@ops\t-\n"
    listed = json.loads(run(monkeypatch, capsys, "group", "list", "--json", *d)[1])
    assert [(g["name"], g["members"]) for g in listed] == [("dev", ["alice", "bob"]), ("ops", [])]
    code, out, _ = run(monkeypatch, capsys, "group", "remove-member", "@dev", "bob", *d)
    assert (code, out) == (0, "removed bob from @dev\n")
    code, _, err = run(monkeypatch, capsys, "group", "remove-member", "dev", "bob", *d)
    assert code == 1 and err == "error: bob is not a member of @dev\n"
    code, _, err = run(monkeypatch, capsys, "group", "add-member", "nobody", "bob", *d)
    assert code == 1 and err.startswith("error: ") and "nobody" in err and err.count("\n") == 1
    code, _, err = run(monkeypatch, capsys, "group", "add", "a/b", *d)
    assert code == 2 and err.startswith("error: invalid group name 'a/b'")
    assert run(monkeypatch, capsys, "group", "remove", "@ops", *d)[:2] == (
        0,
        "removed group @ops\n",
    )
    code, _, err = run(monkeypatch, capsys, "group", "remove", "ops", *d)
    assert code == 1 and err == "error: no group 'ops'; `pubkit group list` shows the groups\n"
    assert run(monkeypatch, capsys, "group", "list", *d)[1] == "@dev\talice\n"


def test_group_roles_the_reader_role_and_private_projects(
    d: tuple[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run(monkeypatch, capsys, "group", "add", "readers", *d)
    run(monkeypatch, capsys, "group", "add-member", "readers", "carol", *d)
    assert run(monkeypatch, capsys, "role", "grant", "Acme_Core", "alice", "owner", *d)[0] == 0
    code, out, _ = run(monkeypatch, capsys, "role", "grant", "acme-core", "@readers", "reader", *d)
    assert (code, out) == (0, "granted reader of acme-core to @readers\n")
    assert run(monkeypatch, capsys, "role", "grant", "acme-core", "bob", "reader", *d)[0] == 0
    # Users first, then groups.
    assert run(monkeypatch, capsys, "role", "list", "acme-core", *d)[1] == (
        "alice\towner\nbob\treader\n@readers\treader\n"
    )

    code, out, _ = run(monkeypatch, capsys, "project", "private", "Acme_Core", *d)
    assert (code, out) == (0, "Acme_Core is private\n")
    code, out, _ = run(monkeypatch, capsys, "project", "show", "acme.core", *d)
    assert (code, out) == (
        0,
        "acme-core\tprivate\n  alice\towner\n  bob\treader\n  @readers\treader\n",
    )
    shown = json.loads(run(monkeypatch, capsys, "project", "show", "acme-core", "--json", *d)[1])
    assert (
        shown["private"] is True
        and {"project": "acme-core", "holder": "@readers", "role": "reader"} in shown["roles"]
    )
    catalog = open_catalog(f"sqlite:///{Path(d[1]) / 'catalog.sqlite3'}")
    access = catalog.project_access("acme-core")
    assert access is not None and access.private

    code, out, _ = run(monkeypatch, capsys, "role", "revoke", "acme-core", "@readers", "reader", *d)
    assert (code, out) == (0, "revoked reader of acme-core from @readers\n")
    code, _, err = run(monkeypatch, capsys, "role", "revoke", "acme-core", "@readers", "reader", *d)
    assert code == 1 and err == (
        "error: @readers is not reader of acme-core; `pubkit project show acme-core` shows its"
        " roles\n"
    )
    assert run(monkeypatch, capsys, "project", "public", "acme-core", *d)[:2] == (
        0,
        "acme-core is public\n",
    )
    assert run(monkeypatch, capsys, "project", "show", "acme-core", *d)[1].startswith(
        "acme-core\tpublic\n"
    )
    # A project can be made private before it exists: the name is kept.
    assert run(monkeypatch, capsys, "project", "private", "secret-thing", *d)[0] == 0
    assert run(monkeypatch, capsys, "project", "show", "secret-thing", *d)[1] == (
        "secret-thing\tprivate\n"
    )

    actions = [(e.action, e.target) for e in catalog.audit_entries()]
    for expected in [
        ("grant role", "acme-core"),
        ("make private", "acme-core"),
        ("make public", "acme-core"),
        ("revoke role", "acme-core"),
        ("add member", "@readers"),
    ]:
        assert expected in actions
    assert {e.actor for e in catalog.audit_entries()} == {f"{getpass.getuser()} (local)"}


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (
            ["role", "grant", "acme", "@nobody", "reader"],
            1,
            "no group '@nobody'; `pubkit group list` shows the groups",
        ),
        (
            ["role", "grant", "acme", "alice", "admin"],
            2,
            "role 'admin' is unknown; use one of owner, maintainer, reader",
        ),
        (["role", "list", "never-made"], 1, "no project 'never-made' on this index"),
        (["project", "show", "Never_Made"], 1, "no project 'never-made' on this index"),
        (
            ["delete", "acme", "1.0"],
            2,
            "deleting acme 1.0 cannot be undone; pass --yes to confirm (or `pubkit yank` it"
            " instead)",
        ),
        (["delete", "acme", "1.0", "--yes"], 1, "acme has no release 1.0; its releases: none"),
        (
            ["token", "create", "--user", "alice", "--expires", "0d"],
            2,
            "--expires '0d': use a positive count of h, d or w, e.g. 30d",
        ),
        (
            ["user", "list", "--server", "http://127.0.0.1:1/"],
            2,
            "--server works on a running server and --data-dir on local data: pass one or the"
            " other",
        ),
    ],
)
def test_errors_are_one_line(
    d: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    message: str,
) -> None:
    assert run(monkeypatch, capsys, *argv, *d) == (code, "", f"error: {message}\n")


def test_delete_a_release(
    d: tuple[str, str],
    dist_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data_dir = Path(d[1])
    _publish(data_dir, dist_dir, "1.0")
    _publish(data_dir, dist_dir, "2.0")
    code, out, _ = run(monkeypatch, capsys, "delete", "Demo", "1.0", "--yes", *d)
    assert (code, out) == (0, "deleted Demo 1.0 (1 file(s))\n")
    storage = LocalStorage(data_dir / "files")
    gone = "demo-1.0-py3-none-any.whl"
    assert storage.size(file_key("demo", gone)) is None
    assert storage.size(sidecar_key("demo", gone)) is None
    assert storage.size(file_key("demo", "demo-2.0-py3-none-any.whl"))
    catalog = open_catalog(f"sqlite:///{data_dir / 'catalog.sqlite3'}")
    assert [r.filename for r in catalog.project_files("demo")] == ["demo-2.0-py3-none-any.whl"]
    code, _, err = run(monkeypatch, capsys, "delete", "demo", "1.0", "--yes", *d)
    assert code == 1 and err == "error: demo has no release 1.0; its releases: 2.0\n"
    entry = catalog.audit_entries(1)[0]
    assert (entry.action, entry.target, entry.detail) == ("delete", "demo 1.0", {"files": [gone]})
    # Yank and unyank keep their output.
    assert run(monkeypatch, capsys, "yank", "demo", "2.0", "--reason", "broken", *d)[1] == (
        "yanked demo 2.0 (1 file(s))\n"
    )
    assert run(monkeypatch, capsys, "unyank", "demo", "2.0", *d)[1] == (
        "unyanked demo 2.0 (1 file(s))\n"
    )


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_delete_asks_on_a_terminal(
    d: tuple[str, str],
    dist_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from pubkit.cli import main

    _publish(Path(d[1]), dist_dir, "1.0")
    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))
    with pytest.raises(SystemExit) as exited:
        main(["delete", "demo", "1.0", *d])
    assert exited.value.code == 130
    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))
    main(["delete", "demo", "1.0", *d])
    out, err = capsys.readouterr()
    assert out.count("Delete every file of demo 1.0? This cannot be undone [y/N]: ") == 2
    assert out.endswith("deleted demo 1.0 (1 file(s))\n") and err == "aborted\n"
