"""Project roles: granted and revoked by an admin command, enforced on upload, on record."""

from __future__ import annotations

from pathlib import Path

import pytest

from pubkit.errors import NotFoundError, UsageError
from pubkit.testing import make_wheel
from tests.server.conftest import Index
from tests.server.test_cli import run


def test_a_maintainer_may_upload_until_the_role_is_revoked(index: Index, dist_dir: Path) -> None:
    assert index.upload(make_wheel(dist_dir, "roled", "1.0"), user="alice").status_code == 200
    assert index.upload(make_wheel(dist_dir, "roled", "1.1"), user="bob").status_code == 403
    index.admin().grant("Roled", "bob", "maintainer")
    assert index.catalog.project_roles("roled") == [("alice", "owner"), ("bob", "maintainer")]
    assert index.upload(make_wheel(dist_dir, "roled", "1.1"), user="bob").status_code == 200
    index.admin().revoke("roled", "bob", "maintainer")
    assert index.upload(make_wheel(dist_dir, "roled", "1.2"), user="bob").status_code == 403
    actions = [(e.action, e.target, e.detail.get("holder")) for e in index.catalog.audit_entries()]
    assert ("grant role", "roled", "bob") in actions and ("revoke role", "roled", "bob") in actions


def test_rights_can_be_given_before_the_first_upload(index: Index, dist_dir: Path) -> None:
    index.admin().grant("reserved-name", "bob", "owner")
    # The name is taken: alice's first upload no longer claims it.
    assert index.upload(make_wheel(dist_dir, "reserved-name", "1.0"),
                        user="alice").status_code == 403  # fmt: skip
    assert index.upload(make_wheel(dist_dir, "reserved-name", "1.0"),
                        user="bob").status_code == 200  # fmt: skip


def test_roles_are_checked(index: Index, dist_dir: Path) -> None:
    index.upload(make_wheel(dist_dir, "checked", "1.0"), user="alice")
    with pytest.raises(UsageError, match="role 'admin' is unknown"):
        index.admin().grant("checked", "bob", "admin")
    with pytest.raises(NotFoundError, match="no user 'carol'"):
        index.admin().grant("checked", "carol", "owner")
    with pytest.raises(NotFoundError, match="bob is not maintainer of checked"):
        index.admin().revoke("checked", "bob", "maintainer")
    with pytest.raises(UsageError, match="alice is the last owner of checked"):
        index.admin().revoke("checked", "alice", "owner")


def test_the_role_commands(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ("--data-dir", str(data_dir))
    for name in ("alice", "bob"):
        assert run(monkeypatch, capsys, "user", "add", name, "--password-stdin", *d,
                   stdin="a-long-enough-password\n")[0] == 0  # fmt: skip
    code, out, _ = run(monkeypatch, capsys, "role", "grant", "Acme_Core", "alice", "owner", *d)
    assert (code, out) == (0, "granted owner of Acme_Core to alice\n")
    assert run(monkeypatch, capsys, "role", "grant", "acme-core", "bob", "maintainer", *d)[0] == 0
    code, out, _ = run(monkeypatch, capsys, "role", "list", "acme-core", *d)
    assert out == "alice\towner\nbob\tmaintainer\n"
    code, _, err = run(monkeypatch, capsys, "role", "revoke", "acme-core", "alice", "owner", *d)
    assert code == 2 and err == (
        "error: alice is the last owner of acme-core; grant another owner first\n"
    )
    code, out, _ = run(monkeypatch, capsys, "role", "revoke", "acme-core", "bob", "maintainer",
                       *d)  # fmt: skip
    assert (code, out) == (0, "revoked maintainer of acme-core from bob\n")
