"""Every endpoint (30 rows: reads, uploads, the admin API, probes) by every kind of
principal, on a public and on an authenticated-read server, with the project public and
private: the status each gets is written out by hand below, so a change in who may do what
shows up here as a changed cell.

Principals (columns, in this order):
  anon      no credentials
  reader    rita, reader of acme
  other     mo, maintainer of another project only
  maint     max, maintainer of acme
  owner     olga, owner of acme
  group     gus, member of @team, which is maintainer of acme
  admin     root, administrator
  expired   olga's token, past its expiry
  revoked   olga's token, revoked
  scoped    olga's upload token limited to the project "other"
  readtok   olga's read-only token

Reading on a public index does not look at credentials for public projects (as anonymous
could read them anyway), so expired and revoked tokens read those too: that is the 200 in
their columns of the first rows.

The web interface's rows (/ui/…) come from browsers: the users sign in with their password
(a session cookie), and every form carries its CSRF token. Tokens do not sign in to it: a
token's columns there are an anonymous browser's. A redirect to the sign-in page is 303, and
so is a form's success.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from starlette.testclient import TestClient

from pubkit.server import admin
from pubkit.server.app import create_app
from pubkit.server.catalog import schema
from pubkit.server.layout import utc_now
from pubkit.settings import load_server_settings
from pubkit.testing import make_wheel
from tests.server.conftest import PASSWORD, basic, upload_fields

PRINCIPALS = ("anon", "reader", "other", "maint", "owner", "group", "admin", "expired",
              "revoked", "scoped", "readtok")  # fmt: skip
USERS = {"reader": "rita", "other": "mo", "maint": "max", "owner": "olga", "group": "gus",
         "admin": "root"}  # fmt: skip
WHEEL = "acme-1.0-py3-none-any.whl"


@dataclass
class World:
    client: TestClient
    headers: dict[str, dict[str, str]]
    dists: Path
    private: bool
    tokens: list[str]  # ids of olga's spare tokens, one per column
    ui_tokens: list[str]  # and more of them, for the web interface's row
    # Each principal as a browser: its cookies and its forms' CSRF token (tokens: anonymous).
    browsers: dict[str, tuple[dict[str, str], str]] = field(default_factory=dict)

    def upload(self, who: str, name: str, version: str) -> int:
        wheel = make_wheel(self.dists / who, name, version)
        files = {"content": (wheel.name, wheel.read_bytes(), "application/octet-stream")}
        answer = self.client.post("/", data=upload_fields(wheel), files=files,
                                  headers=self.headers[who])  # fmt: skip
        return int(answer.status_code)


Request = Callable[[World, str, int], int]  # (world, principal, its column) -> status


def get(path: str) -> Request:
    def send(world: World, who: str, _column: int) -> int:
        return int(world.client.get(path, headers=world.headers[who]).status_code)

    return send


def api(method: str, path: str, body: Any = None) -> Request:
    def send(world: World, who: str, column: int) -> int:
        url = path.format(i=column)
        answer = world.client.request(method, url, json=body, headers=world.headers[who])
        return int(answer.status_code)

    return send


def upload_to(project: str) -> Request:
    # A version (or a project) of each principal's own, so one's success changes no other cell.
    return lambda world, who, column: world.upload(who, project.format(i=column), f"2.{column}")


def ui_get(path: str) -> Request:
    def send(world: World, who: str, column: int) -> int:
        cookies, _csrf = world.browsers[who]
        answer = world.client.get(path.format(i=column), headers=cookies, follow_redirects=False)
        world.client.cookies.clear()
        return int(answer.status_code)

    return send


def ui_post(path: str, fields: dict[str, str] | None = None) -> Request:
    def send(world: World, who: str, column: int) -> int:
        cookies, csrf = world.browsers[who]
        form = {key: value.format(i=column) for key, value in (fields or {}).items()}
        answer = world.client.post(path.format(i=column), data={**form, "csrf": csrf},
                                   headers=cookies, follow_redirects=False)  # fmt: skip
        world.client.cookies.clear()
        return int(answer.status_code)

    return send


def browser_of(client: TestClient, user: str | None) -> tuple[dict[str, str], str]:
    """A browser's cookies and CSRF token: signed in as ``user``, or anonymous."""
    signin = client.get("/ui/signin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', signin.text)
    assert csrf is not None, signin.text
    jar = dict(client.cookies.items())
    if user is not None:
        answer = client.post("/ui/signin", data={"csrf": csrf[1], "name": user,
                                                 "password": PASSWORD}, follow_redirects=False)
        assert answer.status_code == 303, answer.text
        jar = {"pubkit_session": answer.cookies["pubkit_session"]}
        cookie = {"Cookie": f"pubkit_session={jar['pubkit_session']}"}
        page = client.get("/ui/account", headers=cookie)
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None, page.text
    client.cookies.clear()
    return {"Cookie": "; ".join(f"{key}={value}" for key, value in jar.items())}, csrf[1]


def set_visibility(world: World, who: str, column: int) -> int:
    # Setting what already is: allowed requests change nothing the other cells depend on.
    body = {"private": world.private}
    return api("PUT", "/api/v1/projects/acme/visibility", body)(world, who, column)


# Each row: the request, then the expected statuses per principal (in PRINCIPALS order) for
# (server read policy, project visibility).
PUB, AUTH = "public", "authenticated"
MATRIX: dict[str, tuple[Request, dict[tuple[str, bool], str]]] = {
    "GET /simple/": (get("/simple/"), {
        (PUB, False): "200 200 200 200 200 200 200 200 200 200 200",
        (PUB, True): "200 200 200 200 200 200 200 401 401 200 200",
        (AUTH, False): "401 200 200 200 200 200 200 401 401 200 200",
        (AUTH, True): "401 200 200 200 200 200 200 401 401 200 200",
    }),
    "GET /simple/acme/": (get("/simple/acme/"), {
        (PUB, False): "200 200 200 200 200 200 200 200 200 200 200",
        (PUB, True): "401 200 404 200 200 200 200 401 401 404 200",
        (AUTH, False): "401 200 200 200 200 200 200 401 401 200 200",
        (AUTH, True): "401 200 404 200 200 200 200 401 401 404 200",
    }),
    "GET file": (get(f"/files/acme/{WHEEL}"), {
        (PUB, False): "200 200 200 200 200 200 200 200 200 200 200",
        (PUB, True): "401 200 404 200 200 200 200 401 401 404 200",
        (AUTH, False): "401 200 200 200 200 200 200 401 401 200 200",
        (AUTH, True): "401 200 404 200 200 200 200 401 401 404 200",
    }),
    "GET metadata": (get(f"/files/acme/{WHEEL}.metadata"), {
        (PUB, False): "200 200 200 200 200 200 200 200 200 200 200",
        (PUB, True): "401 200 404 200 200 200 200 401 401 404 200",
        (AUTH, False): "401 200 200 200 200 200 200 401 401 200 200",
        (AUTH, True): "401 200 404 200 200 200 200 401 401 404 200",
    }),
    "upload to acme": (upload_to("acme"), {
        (PUB, False): "401 403 403 200 200 200 200 401 401 403 403",
        (PUB, True): "401 403 404 200 200 200 200 401 401 403 403",
        (AUTH, False): "401 403 403 200 200 200 200 401 401 403 403",
        (AUTH, True): "401 403 404 200 200 200 200 401 401 403 403",
    }),
    "upload a new project": (upload_to("fresh-{i}"), {
        (policy, private): "401 200 200 200 200 200 200 401 401 403 403"
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    "GET /api/v1/whoami": (api("GET", "/api/v1/whoami"), {
        (policy, private): "401 200 200 200 200 200 200 401 401 200 200"
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    "GET /api/v1/projects/acme": (api("GET", "/api/v1/projects/acme"), {
        (policy, private): ("401 403 404 403 200 403 200 401 401 403 403" if private
                            else "401 403 403 403 200 403 200 401 401 403 403")
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    "PUT visibility": (set_visibility, {
        (policy, private): ("401 403 404 403 204 403 204 401 401 403 403" if private
                            else "401 403 403 403 204 403 204 401 401 403 403")
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    "POST yank": (api("POST", "/api/v1/projects/acme/releases/1.0/yank", {"reason": "m"}), {
        (policy, private): ("401 403 404 403 200 403 200 401 401 403 403" if private
                            else "401 403 403 403 200 403 200 401 401 403 403")
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    "PUT role": (api("PUT", "/api/v1/projects/acme/roles/@team", {"role": "maintainer"}), {
        (policy, private): ("401 403 404 403 204 403 204 401 401 403 403" if private
                            else "401 403 403 403 204 403 204 401 401 403 403")
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    "DELETE release": (api("DELETE", "/api/v1/projects/acme/releases/9.{i}"), {
        # Administrators only; to others a private project answers as a missing one does.
        (policy, private): "401 403 403 403 403 403 200 401 401 403 403"
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    "GET /api/v1/users": (api("GET", "/api/v1/users"), {
        (policy, private): "401 403 403 403 403 403 200 401 401 403 403"
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    "POST /api/v1/tokens (own)": (api("POST", "/api/v1/tokens", {"permission": "read"}), {
        (policy, private): "401 201 201 201 201 201 201 401 401 403 403"
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    "GET /api/v1/audit": (api("GET", "/api/v1/audit"), {
        (policy, private): "401 403 403 403 403 403 200 401 401 403 403"
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    "POST unyank": (api("POST", "/api/v1/projects/acme/releases/1.0/unyank"), {
        (policy, private): ("401 403 404 403 200 403 200 401 401 403 403" if private
                            else "401 403 403 403 200 403 200 401 401 403 403")
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    "DELETE role": (api("DELETE", "/api/v1/projects/acme/roles/member-{i}/reader"), {
        (policy, private): ("401 403 404 403 204 403 204 401 401 403 403" if private
                            else "401 403 403 403 204 403 204 401 401 403 403")
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    # The web interface: the same rules through pages and forms.
    "GET /ui/": (ui_get("/ui/"), {
        (policy, private): ("200 200 200 200 200 200 200 200 200 200 200" if policy == PUB
                            else "303 200 200 200 200 200 200 303 303 303 303")
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    "GET /ui/project/acme/": (ui_get("/ui/project/acme/"), {
        (PUB, False): "200 200 200 200 200 200 200 200 200 200 200",
        (PUB, True): "404 200 404 200 200 200 200 404 404 404 404",
        (AUTH, False): "303 200 200 200 200 200 200 303 303 303 303",
        (AUTH, True): "303 200 404 200 200 200 200 303 303 303 303",
    }),
    "UI yank": (ui_post("/ui/project/acme/yank", {"version": "1.0", "reason": "m"}), {
        (policy, private): ("401 403 404 403 303 403 303 401 401 401 401" if private
                            else "401 403 403 403 303 403 303 401 401 401 401")
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    "UI unyank": (ui_post("/ui/project/acme/unyank", {"version": "1.0"}), {
        (policy, private): ("401 403 404 403 303 403 303 401 401 401 401" if private
                            else "401 403 403 403 303 403 303 401 401 401 401")
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    "UI visibility": (lambda world, who, column: ui_post(
        "/ui/project/acme/visibility", {"private": str(world.private).lower()})(
            world, who, column), {
        (policy, private): ("401 403 404 403 303 403 303 401 401 401 401" if private
                            else "401 403 403 403 303 403 303 401 401 401 401")
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    "UI grant role": (ui_post("/ui/project/acme/grant", {"holder": "@team",
                                                         "role": "maintainer"}), {
        (policy, private): ("401 403 404 403 303 403 303 401 401 401 401" if private
                            else "401 403 403 403 303 403 303 401 401 401 401")
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    "UI delete release": (ui_post("/ui/project/acme/delete", {"version": "8.{i}"}), {
        (policy, private): "401 403 403 403 403 403 303 401 401 401 401"
        for policy in (PUB, AUTH) for private in (False, True)
    }),
    # What does not depend on a project: the same in every combination.
    **{name: (request, {(policy, private): statuses for policy in (PUB, AUTH)
                        for private in (False, True)})
       for name, request, statuses in [
        ("GET /health", get("/health"), "200 200 200 200 200 200 200 200 200 200 200"),
        ("GET /ready", get("/ready"), "200 200 200 200 200 200 200 200 200 200 200"),
        ("GET openapi.json", get("/api/v1/openapi.json"),
         "200 200 200 200 200 200 200 200 200 200 200"),
        ("POST /api/v1/users", api("POST", "/api/v1/users",
                                   {"name": "new-{i}", "password": PASSWORD}),
         "401 403 403 403 403 403 201 401 401 403 403"),
        ("POST /api/v1/prune (dry run)", api("POST", "/api/v1/prune", {"dry_run": True}),
         "401 403 403 403 403 403 200 401 401 403 403"),
        ("DELETE /api/v1/users/U", api("DELETE", "/api/v1/users/victim-{i}"),
         "401 403 403 403 403 403 204 401 401 403 403"),
        ("PUT another's password", api("PUT", "/api/v1/users/changer-{i}/password",
                                       {"password": "a-new-long-password"}),
         "401 403 403 403 403 403 204 401 401 403 403"),
        ("PUT admin flag", api("PUT", "/api/v1/users/changer-{i}/admin", {"admin": True}),
         "401 403 403 403 403 403 204 401 401 403 403"),
        ("PUT disabled", api("PUT", "/api/v1/users/member-{i}/disabled", {"disabled": True}),
         "401 403 403 403 403 403 204 401 401 403 403"),
        ("UI disable", ui_post("/ui/admin/users/disable", {"name": "joiner-{i}",
                                                          "disabled": "true"}),
         "401 403 403 403 403 403 303 401 401 401 401"),
        ("UI admin flag", ui_post("/ui/admin/users/admin", {"name": "changer-{i}",
                                                            "admin": "false"}),
         "401 403 403 403 403 403 303 401 401 401 401"),
        ("GET /api/v1/groups", api("GET", "/api/v1/groups"),
         "401 403 403 403 403 403 200 401 401 403 403"),
        ("POST /api/v1/groups", api("POST", "/api/v1/groups", {"name": "new-{i}"}),
         "401 403 403 403 403 403 201 401 401 403 403"),
        ("DELETE /api/v1/groups/G", api("DELETE", "/api/v1/groups/doomed-{i}"),
         "401 403 403 403 403 403 204 401 401 403 403"),
        ("PUT member", api("PUT", "/api/v1/groups/crew/members/joiner-{i}"),
         "401 403 403 403 403 403 204 401 401 403 403"),
        ("DELETE member", api("DELETE", "/api/v1/groups/crew/members/leaver-{i}"),
         "401 403 403 403 403 403 204 401 401 403 403"),
        ("GET own tokens", api("GET", "/api/v1/tokens"),
         "401 200 200 200 200 200 200 401 401 200 200"),
        ("GET /api/v1/projects (search)", api("GET", "/api/v1/projects?q=acme"),
         "401 200 200 200 200 200 200 401 401 200 200"),
        ("GET /ui/account", ui_get("/ui/account"),
         "303 200 200 200 200 200 200 303 303 303 303"),
        ("UI create own token", ui_post("/ui/account/token", {"permission": "read"}),
         "401 201 201 201 201 201 201 401 401 401 401"),
        ("GET /ui/admin/users", ui_get("/ui/admin/users"),
         "303 403 403 403 403 403 200 303 303 303 303"),
        ("GET /ui/admin/groups", ui_get("/ui/admin/groups"),
         "303 403 403 403 403 403 200 303 303 303 303"),
        ("GET /ui/admin/audit", ui_get("/ui/admin/audit"),
         "303 403 403 403 403 403 200 303 303 303 303"),
        ("UI add user", ui_post("/ui/admin/users/add", {"name": "ui-new-{i}",
                                                        "password": PASSWORD}),
         "401 403 403 403 403 403 303 401 401 401 401"),
        ("UI add group", ui_post("/ui/admin/groups/add", {"group": "ui-new-{i}"}),
         "401 403 403 403 403 403 303 401 401 401 401"),
        ("UI add member", ui_post("/ui/admin/groups/member", {"group": "crew",
                                                              "user": "ui-joiner-{i}"}),
         "401 403 403 403 403 403 303 401 401 401 401"),
        ("UI revoke olga's token", lambda world, who, column: ui_post(
            "/ui/account/revoke", {"id": world.ui_tokens[column]})(world, who, column),
         "401 403 403 403 303 403 303 401 401 401 401"),
        # olga's tokens, one per column: hers to revoke (with her password or an upload
        # token), an admin's, nobody else's.
        ("DELETE olga's token", lambda world, who, column: api(
            "DELETE", f"/api/v1/tokens/{world.tokens[column]}")(world, who, column),
         "401 403 403 403 200 403 200 401 401 200 403"),
    ]},
}  # fmt: skip
def build_world(tmp: Path, read: str, private: bool) -> Iterator[World]:
    # Every request comes from one address here: sign-in pacing would answer 429 to the
    # expired and revoked tokens' many failures (it has tests of its own).
    settings = load_server_settings({"data_dir": tmp / "data", "read": read,
                                     "auth_failures_per_minute": "100000"}, environ={})  # fmt: skip
    app = create_app(settings)
    with TestClient(app) as client:
        services = app.state.services
        catalog = services.catalog
        for name in USERS.values():
            admin.add_user(catalog, name, PASSWORD, is_admin=name == "root")
        headers = {key: basic(name) for key, name in USERS.items()}
        headers["anon"] = {}
        operations = admin.Admin(catalog, lambda: services.storage, "test")
        spare = [operations.create_token("olga")[0].id for _ in PRINCIPALS]
        ui_spare = [operations.create_token("olga")[0].id for _ in PRINCIPALS]
        world = World(client, headers, tmp / "dists", private, spare, ui_spare)
        assert world.upload("owner", "acme", "1.0") == 200
        for column in range(len(PRINCIPALS)):  # one release per principal, for DELETE
            assert world.upload("owner", "acme", f"9.{column}") == 200
            assert world.upload("owner", "acme", f"8.{column}") == 200  # the UI's
        assert world.upload("other", "other", "1.0") == 200
        operations.grant("acme", "max", "maintainer")
        operations.grant("acme", "rita", "reader")
        operations.add_group("team")
        operations.add_member("team", "gus")
        operations.grant("acme", "@team", "maintainer")
        operations.set_private("acme", private)
        # One of each per column, so that one principal's success changes no other cell.
        operations.add_group("crew")
        for column in range(len(PRINCIPALS)):
            for name in (f"victim-{column}", f"changer-{column}", f"joiner-{column}",
                         f"ui-joiner-{column}",
                         f"leaver-{column}", f"member-{column}"):  # fmt: skip
                admin.add_user(catalog, name, PASSWORD)
            operations.add_member("crew", f"leaver-{column}")
            operations.grant("acme", f"member-{column}", "reader")
            operations.add_group(f"doomed-{column}")

        def token_header(**options: Any) -> dict[str, str]:
            _token, text = operations.create_token("olga", **options)
            return {"Authorization": f"Bearer {text}"}

        expired = token_header(expires_in=timedelta(hours=1))
        revoked_token, revoked_text = operations.create_token("olga")
        operations.revoke_token(revoked_token.id)
        headers["expired"] = expired
        with catalog.engine.begin() as conn:  # an hour later
            conn.execute(update(schema.tokens).where(schema.tokens.c.expires.is_not(None))
                         .values(expires=utc_now() - timedelta(seconds=1)))  # fmt: skip
        headers["revoked"] = {"Authorization": f"Bearer {revoked_text}"}
        headers["scoped"] = token_header(projects=("other",))
        headers["readtok"] = token_header(permission="read")
        anonymous = browser_of(client, None)
        world.browsers = {who: browser_of(client, USERS[who]) if who in USERS else anonymous
                          for who in PRINCIPALS}  # fmt: skip
        yield world


COMBINATIONS = [(PUB, False), (PUB, True), (AUTH, False), (AUTH, True)]


@pytest.fixture(scope="module", params=COMBINATIONS,
                ids=[f"{read}-index-{'private' if private else 'public'}-project"
                     for read, private in COMBINATIONS])  # fmt: skip
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
          ) -> Iterator[tuple[World, tuple[str, bool]]]:  # fmt: skip
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr("pubkit.server.auth.passwords.LOG2_N", 10)
    read, private = request.param
    try:
        for built in build_world(tmp_path_factory.mktemp("matrix"), read, private):
            yield built, request.param
    finally:
        monkeypatch.undo()


@pytest.mark.parametrize("endpoint", list(MATRIX))
def test_each_principal_gets_the_status_written_down(
    world: tuple[World, tuple[str, bool]], endpoint: str
) -> None:
    built, combination = world
    request, expected = MATRIX[endpoint]
    statuses = [request(built, who, column) for column, who in enumerate(PRINCIPALS)]
    wanted = [int(code) for code in expected[combination].split()]
    differences = {
        who: f"got {got}, want {want}"
        for who, got, want in zip(PRINCIPALS, statuses, wanted, strict=True)
        if got != want
    }
    assert not differences, f"{endpoint} {combination}: {differences}"


def test_the_project_list_shows_a_private_project_to_those_who_may_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pubkit.server.auth.passwords.LOG2_N", 10)
    for built in build_world(tmp_path, PUB, True):

        def listed(who: str, world: World = built) -> set[str]:
            answer = world.client.get("/simple/", headers={
                **world.headers[who], "Accept": "application/vnd.pypi.simple.v1+json"})
            return {project["name"] for project in answer.json()["projects"]}

        assert listed("anon") == {"other"}
        assert listed("other") == {"other"}
        for who in ("reader", "maint", "owner", "group", "admin", "readtok"):
            assert listed(who) == {"acme", "other"}, who
        assert listed("scoped") == {"other"}

        def searched(who: str, world: World = built) -> tuple[int, set[str]]:
            found = world.client.get("/api/v1/projects", headers=world.headers[who]).json()
            return found["total"], {project["name"] for project in found["projects"]}

        assert searched("other") == (1, {"other"})
        for who in ("reader", "maint", "owner", "group", "admin", "readtok"):
            assert searched(who) == (2, {"acme", "other"}), who
        assert searched("scoped") == (1, {"other"})
        # Public files may be cached by anyone on the way; a private project's may not.
        answer = built.client.get(f"/files/acme/{WHEEL}", headers=built.headers["owner"])
        assert answer.headers["cache-control"].startswith("private")


def test_a_reader_gets_the_private_file_as_uploaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pubkit.server.auth.passwords.LOG2_N", 10)
    for built in build_world(tmp_path, AUTH, True):
        wheel = built.dists / "owner" / WHEEL
        answer = built.client.get(f"/files/acme/{WHEEL}", headers=built.headers["reader"])
        assert answer.status_code == 200
        assert answer.content == wheel.read_bytes()


# -- finding 5: a private project answers exactly as a missing one -------------------------

# Requests about a project, as (method, path template, JSON body); {p} is the project.
ABOUT_A_PROJECT = [
    ("GET", "/simple/{p}/", None),
    ("GET", "/files/{p}/{p}-1.0-py3-none-any.whl", None),
    ("GET", "/files/{p}/{p}-1.0-py3-none-any.whl.metadata", None),
    ("GET", "/api/v1/projects/{p}", None),
    ("PUT", "/api/v1/projects/{p}/visibility", {"private": True}),
    ("POST", "/api/v1/projects/{p}/releases/1.0/yank", {"reason": "x"}),
    ("POST", "/api/v1/projects/{p}/releases/1.0/unyank", None),
    ("PUT", "/api/v1/projects/{p}/roles/@team", {"role": "maintainer"}),
    ("DELETE", "/api/v1/projects/{p}/roles/rita/reader", None),
    ("DELETE", "/api/v1/projects/{p}/releases/1.0", None),
]
# Who may not see the private project acme (the others may: their answers differ, rightly).
STRANGERS = ("anon", "other", "expired", "revoked", "scoped")


@pytest.mark.parametrize(("method", "template", "body"), ABOUT_A_PROJECT,
                         ids=[f"{m} {t}" for m, t, _ in ABOUT_A_PROJECT])  # fmt: skip
def test_finding_5_private_and_missing_projects_answer_alike(
    world: tuple[World, tuple[str, bool]], method: str, template: str, body: Any
) -> None:
    built, (_read, private) = world
    if not private:
        pytest.skip("about a private project")
    for who in STRANGERS:
        answers = []
        for project in ("acme", "nosuch"):
            answer = built.client.request(method, template.format(p=project), json=body,
                                          headers=built.headers[who])  # fmt: skip
            answers.append((answer.status_code, answer.text.replace(project, "PROJECT"),
                            answer.headers.get("www-authenticate")))  # fmt: skip
        assert answers[0] == answers[1], (who, method, template, answers)


def test_finding_5_uploads_by_those_who_may_not_create_projects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With --create-projects admins, an upload to a private project one may not see and to
    a new name get the same answer ("a new project"), as do a scoped token's."""
    monkeypatch.setattr("pubkit.server.auth.passwords.LOG2_N", 10)
    settings = load_server_settings({"data_dir": tmp_path / "data", "create_projects": "admins"},
                                    environ={})  # fmt: skip
    app = create_app(settings)
    with TestClient(app) as client:
        catalog = app.state.services.catalog
        for name in ("olga", "mo", "root"):
            admin.add_user(catalog, name, PASSWORD, is_admin=name == "root")
        operations = admin.Admin(catalog, lambda: app.state.services.storage, "test")
        operations.grant("secret", "olga", "owner")
        operations.set_private("secret", True)
        _token, scoped = operations.create_token("mo", projects=("elsewhere",))
        for headers in (basic("mo"), {"Authorization": f"Bearer {scoped}"}):
            answers = []
            for project in ("secret", "nosuch"):
                wheel = make_wheel(tmp_path / project, project, "1.0")
                files = {"content": (wheel.name, wheel.read_bytes(), "application/octet-stream")}
                answer = client.post("/", data=upload_fields(wheel), files=files,
                                     headers=headers)  # fmt: skip
                answers.append((answer.status_code, answer.text.replace(project, "PROJECT")))
            assert answers[0] == answers[1], answers
            assert answers[0][0] == 403
