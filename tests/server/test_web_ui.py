"""The web interface in-process: sessions, CSRF, headers, search and rendering
(tests/ui/ drives it in chromium; the access matrix checks who may do what)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update
from starlette.testclient import TestClient

from pubkit.server.app import create_app
from pubkit.server.catalog import schema
from pubkit.server.catalog import web as web_catalog
from pubkit.server.layout import utc_now
from pubkit.server.web import routes
from pubkit.server.web.render import CONTENT_SECURITY_POLICY, render_readme
from pubkit.settings import load_server_settings
from pubkit.testing import core_metadata, make_wheel
from tests.conftest import postgres_database
from tests.server.conftest import PASSWORD, Index

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def sign_in(client: TestClient, user: str, password: str = PASSWORD) -> str:
    """Sign ``client`` in (its cookie jar keeps the session); the page's CSRF token."""
    token = CSRF.search(client.get("/ui/signin").text)
    assert token is not None
    answer = client.post("/ui/signin", data={"csrf": token[1], "name": user,
                                             "password": password}, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    found = CSRF.search(client.get("/ui/account").text)
    assert found is not None
    return found[1]


def post_routes() -> list[str]:
    """Every form's path, from the UI's routes ({action} filled with each known one)."""
    actions = {
        "/project/{project}/{action:str}": ["yank", "unyank", "delete", "visibility",
                                            "grant", "revoke"],
        "/account/{action:str}": ["password", "revoke", "token"],
        "/admin/users/{action:str}": ["add", "remove", "password", "admin", "disable"],
        "/admin/groups/{action:str}": ["add", "remove", "member", "unmember"],
    }  # fmt: skip
    paths = []
    for route in routes():
        methods = getattr(route, "methods", None) or set()
        if "POST" not in methods:
            continue
        path = route.path
        for action in actions.get(path, [""]):
            paths.append("/ui" + path.replace("{project}", "acme").replace("{action:str}",
                                                                             action))  # fmt: skip
    return paths


def test_every_form_fails_without_its_csrf_token_or_from_another_site(
    index: Index, tmp_path: Path
) -> None:
    index.upload(make_wheel(tmp_path, "acme", "1.0"), user="root")
    client = index.client
    csrf = sign_in(client, "root")
    paths = post_routes()
    assert len(paths) == 20, paths
    fields = {"version": "1.0", "name": "zed", "password": "a-long-password", "group": "g",
              "holder": "alice", "role": "reader", "user": "alice", "private": "true"}  # fmt: skip
    for path in paths:
        for sent in ({}, {"csrf": "0" * 64}, {"csrf": csrf[:-1]}):
            answer = client.post(path, data={**fields, **sent}, follow_redirects=False)
            assert answer.status_code == 403, (path, sent, answer.text)
            assert "did not come from this site" in answer.text
        answer = client.post(path, data={**fields, "csrf": csrf}, follow_redirects=False,
                             headers={"Origin": "https://evil.example"})  # fmt: skip
        assert answer.status_code == 403, (path, answer.text)
    # Nothing happened: the user, the yank and the visibility are as they were.
    assert index.catalog.user("zed") is None
    assert not index.catalog.project_files("acme")[0].yanked
    assert not index.catalog.private_projects()


def test_sessions_expire_on_the_server_and_end_with_a_new_password(index: Index) -> None:
    client = index.client
    csrf = sign_in(client, "alice")
    secret = client.cookies["pubkit_session"]
    assert client.get("/ui/account", follow_redirects=False).status_code == 200
    # Stored hashed: the cookie's value is not in the table.
    with index.catalog.engine.connect() as conn:
        ids = [row.id for row in conn.execute(schema.web_sessions.select())]
    assert secret not in ids and len(ids) == 1
    with index.catalog.engine.begin() as conn:
        conn.execute(update(schema.web_sessions).values(expires=utc_now() - timedelta(seconds=1)))
    answer = client.get("/ui/account", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/signin"

    csrf = sign_in(client, "alice")
    other = TestClient(client.app)
    sign_in(other, "alice")  # a second browser
    answer = client.post("/ui/account/password", data={"csrf": csrf,
                                                       "password": "a-brand-new-password"},
                         follow_redirects=False)  # fmt: skip
    assert answer.status_code == 303
    for browser in (client, other):
        assert browser.get("/ui/account", follow_redirects=False).status_code == 303


def test_cookies_and_headers(index: Index) -> None:
    client = index.client
    page = client.get("/ui/signin")
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script" not in page.text and "style=" not in page.text
    token = CSRF.search(page.text)
    assert token is not None
    answer = client.post("/ui/signin", data={"csrf": token[1], "name": "alice",
                                             "password": PASSWORD}, follow_redirects=False)
    cookie = next(value for value in answer.headers.get_list("set-cookie")
                  if value.startswith("pubkit_session="))  # fmt: skip
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert "Secure" not in cookie  # plain HTTP here; behind TLS below
    secure = TestClient(client.app, base_url="https://index.example")
    token = CSRF.search(secure.get("/ui/signin").text)
    assert token is not None
    answer = secure.post("/ui/signin", data={"csrf": token[1], "name": "alice",
                                             "password": PASSWORD}, follow_redirects=False)
    cookie = next(value for value in answer.headers.get_list("set-cookie")
                  if value.startswith("pubkit_session="))  # fmt: skip
    assert "Secure" in cookie


def test_sign_in_is_paced_as_the_api_and_tokens_do_not_sign_in(data_dir: Path) -> None:
    settings = load_server_settings({"data_dir": data_dir, "auth_failures_per_minute": "3"},
                                    environ={})  # fmt: skip
    app = create_app(settings)
    with TestClient(app) as client:
        index = Index(client, app.state.services, data_dir)
        index.add_user("alice")
        token = CSRF.search(client.get("/ui/signin").text)
        assert token is not None
        statuses = []
        for _ in range(5):
            answer = client.post("/ui/signin", data={"csrf": token[1], "name": "alice",
                                                     "password": "wrong-password"})  # fmt: skip
            statuses.append(answer.status_code)
        assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429]
        assert "Retry-After".lower() in answer.headers
        entries = index.admin().audit()
        assert any(entry.action == "failed sign-in" for entry in entries)
        _token, text = index.admin().create_token("alice")
        other = TestClient(app)
        token = CSRF.search(other.get("/ui/signin").text)
        assert token is not None
        answer = other.post("/ui/signin", data={"csrf": token[1], "name": "__token__",
                                                "password": text})  # fmt: skip
        assert answer.status_code == 401 and "pubkit_session" not in other.cookies


def test_the_root_sends_browsers_to_the_interface_and_clients_to_the_old_page(
    index: Index,
) -> None:
    browser = index.client.get("/", headers={"Accept": "text/html,*/*"}, follow_redirects=False)
    assert browser.status_code == 303 and browser.headers["location"] == "/ui/"
    pip = index.client.get("/", headers={
        "Accept": "application/vnd.pypi.simple.v1+json, text/html;q=0.01"})
    assert pip.status_code == 200 and "Simple API" in pip.text
    assert index.client.get("/").status_code == 200


@pytest.fixture(params=["sqlite", "postgresql"])
def any_index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Index]:
    """An index on each kind of catalog (the search query differs by database)."""
    with contextlib.ExitStack() as stack:
        values = {"data_dir": tmp_path / "data"}
        if request.param == "postgresql":
            values["catalog"] = stack.enter_context(postgres_database("pubkit_search"))
        app = create_app(load_server_settings(values, environ={}))
        with TestClient(app) as client:
            index = Index(client, app.state.services, tmp_path / "data")
            index.add_user("alice")
            yield index


def test_search_matches_names_and_summaries_best_first(any_index: Index, tmp_path: Path) -> None:
    index = any_index
    for name, summary in (("tool-kit", "Assorted helpers"), ("toolkit-extra", "More tools"),
                          ("plain", "A 100%_sure toolkit"), ("other", "Nothing")):  # fmt: skip
        wheel = make_wheel(tmp_path / name, name, "1.0",
                           metadata=core_metadata(name, "1.0", summary=summary))  # fmt: skip
        assert index.upload(wheel, user="alice").status_code == 200
    catalog = index.catalog

    def names(query: str) -> list[str]:
        return [p.name for p in web_catalog.search_projects(catalog, query, frozenset()).projects]

    assert names("toolkit") == ["toolkit-extra", "plain"]
    assert names("tool") == ["tool-kit", "toolkit-extra", "plain"]
    assert names("TOOL-KIT") == ["tool-kit"]
    assert names("100%_") == ["plain"]  # LIKE's wildcards are text here
    assert names("%") == ["plain"]
    assert names("") == ["other", "plain", "tool-kit", "toolkit-extra"]
    if catalog.is_sqlite:  # the trigram index answers as the scan does (FTS5 compiled out)
        assert web_catalog._FTS[catalog] is True
        web_catalog._FTS[catalog] = False
        assert names("toolkit") == ["toolkit-extra", "plain"]
        assert names("100%_") == ["plain"]
        web_catalog._FTS[catalog] = True
    else:  # pg_trgm's index, where the server has the extension
        with catalog.engine.connect() as conn:
            indexes = {row[0] for row in conn.exec_driver_sql(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'projects'")}
        assert "ix_projects_name_trgm" in indexes
    index.admin().set_private("plain", True)
    assert names("toolkit") == ["toolkit-extra"]
    found = web_catalog.search_projects(catalog, "toolkit", frozenset({"plain"}))
    assert found.total == 2 and [p.private for p in found.projects] == [False, True]
    # The summary and requirements come from the newest release, whatever the upload order.
    newer = make_wheel(tmp_path / "n", "other", "2.0", requires=["plain"],
                       metadata=core_metadata("other", "2.0", ["plain"], summary="Newer"))
    older = make_wheel(tmp_path / "o", "other", "0.5",
                       metadata=core_metadata("other", "0.5", summary="Older"))  # fmt: skip
    assert index.upload(newer, user="alice").status_code == 200
    assert index.upload(older, user="alice").status_code == 200
    assert web_catalog.project_summary(catalog, "other") == "Newer"
    assert web_catalog.used_by(catalog, "plain", frozenset({"plain"})) == ["other"]
    assert web_catalog.depends_on(catalog, "other", frozenset()) == []  # plain is private
    assert web_catalog.depends_on(catalog, "other", frozenset({"plain"})) == ["plain"]


def test_postgres_searches_through_its_trigram_indexes(tmp_path: Path) -> None:
    """A search's LIKE and ILIKE can use pg_trgm's indexes (the summary in the index's own
    collation), and a new project is in them at once (no pending list, which a search reads
    whole and which makes the planner scan every summary instead)."""
    with postgres_database("pubkit_search_plan") as url:
        app = create_app(load_server_settings({"data_dir": tmp_path / "data", "catalog": url},
                                              environ={}))  # fmt: skip
        with TestClient(app):
            catalog = app.state.services.catalog
            run: list[tuple[str, Any]] = []

            def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
                run.append((statement, parameters))

            event.listen(catalog.engine, "before_cursor_execute", record)
            web_catalog.search_projects(catalog, "Tool", frozenset())
            event.remove(catalog.engine, "before_cursor_execute", record)
            statement, parameters = next((s, p) for s, p in run if "ILIKE" in s)
            with catalog.engine.connect() as conn:
                options = dict(conn.exec_driver_sql(
                    "SELECT relname, reloptions FROM pg_class"
                    " WHERE relname IN ('ix_projects_name_trgm', 'ix_projects_summary_trgm')"
                ).all())  # fmt: skip
                conn.exec_driver_sql("SET enable_seqscan = off")  # an empty table: any plan
                plan = "\n".join(row[0] for row in conn.exec_driver_sql(
                    "EXPLAIN " + statement, parameters))  # fmt: skip
    assert options == {"ix_projects_name_trgm": ["fastupdate=off"],
                       "ix_projects_summary_trgm": ["fastupdate=off"]}
    assert "ix_projects_name_trgm" in plan and "ix_projects_summary_trgm" in plan, plan


def test_search_pages_counts_and_leaves_out_projects_without_files(
    any_index: Index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = any_index
    for number in range(7):
        name = f"lib-{number}"
        wheel = make_wheel(tmp_path / name, name, "1.0", metadata=core_metadata(
            name, "1.0", summary=f"Widgets Über {number}"))  # fmt: skip
        assert index.upload(wheel, user="alice").status_code == 200
    catalog = index.catalog
    index.add_user("root", admin_=True)
    index.admin().set_private("ghost-widgets", False)  # a project without a file

    def found(query: str, limit: int = 3, offset: int = 0) -> tuple[int, list[str]]:
        result = web_catalog.search_projects(catalog, query, frozenset(), limit, offset)
        return result.total, [p.name for p in result.projects]

    for _ in range(2):  # the second time from the projects without files read once
        assert found("") == (7, ["lib-0", "lib-1", "lib-2"])
        assert found("widgets", offset=6) == (7, ["lib-6"])
        assert found("widgets", offset=7) == (7, [])  # past the last: still counted
    assert found("wid") == (7, ["lib-0", "lib-1", "lib-2"])
    assert found("WIDGETS ü", limit=1) == (7, ["lib-0"])  # any case, ASCII or not
    assert found("über 5") == (1, ["lib-5"])
    assert found("lib-3") == (1, ["lib-3"])
    ghost = make_wheel(tmp_path / "g", "ghost-widgets", "1.0")
    assert index.upload(ghost, user="root").status_code == 200
    assert found("", limit=1) == (8, ["ghost-widgets"])  # the catalog moved: read again
    index.admin().delete_release("lib-0", "1.0")
    assert found("über", limit=1) == (6, ["lib-1"])
    monkeypatch.setattr(web_catalog, "MAX_FILELESS", 0)  # too many: asked of each project
    web_catalog._FILELESS.clear()
    assert found("über", limit=1) == (6, ["lib-1"])
    assert found("", limit=20) == (7, ["ghost-widgets", *(f"lib-{n}" for n in range(1, 7))])


def test_rebuild_verify_and_delete_describe_projects_from_stored_metadata(
    any_index: Index, tmp_path: Path
) -> None:
    """What uploads leave (the newest release's summary and requirements), rebuilt from the
    stored metadata: by ``index rebuild``, ``verify --repair`` and a deleted release."""
    from sqlalchemy import delete

    from pubkit.server.admin import rebuild_catalog
    from pubkit.server.verify import verify

    index = any_index
    releases = [("base", "3.0", [], "Base three"), ("base", "1.0", [], "Base one"),
                ("app", "1.0", ["Base>=1", "outside"], "App one"),
                ("app", "2.0", ["other"], "App two"), ("other", "1.0", [], "Other")]
    for name, version, requires, summary in releases:
        wheel = make_wheel(tmp_path / f"{name}{version}", name, version, metadata=core_metadata(
            name, version, requires, summary=summary))  # fmt: skip
        assert index.upload(wheel, user="alice").status_code == 200
    catalog, storage = index.catalog, index.services.storage

    def described() -> dict[str, tuple[str | None, list[str]]]:
        return {name: (web_catalog.project_summary(catalog, name),
                       web_catalog.depends_on(catalog, name, frozenset()))
                for name in ("base", "app", "other")}  # fmt: skip

    uploaded = described()
    assert uploaded == {"base": ("Base three", []), "app": ("App two", ["other"]),
                        "other": ("Other", [])}  # fmt: skip

    def forget() -> None:
        with catalog.engine.begin() as conn:
            conn.execute(update(schema.projects).values(summary=None))
            conn.execute(delete(schema.project_requires))

    forget()
    assert described()["app"] == (None, [])
    report = rebuild_catalog(storage, catalog)
    assert (report.described, report.skipped) == (3, [])
    assert described() == uploaded
    assert rebuild_catalog(storage, catalog).described == 0  # nothing left to restore

    forget()
    app_files = [r.filename for r in catalog.project_files("app")]
    catalog.delete_files("app", app_files, "test")
    repaired = verify(storage, catalog, repair=True)
    assert {f.kind for f in repaired.repaired} == {"unlisted"}, repaired.findings
    assert repaired.problems == []
    assert described()["app"] == uploaded["app"]  # its rows added back: described again
    assert described()["base"] == (None, [])  # untouched by the repair

    index.admin().delete_release("app", "2.0")  # the release left describes it now
    assert described()["app"] == ("App one", ["base"])
    # A metadata that cannot be read is reported; the project keeps what it had.
    storage.put_bytes("base/base-3.0-py3-none-any.whl.metadata", b"not metadata")
    report = rebuild_catalog(storage, catalog)
    assert len(report.skipped) == 1 and "base-3.0-py3-none-any.whl.metadata" in report.skipped[0]
    assert described()["base"] == (None, [])


def test_the_api_filters_the_audit_log(index: Index) -> None:
    admin = index.admin("root")
    admin.add_group("ops")
    admin.add_member("ops", "alice")
    admin.add_member("ops", "bob")
    headers = {"Authorization": "Basic " + __import__("base64").b64encode(
        f"root:{PASSWORD}".encode()).decode()}  # fmt: skip

    def actions(**params: str) -> list[tuple[str, str]]:
        answer = index.client.get("/api/v1/audit", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return [(entry["action"], entry["detail"].get("user", "")) for entry in answer.json()]

    assert actions(action="add member") == [("add member", "bob"), ("add member", "alice")]
    assert actions(target="@ops", action="add group") == [("add group", "")]
    assert actions(actor="nobody") == []
    future = (utc_now() + timedelta(hours=1)).isoformat()
    assert actions(since=future) == []
    assert len(actions(until=future, action="add member")) == 2
    bad = index.client.get("/api/v1/audit", params={"since": "yesterday"}, headers=headers)
    assert bad.status_code == 400 and "date-time" in bad.json()["error"]


@pytest.mark.parametrize(("text", "media"), [
    ("# Title\n\n<script>alert(1)</script><img src=x onerror=alert(2)>", "text/markdown"),
    ("Title\n=====\n\n.. raw:: html\n\n   <script>alert(1)</script>\n", "text/x-rst"),
])  # fmt: skip
def test_readmes_are_rendered_sanitized_and_accessible(text: str, media: str) -> None:
    html = render_readme(text, media)
    assert "Title" in html
    assert "<script" not in html and "onerror" not in html
    assert not re.search(r"<a [^>]*></a>", html)  # no empty heading anchors
    assert all("alt=" in tag for tag in re.findall(r"<img[^>]*>", html))


def test_private_projects_are_absent_from_pages_to_strangers(index: Index, tmp_path: Path) -> None:
    index.upload(make_wheel(tmp_path, "hush", "1.0"), user="alice")
    index.admin().set_private("hush", True)
    client = index.client
    sign_in(client, "bob")
    listing = client.get("/ui/?q=hush")
    assert "/ui/project/hush/" not in listing.text and "0 projects" in listing.text
    pages = [client.get(f"/ui/project/{name}/") for name in ("hush", "nosuch")]
    assert [p.status_code for p in pages] == [404, 404]
    assert pages[0].text.replace("hush", "X") == pages[1].text.replace("nosuch", "X")
    client.cookies.clear()
    sign_in(client, "alice")
    assert client.get("/ui/project/hush/").status_code == 200


def test_the_administrator_flag_changes_but_never_leaves_the_index_without_one(
    index: Index,
) -> None:
    client = index.client
    csrf = sign_in(client, "root")

    def flag(name: str, admin: bool) -> int:
        answer = client.post("/ui/admin/users/admin", data={
            "csrf": csrf, "name": name, "admin": str(admin).lower()}, follow_redirects=False)
        return int(answer.status_code)

    assert flag("alice", True) == 303
    assert index.catalog.user("alice").is_admin  # type: ignore[union-attr]
    assert flag("alice", False) == 303
    assert flag("root", False) == 400  # the last administrator
    assert index.catalog.user("root").is_admin  # type: ignore[union-attr]
    assert flag("nobody", True) == 404
    actions = [(e.action, e.target) for e in index.admin().audit()[:2]]
    assert actions == [("unmake admin", "alice"), ("make admin", "alice")]


def test_a_disabled_user_signs_in_nowhere_until_enabled(index: Index, tmp_path: Path) -> None:
    from pubkit.server.backup import access_document, import_access
    from pubkit.server.catalog import open_catalog
    from tests.server.conftest import basic

    _token, token = index.admin().create_token("alice")
    alice = TestClient(index.client.app)
    sign_in(alice, "alice")
    root = index.client
    csrf = sign_in(root, "root")

    def disabled(name: str, flag: bool) -> int:
        answer = root.post("/ui/admin/users/disable", data={
            "csrf": csrf, "name": name, "disabled": str(flag).lower()}, follow_redirects=False)
        return int(answer.status_code)

    def whoami(headers: dict[str, str]) -> tuple[int, str]:
        answer = TestClient(root.app).get("/api/v1/whoami", headers=headers)
        return answer.status_code, answer.text

    assert whoami(basic("alice"))[0] == 200
    assert disabled("alice", True) == 303
    assert alice.get("/ui/account", follow_redirects=False).status_code == 303  # session ended
    refused = whoami(basic("alice"))
    assert refused == whoami(basic("alice", "a-wrong-password")) and refused[0] == 401
    assert whoami({"Authorization": f"Bearer {token}"})[0] == 401
    fresh = TestClient(root.app)
    page = CSRF.search(fresh.get("/ui/signin").text)
    assert page is not None
    answer = fresh.post("/ui/signin", data={"csrf": page[1], "name": "alice",
                                            "password": PASSWORD})  # fmt: skip
    assert answer.status_code == 401 and "Wrong user name or password." in answer.text
    assert "no (disabled)" in root.get("/ui/admin/users").text
    users = root.get("/api/v1/users", headers=basic("root")).json()
    assert [u["disabled"] for u in users if u["name"] == "alice"] == [True]

    # The access state carries it: an import into an empty catalog keeps alice disabled.
    document = access_document(index.catalog.access())
    assert [u.get("disabled") for u in document["users"] if u["name"] == "alice"] == [True]
    assert all("disabled" not in u for u in document["users"] if u["name"] != "alice")
    other = open_catalog(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    import_access(other, document)
    assert other.user("alice").disabled and not other.user("bob").disabled  # type: ignore[union-attr]
    other.close()

    assert disabled("alice", False) == 303
    assert whoami(basic("alice"))[0] == 200
    assert whoami({"Authorization": f"Bearer {token}"})[0] == 200
    assert disabled("root", True) == 400  # the last enabled administrator
    actions = [(e.action, e.target) for e in index.admin().audit()
               if e.action in ("enable user", "disable user")]  # fmt: skip
    assert actions == [("enable user", "alice"), ("disable user", "alice")]
