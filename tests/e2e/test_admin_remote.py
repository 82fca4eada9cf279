"""The admin commands against a running server: the real `pubkit` CLI in a subprocess with
`--server` and PUBKIT_ADMIN_* credentials, the real `pubkit serve` answering through its admin
HTTP API. What they change is checked through the index itself (simple pages, downloads,
twine) and the audit log, which records the remote actor and address. Failures (wrong
credentials, a user who is not an admin, no server) are one line, without a traceback or a
secret."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from pubkit.testing import LiveServer, make_wheel
from tests.e2e.support import (
    CLIENT_TIMEOUT,
    JSON_V1,
    PASSWORDS,
    client_env,
    files_by_name,
    output,
    start_server,
    twine_upload,
)

pytestmark = pytest.mark.e2e

ROOT_PASSWORD = "root-e2e-admin-password"
CAROL_PASSWORDS = ("carol-first-password", "carol-second-password", "carol-third-password")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """``pubkit serve`` with alice and bob (users) and root (an administrator)."""
    live = start_server(tmp_path_factory.mktemp("admin-remote") / "data")
    try:
        live.add_user("root", ROOT_PASSWORD, admin=True)
        yield live
    finally:
        live.stop()


def as_user(name: str, password: str) -> dict[str, str]:
    return {"PUBKIT_ADMIN_USERNAME": name, "PUBKIT_ADMIN_PASSWORD": password}


ROOT = as_user("root", ROOT_PASSWORD)


def pubkit(
    server: LiveServer | str,
    *args: str,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``pubkit ARGS --server URL``, signed in as root unless ``env`` says otherwise."""
    url = server if isinstance(server, str) else server.url
    environment = {**client_env(), **(ROOT if env is None else env)}
    return subprocess.run(
        [sys.executable, "-m", "pubkit", *args, "--server", url],
        env=environment,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, output(result)
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess[str], *secrets: str) -> str:
    """The error line of a failed command (and nothing else on stdout or stderr)."""
    assert result.returncode != 0, output(result)
    assert result.stdout == "", output(result)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, output(result)
    assert "Traceback" not in result.stderr, output(result)
    for secret in secrets:
        assert secret not in result.stderr, output(result)
    return result.stderr


def simple_status(server: LiveServer, project: str, user: str | None = None) -> int:
    auth = (user, PASSWORDS[user]) if user else None
    answer = requests.get(
        f"{server.simple_url}{project}/", headers={"Accept": JSON_V1}, auth=auth, timeout=10
    )
    return answer.status_code


def upload(server: LiveServer, dists: Path, project: str, *versions: str) -> list[Path]:
    wheels = [make_wheel(dists, project, version) for version in versions]
    uploaded = twine_upload(server, wheels, "alice")
    assert uploaded.returncode == 0, output(uploaded)
    return wheels


def test_the_api_describes_itself(server: LiveServer) -> None:
    answer = requests.get(server.url + "api/v1/openapi.json", timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["openapi"].startswith("3.1")


def test_users(server: LiveServer) -> None:
    added = pubkit(
        server, "user", "add", "carol", "--password-stdin", stdin=CAROL_PASSWORDS[0] + "\n"
    )
    assert ok(added) == "added user carol\n"
    duplicate = pubkit(
        server, "user", "add", "carol", "--password-stdin", stdin=CAROL_PASSWORDS[0] + "\n"
    )
    assert "already exists" in one_line_error(duplicate, CAROL_PASSWORDS[0])
    weak = pubkit(server, "user", "add", "dave", "--password-stdin", stdin="short\n")
    assert weak.returncode == 2 and "password" in one_line_error(weak, "short\n")

    listed = [line.split("\t") for line in ok(pubkit(server, "user", "list")).splitlines()]
    assert {(name, kind) for name, kind, _created in listed} == {
        ("alice", "user"),
        ("bob", "user"),
        ("carol", "user"),
        ("root", "admin"),
    }

    # An admin sets anyone's password; a user their own, signed in with their password.
    assert (
        ok(
            pubkit(
                server,
                "user",
                "passwd",
                "carol",
                "--password-stdin",
                stdin=CAROL_PASSWORDS[1] + "\n",
            )
        )
        == "changed the password of carol\n"
    )
    as_carol = as_user("carol", CAROL_PASSWORDS[1])
    assert (
        ok(
            pubkit(
                server,
                "user",
                "passwd",
                "carol",
                "--password-stdin",
                env=as_carol,
                stdin=CAROL_PASSWORDS[2] + "\n",
            )
        )
        == "changed the password of carol\n"
    )
    whoami = requests.get(
        server.url + "api/v1/whoami", auth=("carol", CAROL_PASSWORDS[2]), timeout=10
    )
    assert whoami.status_code == 200 and whoami.json()["user"] == "carol", whoami.text

    # The administrator flag and disabling, through the server as on a data dir.
    assert ok(pubkit(server, "user", "admin", "carol")) == "carol is an administrator\n"
    assert ok(pubkit(server, "user", "admin", "carol", "--revoke")) == (
        "carol is no longer an administrator\n")
    assert ok(pubkit(server, "user", "disable", "carol")) == "disabled user carol\n"
    refused = requests.get(server.url + "api/v1/whoami", auth=("carol", CAROL_PASSWORDS[2]),
                           timeout=10)  # fmt: skip
    assert refused.status_code == 401, refused.text
    as_carol = as_user("carol", CAROL_PASSWORDS[2])
    denied = pubkit(server, "user", "disable", "root", env=as_carol)
    # Refused as a wrong password is: the answer does not tell that the account exists.
    assert denied.returncode == 1 and "invalid username or password" in one_line_error(denied)
    assert ok(pubkit(server, "user", "disable", "carol", "--enable")) == "enabled user carol\n"

    assert ok(pubkit(server, "user", "remove", "carol")) == "removed user carol\n"
    again = pubkit(server, "user", "remove", "carol")
    assert again.returncode == 1 and "no user 'carol'" in one_line_error(again)


def test_groups_roles_and_a_private_project(server: LiveServer, dists: Path) -> None:
    project = "e2e-remote-private"
    upload(server, dists, project, "1.0")  # alice owns it
    assert ok(pubkit(server, "group", "add", "dev")) == "added group @dev\n"
    assert ok(pubkit(server, "group", "add-member", "@dev", "bob")) == "added bob to @dev\n"
    assert "@dev\tbob\n" in ok(pubkit(server, "group", "list"))

    assert ok(pubkit(server, "project", "private", project)) == f"{project} is private\n"
    assert simple_status(server, project, "bob") == 404  # as if it did not exist
    assert simple_status(server, project) != 200
    assert ok(pubkit(server, "role", "grant", project, "@dev", "reader")) == (
        f"granted reader of {project} to @dev\n"
    )
    assert simple_status(server, project, "bob") == 200
    assert ok(pubkit(server, "project", "show", project)) == (
        f"{project}\tprivate\n  alice\towner\n  @dev\treader\n"
    )
    assert ok(pubkit(server, "role", "list", project)) == "alice\towner\n@dev\treader\n"
    # An owner who is no admin manages their project too.
    as_alice = as_user("alice", PASSWORDS["alice"])
    assert ok(pubkit(server, "role", "grant", project, "bob", "maintainer", env=as_alice)) == (
        f"granted maintainer of {project} to bob\n"
    )
    assert ok(pubkit(server, "role", "revoke", project, "bob", "maintainer", env=as_alice)) == (
        f"revoked maintainer of {project} from bob\n"
    )

    assert ok(pubkit(server, "role", "revoke", project, "@dev", "reader")) == (
        f"revoked reader of {project} from @dev\n"
    )
    assert simple_status(server, project, "bob") == 404
    last_owner = pubkit(server, "role", "revoke", project, "alice", "owner")
    assert last_owner.returncode == 2
    assert "alice is the last owner" in one_line_error(last_owner)

    assert ok(pubkit(server, "group", "remove-member", "dev", "bob")) == "removed bob from @dev\n"
    not_member = pubkit(server, "group", "remove-member", "dev", "bob")
    assert "bob is not a member of @dev" in one_line_error(not_member)
    assert ok(pubkit(server, "group", "remove", "@dev")) == "removed group @dev\n"
    assert "@dev" not in ok(pubkit(server, "group", "list"))

    assert ok(pubkit(server, "project", "public", project)) == f"{project} is public\n"
    assert simple_status(server, project) == 200
    assert ok(pubkit(server, "project", "show", project)).startswith(f"{project}\tpublic\n")


def test_tokens(server: LiveServer, dists: Path) -> None:
    created = pubkit(
        server,
        "token",
        "create",
        "--user",
        "alice",
        "--project",
        "e2e-remote-tok",
        "--expires",
        "30d",
        "--description",
        "CI",
    )
    token = ok(created).strip()
    assert token.startswith("pubkit_") and token not in created.stderr
    assert created.stderr.startswith("created token ") and "for alice: upload, e2e-remote-tok" in (
        created.stderr
    )
    wheel = make_wheel(dists, "e2e-remote-tok", "1.0")
    uploaded = twine_upload(server, [wheel], "__token__", token)
    assert uploaded.returncode == 0, output(uploaded)

    listed = pubkit(server, "token", "list", "--user", "alice", "--json")
    tokens = json.loads(ok(listed))
    assert token not in listed.stdout
    (mine,) = [t for t in tokens if t["description"] == "CI"]
    assert mine["projects"] == ["e2e-remote-tok"] and mine["state"] == "active"
    assert mine["last_used"] and token.split("_")[1] == mine["id"]

    assert ok(pubkit(server, "token", "revoke", token)) == f"revoked token {mine['id']} of alice\n"
    state = {t["id"]: t["state"] for t in json.loads(ok(pubkit(server, "token", "list", "--json")))}
    assert state[mine["id"]] == "revoked"
    refused = twine_upload(server, [make_wheel(dists, "e2e-remote-tok", "1.1")], "__token__", token)
    assert refused.returncode != 0 and "401" in output(refused)


def test_an_admin_token_works_as_credentials(server: LiveServer) -> None:
    token = ok(pubkit(server, "token", "create", "--user", "root")).strip()
    with_token = {"PUBKIT_ADMIN_TOKEN": token}
    assert ok(pubkit(server, "group", "add", "tokened", env=with_token)) == (
        "added group @tokened\n"
    )
    token_id = token.split("_")[1]
    entry = json.loads(ok(pubkit(server, "audit", "--json", "--limit", "1", env=with_token)))
    assert (entry["action"], entry["target"]) == ("add group", "@tokened")
    assert entry["actor"] == f"root (token {token_id})" and entry["address"] == "127.0.0.1"
    assert ok(pubkit(server, "token", "revoke", token_id)).startswith(f"revoked token {token_id}")
    revoked = pubkit(server, "audit", env=with_token)
    assert revoked.returncode == 1
    one_line_error(revoked, token)


def test_yank_unyank_delete_and_the_audit_log(server: LiveServer, dists: Path) -> None:
    project = "e2e-remote-rel"
    old, new = upload(server, dists, project, "1.0", "2.0")
    assert ok(pubkit(server, "yank", project, "2.0", "--reason", "broken")) == (
        f"yanked {project} 2.0 (1 file(s))\n"
    )
    assert files_by_name(server, project)[new.name]["yanked"] == "broken"
    assert ok(pubkit(server, "unyank", project, "2.0")) == f"unyanked {project} 2.0 (1 file(s))\n"
    assert files_by_name(server, project)[new.name]["yanked"] is False

    unconfirmed = pubkit(server, "delete", project, "1.0")
    assert unconfirmed.returncode == 2 and "pass --yes" in one_line_error(unconfirmed)
    assert old.name in files_by_name(server, project)
    assert ok(pubkit(server, "delete", project, "1.0", "--yes")) == (
        f"deleted {project} 1.0 (1 file(s))\n"
    )
    assert set(files_by_name(server, project)) == {new.name}
    gone = requests.get(f"{server.url}files/{project}/{old.name}", timeout=10)
    assert gone.status_code == 404
    missing = pubkit(server, "delete", project, "1.0", "--yes")
    assert missing.returncode == 1 and "has no release 1.0" in one_line_error(missing)
    # Deleting is for admins, not for the project's owner.
    as_alice = as_user("alice", PASSWORDS["alice"])
    refused = pubkit(server, "delete", project, "2.0", "--yes", env=as_alice)
    assert refused.returncode == 1
    one_line_error(refused, PASSWORDS["alice"])

    lines = ok(pubkit(server, "audit", "--json", "--limit", "20")).splitlines()
    entries = [json.loads(line) for line in lines]
    mine = [
        (e["action"], e["target"], e["actor"], e["address"])
        for e in entries
        if e["target"] == f"{project} 1.0" or e["target"] == f"{project} 2.0"
    ]
    assert mine[:3] == [
        ("delete", f"{project} 1.0", "root", "127.0.0.1"),
        ("unyank", f"{project} 2.0", "root", "127.0.0.1"),
        ("yank", f"{project} 2.0", "root", "127.0.0.1"),
    ]
    text = ok(pubkit(server, "audit", "--limit", "50"))
    assert f"\troot\t127.0.0.1\tdelete\t{project} 1.0\t" in text
    assert ROOT_PASSWORD not in text


# -- failures: one line, a non-zero exit, no traceback, no secret ---------------------------


def test_wrong_credentials(server: LiveServer) -> None:
    wrong = pubkit(server, "user", "list", env=as_user("root", "not-the-password"))
    assert wrong.returncode == 1
    error = one_line_error(wrong, "not-the-password")
    assert "401" in error and "PUBKIT_ADMIN_USERNAME and PUBKIT_ADMIN_PASSWORD" in error
    forged = "pubkit_0123456789abcdef_" + "Z" * 43
    bad_token = pubkit(server, "audit", env={"PUBKIT_ADMIN_TOKEN": forged})
    assert bad_token.returncode == 1
    assert "PUBKIT_ADMIN_TOKEN" in one_line_error(bad_token, forged, "Z" * 43)
    missing = pubkit(server, "user", "list", env={})
    assert missing.returncode == 2
    assert "set PUBKIT_ADMIN_TOKEN, or PUBKIT_ADMIN_USERNAME and PUBKIT_ADMIN_PASSWORD" in (
        one_line_error(missing)
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["user", "list"],
        ["user", "add", "eve", "--admin", "--password-stdin"],
        ["group", "add", "bobs"],
        ["audit"],
        ["token", "create", "--user", "alice"],
        ["user", "passwd", "alice", "--password-stdin"],
    ],
)
def test_a_user_who_is_no_admin_is_refused(server: LiveServer, argv: list[str]) -> None:
    refused = pubkit(
        server, *argv, env=as_user("bob", PASSWORDS["bob"]), stdin="eve-long-password\n"
    )
    assert refused.returncode == 1, output(refused)
    one_line_error(refused, PASSWORDS["bob"], "eve-long-password")
    users = ok(pubkit(server, "user", "list"))
    assert "eve" not in users


def test_an_unreachable_server() -> None:
    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{bound.getsockname()[1]}/"
        result = pubkit(url, "user", "list")
    assert result.returncode == 1
    assert one_line_error(result, ROOT_PASSWORD) == (
        f"error: could not connect to the pubkit server at {url}; check --server (or"
        " PUBKIT_SERVER_URL) and that the server is running\n"
    )


def test_server_and_data_dir_together(server: LiveServer) -> None:
    both = pubkit(server, "user", "list", "--data-dir", str(server.data_dir))
    assert both.returncode == 2
    assert "pass one or the other" in one_line_error(both)


def test_prune_through_the_server_keeps_the_newest_builds_and_pip_installs_them(
    server: LiveServer, tmp_path: Path, venv: object
) -> None:
    from tests.e2e.support import Venv, pip_install

    assert isinstance(venv, Venv)
    # Dev builds of two projects, as CI's `pubkit release --dev N` runs make them: the app's
    # build N pins the core's build N.
    wheels = []
    for n in range(1, 7):
        wheels.append(make_wheel(tmp_path, "prune-core", f"1.0.0.dev{n}"))
        wheels.append(make_wheel(tmp_path, "prune-app", f"1.0.0.dev{n}",
                                 requires=[f"prune-core==1.0.0.dev{n}"]))  # fmt: skip
    assert twine_upload(server, wheels, "alice").returncode == 0
    dry = json.loads(ok(pubkit(server, "index", "prune", "--keep", "2", "--dry-run", "--json")))
    assert dry["dry_run"] and len(dry["removed"]) == 8
    assert len(files_by_name(server, "prune-core")) == 6  # a dry run changes nothing
    done = ok(pubkit(server, "index", "prune", "--keep", "2", "--project", "prune-app",
                     "--project", "prune-core"))  # fmt: skip
    assert "removed 8 release(s), kept 4" in done
    for project in ("prune-core", "prune-app"):
        versions = sorted(entry["filename"] for entry in files_by_name(server, project).values())
        assert versions == [f"{project.replace('-', '_')}-1.0.0.dev{n}-py3-none-any.whl"
                            for n in (5, 6)]  # fmt: skip
        gone = requests.get(f"{server.url}files/{project}/{project.replace('-', '_')}"
                            "-1.0.0.dev1-py3-none-any.whl", timeout=10)  # fmt: skip
        assert gone.status_code == 404
    # A kept build installs with the build it pins, from pubkit alone.
    assert pip_install(venv, server, "prune-app==1.0.0.dev5").returncode == 0
    assert venv.installed()["prune-core"] == "1.0.0.dev5"
    lines = ok(pubkit(server, "audit", "--json", "--limit", "20")).splitlines()
    entries = [json.loads(line) for line in lines]
    assert sum(entry["action"] == "prune" for entry in entries) == 8
    assert {entry["actor"] for entry in entries if entry["action"] == "prune"} == {"root"}
