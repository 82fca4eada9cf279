"""AdminClient against a faked admin API (``responses``): requests as the contract writes
them, answers parsed, every failure one line naming the URL and never the credentials."""

from __future__ import annotations

import base64
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import requests
import responses
from responses import matchers

from pubkit.adapters.admin_client import (
    AdminAuth,
    AdminClient,
    AdminServerError,
    auth_from_environment,
)
from pubkit.core.accounts import AuditEntry, Group, ProjectInfo, RoleGrant, Token, UserInfo
from pubkit.errors import (
    AlreadyExistsError,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    PermissionDeniedError,
    PubkitError,
    RateLimitedError,
    UsageError,
)
from tests.cli_support import run_cli
from tests.unit.test_public_api import SERVER_EXTRA

URL = "https://index.test:8443/"
API = URL + "api/v1"
SECRET_TOKEN = "pubkit_0123456789abcdef_" + "S" * 43
PASSWORD = "the-admin-password"
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
TOKEN = Token(
    "0123456789abcdef",
    "alice",
    "upload",
    ("demo",),
    "CI",
    NOW,
    NOW + timedelta(days=30),
    None,
    None,
)


@pytest.fixture
def api() -> Any:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


def client(auth: AdminAuth | None = None, **options: Any) -> AdminClient:
    return AdminClient(URL, auth or AdminAuth.basic("root", PASSWORD), **options)


def caught(call: Any) -> PubkitError:
    with pytest.raises(PubkitError) as raised:
        call()
    error = raised.value
    assert "\n" not in str(error)
    assert PASSWORD not in str(error) and SECRET_TOKEN not in str(error)
    return error


# -- credentials ---------------------------------------------------------------------------


def test_a_token_is_sent_as_bearer_and_a_password_as_basic(api: Any) -> None:
    api.get(
        API + "/users",
        json=[],
        match=[matchers.header_matcher({"Authorization": f"Bearer {SECRET_TOKEN}"})],
    )
    basic = base64.b64encode(f"root:{PASSWORD}".encode()).decode()
    api.get(
        API + "/groups",
        json=[],
        match=[matchers.header_matcher({"Authorization": f"Basic {basic}"})],
    )
    env_token = {"PUBKIT_ADMIN_TOKEN": SECRET_TOKEN, "PUBKIT_ADMIN_USERNAME": "ignored"}
    assert AdminClient.from_environment(URL, env_token).users() == []
    env_basic = {"PUBKIT_ADMIN_USERNAME": "root", "PUBKIT_ADMIN_PASSWORD": PASSWORD}
    assert AdminClient.from_environment(URL, env_basic).groups() == []


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {},
            "--server needs admin credentials: set PUBKIT_ADMIN_TOKEN, or"
            " PUBKIT_ADMIN_USERNAME and PUBKIT_ADMIN_PASSWORD",
        ),
        ({"PUBKIT_ADMIN_USERNAME": "root"}, "PUBKIT_ADMIN_PASSWORD is not set"),
        ({"PUBKIT_ADMIN_PASSWORD": PASSWORD}, "PUBKIT_ADMIN_USERNAME is not set"),
        ({"PUBKIT_ADMIN_TOKEN": "  "}, "--server needs admin credentials"),
        ({"PUBKIT_ADMIN_TOKEN": "pubkit_é"}, "PUBKIT_ADMIN_TOKEN holds characters no token has"),
    ],
)
def test_missing_credentials_say_which_variables_to_set(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        auth_from_environment(environ)
    assert str(raised.value).startswith(message)
    assert PASSWORD not in str(raised.value)


def test_credentials_never_show_in_repr() -> None:
    for auth in (AdminAuth.bearer(SECRET_TOKEN), AdminAuth.basic("root", PASSWORD)):
        assert SECRET_TOKEN not in repr(auth) and PASSWORD not in repr(auth)
    assert "root" in repr(AdminAuth.basic("root", PASSWORD))


@pytest.mark.parametrize("url", ["index.test", "ftp://index.test/", "http://"])
def test_a_server_url_must_be_http(url: str) -> None:
    with pytest.raises(ConfigurationError, match="must be http:// or https://"):
        AdminClient(url, AdminAuth.bearer(SECRET_TOKEN))


# -- requests as the contract writes them ---------------------------------------------------


def test_users(api: Any) -> None:
    alice = UserInfo("alice", False, NOW, ("dev",))
    api.get(API + "/users", json=[alice.to_json()])
    api.post(
        API + "/users",
        status=201,
        json=UserInfo("bob", True, NOW).to_json(),
        match=[
            matchers.json_params_matcher({"name": "bob", "password": "bob-password", "admin": True})
        ],
    )
    api.delete(API + "/users/bob", status=204)
    api.put(
        API + "/users/a%20b/password",
        status=204,
        match=[matchers.json_params_matcher({"password": "new-password"})],
    )
    admin = client()
    assert admin.users() == [alice]
    assert admin.add_user("bob", "bob-password", True) == UserInfo("bob", True, NOW)
    admin.remove_user("bob")
    admin.set_password("a b", "new-password")


def test_groups(api: Any) -> None:
    group = Group("dev", NOW, ("alice",))
    api.get(API + "/groups", json=[group.to_json()])
    api.post(
        API + "/groups",
        status=201,
        json=Group("dev", NOW).to_json(),
        match=[matchers.json_params_matcher({"name": "dev"})],
    )
    api.put(API + "/groups/dev/members/alice", status=204)
    api.delete(API + "/groups/dev/members/alice", status=204)
    api.delete(API + "/groups/dev", status=204)
    admin = client()
    assert admin.groups() == [group]
    assert admin.add_group("@dev") == Group("dev", NOW)  # the @ is the CLI's spelling
    admin.add_member("@dev", "alice")
    admin.remove_member("dev", "alice")
    admin.remove_group("@dev")


def test_tokens(api: Any) -> None:
    api.get(
        API + "/tokens",
        json=[TOKEN.to_json()],
        match=[matchers.query_param_matcher({"user": "alice"})],
    )
    api.post(
        API + "/tokens",
        status=201,
        json={"token": TOKEN.to_json(), "secret": SECRET_TOKEN},
        match=[
            matchers.json_params_matcher(
                {
                    "user": "alice",
                    "permission": "upload",
                    "projects": ["demo"],
                    "expires_in": 30 * 86400,
                    "description": "CI",
                }
            )
        ],
    )
    api.post(
        API + "/tokens",
        status=201,
        json={"token": TOKEN.to_json(), "secret": SECRET_TOKEN},
        match=[matchers.json_params_matcher({"user": "bob", "permission": "read"})],
    )
    revoked = Token(**{**vars(TOKEN), "revoked": NOW})
    api.delete(API + "/tokens/0123456789abcdef", json=revoked.to_json())
    api.delete(API + "/tokens/0123456789abcdef", json=revoked.to_json())
    admin = client()
    assert admin.tokens("alice") == [TOKEN]
    assert admin.create_token("alice", ("demo",), "upload", timedelta(days=30), "CI") == (
        TOKEN,
        SECRET_TOKEN,
    )
    admin.create_token("bob", permission="read")
    # By id, or by the token itself: only the id travels, never the secret.
    assert admin.revoke_token("0123456789abcdef") == revoked
    assert admin.revoke_token(f" {SECRET_TOKEN}\n") == revoked
    assert all(SECRET_TOKEN not in call.request.url for call in api.calls)


@pytest.mark.parametrize("value", ["pubkit_0123_short", "x" * 30, "../users", ""])
def test_what_is_neither_a_token_nor_an_id_is_not_sent(api: Any, value: str) -> None:
    error = caught(lambda: client().revoke_token(value))
    assert isinstance(error, NotFoundError) and "`pubkit token list` shows the ids" in str(error)
    if value:
        assert value not in str(error)
    assert len(api.calls) == 0


def test_projects_roles_and_releases(api: Any) -> None:
    info = ProjectInfo(
        "acme-core",
        True,
        (RoleGrant("acme-core", "alice", "owner"), RoleGrant("acme-core", "@dev", "reader")),
    )
    api.get(API + "/projects/Acme_Core", json=info.to_json())
    api.put(
        API + "/projects/acme-core/roles/%40dev",
        status=204,
        match=[matchers.json_params_matcher({"role": "reader"})],
    )
    api.delete(API + "/projects/acme-core/roles/%40dev/reader", status=204)
    api.put(
        API + "/projects/acme-core/visibility",
        status=204,
        match=[matchers.json_params_matcher({"private": True})],
    )
    api.post(
        API + "/projects/acme-core/releases/1.0%2Blocal/yank",
        json={"files": 2},
        match=[matchers.json_params_matcher({"reason": "broken"})],
    )
    api.post(
        API + "/projects/acme-core/releases/1.0/yank",
        json={"files": 1},
        match=[matchers.json_params_matcher({})],
    )
    api.post(API + "/projects/acme-core/releases/1.0/unyank", json={"files": 1})
    api.delete(API + "/projects/acme-core/releases/1.0", json={"files": 3})
    admin = client()
    assert admin.project("Acme_Core") == info
    admin.grant("acme-core", "@dev", "reader")
    admin.revoke("acme-core", "@dev", "reader")
    admin.set_private("acme-core", True)
    assert admin.yank("acme-core", "1.0+local", "broken") == 2
    assert admin.yank("acme-core", "1.0", None) == 1
    assert admin.yank("acme-core", "1.0", None, yanked=False) == 1
    assert admin.delete_release("acme-core", "1.0") == 3


def test_audit(api: Any) -> None:
    entry = AuditEntry(7, NOW, "root", "127.0.0.1", "add user", "bob", {"admin": False})
    api.get(
        API + "/audit", json=[entry.to_json()], match=[matchers.query_param_matcher({"limit": "5"})]
    )
    assert client().audit(5) == [entry]


def test_a_url_without_its_slash_and_with_a_path_prefix(api: Any) -> None:
    api.get("https://example.test/pypi/api/v1/users", json=[])
    assert AdminClient("https://example.test/pypi", AdminAuth.bearer(SECRET_TOKEN)).users() == []


# -- answers mapped to our errors ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, UsageError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, AlreadyExistsError),
        (429, RateLimitedError),
    ],
)
def test_refusals_become_our_errors_with_the_servers_message(
    api: Any, status: int, kind: type[PubkitError]
) -> None:
    api.post(
        API + "/users",
        status=status,
        json={"error": "what went wrong; what to do"},
        headers={"Retry-After": "17"} if status == 429 else {},
    )
    error = caught(lambda: client().add_user("bob", PASSWORD))
    assert type(error) is kind
    assert str(error).startswith("what went wrong; what to do")
    if isinstance(error, RateLimitedError):
        assert error.retry_after == 17


def test_a_refused_sign_in_names_where_the_credentials_came_from(api: Any) -> None:
    api.get(
        API + "/users",
        status=401,
        json={"error": "invalid user name or password"},
        headers={"WWW-Authenticate": 'Basic realm="pubkit"'},
    )
    api.get(API + "/users", status=401, body="Unauthorized")
    error = caught(lambda: client(AdminAuth.basic("root", PASSWORD)).users())
    assert str(error) == (
        f"invalid user name or password (401 from {URL}); check PUBKIT_ADMIN_USERNAME and"
        " PUBKIT_ADMIN_PASSWORD"
    )
    error = caught(lambda: client(AdminAuth.bearer(SECRET_TOKEN)).users())
    assert isinstance(error, AuthenticationError)
    assert str(error).endswith("check PUBKIT_ADMIN_TOKEN")


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (
            {"status": 503, "json": {"error": "the catalog is unavailable; retry"}},
            f"the pubkit server at {URL} answered 503: the catalog is unavailable; retry; retry"
            " later; if it persists, check the server's log",
        ),
        (
            {"status": 502, "body": "<html>Bad Gateway</html>", "content_type": "text/html"},
            f"the pubkit server at {URL} answered 502; retry later; if it persists, check the"
            " server's log",
        ),
        (
            {"status": 500, "body": "Internal Server Error"},
            f"the pubkit server at {URL} answered 500; retry later",
        ),
        (
            {"status": 404, "body": "Not Found"},
            f"{URL} has no pubkit admin API (404 for /api/v1); --server must be the root URL",
        ),
        (
            {"status": 200, "body": "<html>hello</html>", "content_type": "text/html"},
            f"{URL} answered 200 without the admin API's JSON",
        ),
        (
            {"status": 200, "body": "{not json", "content_type": "application/json"},
            f"{URL} answered 200 without the admin API's JSON",
        ),
        (
            {"status": 200, "json": {"unexpected": "shape"}},
            f"the pubkit server at {URL} sent users this client does not understand",
        ),
        (
            {"status": 200, "json": [{"name": "alice"}]},
            f"the pubkit server at {URL} sent users this client does not understand",
        ),
        (
            {"status": 302, "headers": {"Location": "https://index.test/api/v1/users"}},
            f"{URL} redirects the admin API (302 to https://index.test/api/v1/users); pass the"
            " URL it redirects to as --server",
        ),
        (
            {"status": 405, "body": ""},
            f"the pubkit server at {URL} answered 405; check that --server is a pubkit server",
        ),
        (
            {"body": requests.ConnectionError("[Errno 111] Connection refused")},
            f"could not connect to the pubkit server at {URL}; check --server (or"
            " PUBKIT_SERVER_URL) and that the server is running",
        ),
        (
            {"body": requests.ReadTimeout("read timed out")},
            f"the pubkit server at {URL} did not answer within 60s; check that it is up",
        ),
        (
            {"body": requests.exceptions.SSLError("certificate verify failed")},
            f"could not verify the TLS certificate of {URL}; check the URL, or point"
            " REQUESTS_CA_BUNDLE",
        ),
        (
            {"body": requests.ConnectTimeout("connect timed out")},
            f"could not connect to the pubkit server at {URL} within 10s",
        ),
        (
            {"body": requests.exceptions.ChunkedEncodingError("broken")},
            f"could not ask the pubkit server at {URL} (ChunkedEncodingError)",
        ),
    ],
)
def test_failures_are_one_line_naming_the_url(
    api: Any, answer: dict[str, Any], expected: str
) -> None:
    api.get(API + "/users", **answer)
    error = caught(lambda: client().users())
    assert isinstance(error, AdminServerError)
    assert str(error).startswith(expected), str(error)


def test_a_long_multi_line_server_message_becomes_one_line(api: Any) -> None:
    api.get(API + "/users", status=400, json={"error": "first\nsecond  " + "x" * 1000})
    error = caught(lambda: client().users())
    assert str(error).startswith("first second xxx") and len(str(error)) <= 500


def test_credentials_in_the_url_are_never_shown(api: Any) -> None:
    api.get("http://root:url-secret@index.test:8080/api/v1/users", status=503, body="down")
    error = caught(
        lambda: AdminClient(
            "http://root:url-secret@index.test:8080/", AdminAuth.bearer(SECRET_TOKEN)
        ).users()
    )
    assert "url-secret" not in str(error) and "http://root:***@index.test:8080/" in str(error)


def test_every_request_has_a_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def request(*args: Any, **kwargs: Any) -> requests.Response:
        seen.append(kwargs.get("timeout"))
        response = requests.Response()
        response.status_code = 204
        return response

    admin = client(timeout=5)
    monkeypatch.setattr(admin.session, "request", request)
    admin.remove_user("bob")
    admin.set_private("demo", False)
    assert seen == [(10.0, 5), (10.0, 5)]


# -- the CLI on --server -------------------------------------------------------------------




@pytest.fixture
def admin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "PUBKIT_SERVER_URL",
        "PUBKIT_ADMIN_USERNAME",
        "PUBKIT_ADMIN_PASSWORD",
        "PUBKIT_DATA_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PUBKIT_ADMIN_TOKEN", SECRET_TOKEN)


@pytest.mark.usefixtures("admin_env")
def test_the_cli_goes_through_the_client(
    api: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    info = ProjectInfo(
        "acme", False, (RoleGrant("acme", "@dev", "reader"), RoleGrant("acme", "alice", "owner"))
    )
    api.get(API + "/projects/acme", json=info.to_json())
    api.post(API + "/tokens", status=201, json={"token": TOKEN.to_json(), "secret": SECRET_TOKEN})
    api.post(
        API + "/users",
        status=201,
        json=UserInfo("bob", False, NOW).to_json(),
        match=[
            matchers.json_params_matcher(
                {"name": "bob", "password": "bob-password", "admin": False}
            )
        ],
    )
    assert run_cli(monkeypatch, capsys, "role", "list", "acme", "--server", URL) == (
        0,
        "alice\towner\n@dev\treader\n",
        "",
    )
    code, out, err = run_cli(
        monkeypatch,
        capsys,
        "token",
        "create",
        "--user",
        "alice",
        "--expires",
        "30d",
        "--server",
        URL,
    )
    assert (code, out) == (0, SECRET_TOKEN + "\n") and SECRET_TOKEN not in err
    assert err.startswith("created token 0123456789abcdef for alice: upload, demo")
    monkeypatch.setenv("PUBKIT_SERVER_URL", URL)  # the variable instead of the option
    assert run_cli(
        monkeypatch, capsys, "user", "add", "bob", "--password-stdin", stdin="bob-password\n"
    )[:2] == (0, "added user bob\n")


@pytest.mark.usefixtures("admin_env")
@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (
            ["user", "list", "--server", URL, "--data-dir", "d"],
            {},
            "error: --server works on a running server and --data-dir on local data: pass one or"
            " the other\n",
        ),
        (
            ["audit", "--data-dir", "d", "--catalog", "sqlite:///x"],
            {"PUBKIT_SERVER_URL": URL},
            "error: PUBKIT_SERVER_URL works on a running server and --data-dir, --catalog on local"
            " data: pass one or the other\n",
        ),
        (
            ["group", "list", "--server", URL],
            {"PUBKIT_ADMIN_TOKEN": ""},
            "error: --server needs admin credentials: set PUBKIT_ADMIN_TOKEN, or"
            " PUBKIT_ADMIN_USERNAME and PUBKIT_ADMIN_PASSWORD\n",
        ),
        (
            ["token", "create", "--user", "a", "--expires", "30y", "--server", URL],
            {},
            "error: --expires '30y': use a positive count of h, d or w, e.g. 30d\n",
        ),
        (
            ["delete", "acme", "1.0", "--server", URL],
            {},
            "error: deleting acme 1.0 cannot be undone; pass --yes to confirm (or `pubkit yank`"
            " it instead)\n",
        ),
    ],
)
def test_cli_usage_errors_on_server(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    env: dict[str, str],
    message: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert run_cli(monkeypatch, capsys, *argv) == (2, "", message)


# -- `pip install pubkit` without extras ---------------------------------------------------


def _cli_with_a_fake_server(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI as a plain `pip install pubkit` has it (no server dependency importable), with
    the admin API faked by ``responses`` inside the process: no socket."""
    blocked = ", ".join(repr(name) for name in (*SERVER_EXTRA, "pubkit.server"))
    user = UserInfo("alice", True, NOW).to_json()
    code = (
        f"import sys\nfor name in ({blocked},): sys.modules[name] = None\n"
        "import responses\nresponses.start()\n"
        f"responses.get({API + '/users'!r}, json=[{user!r}])\n"
        f"responses.get({API + '/groups'!r}, status=403,"
        " json={'error': 'only administrators may list groups'})\n"
        "from pubkit.cli import main\n"
        "try:\n    main(sys.argv[1:])\n"
        "finally:\n"
        f"    assert not [m for m in {SERVER_EXTRA!r} if sys.modules.get(m)], 'imported'\n"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "PUBKIT_ADMIN_USERNAME": "root",
        "PUBKIT_ADMIN_PASSWORD": PASSWORD,
    }
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
    )


def test_server_commands_need_no_server_extra() -> None:
    listed = _cli_with_a_fake_server("user", "list", "--server", URL)
    assert (listed.returncode, listed.stdout, listed.stderr) == (
        0,
        f"alice\tadmin\t{NOW.isoformat()}\n",
        "",
    )
    refused = _cli_with_a_fake_server("group", "list", "--server", URL)
    assert (refused.returncode, refused.stderr) == (
        1,
        "error: only administrators may list groups\n",
    )
    for command in (
        ["audit"],
        ["yank"],
        ["unyank"],
        ["delete"],
        ["group", "add-member"],
        ["project", "show"],
        ["role", "grant"],
        ["user", "passwd"],
        ["token", "revoke"],
    ):
        shown = _cli_with_a_fake_server(*command, "--help")
        assert shown.returncode == 0 and "--server" in shown.stdout, shown.stderr


@pytest.mark.usefixtures("admin_env")
@pytest.mark.parametrize(
    ("url", "warned"),
    [("http://pypi.example.com/", True), ("https://pypi.example.com/", False),
     ("http://127.0.0.1:8080/", False), ("http://localhost/", False)],
)  # fmt: skip
def test_plain_http_to_another_machine_is_warned_about(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, warned: bool
) -> None:
    with responses.RequestsMock() as mocked:
        mocked.get(url.rstrip("/") + "/api/v1/projects/acme",
                   json=ProjectInfo("acme", False, ()).to_json())  # fmt: skip
        code, _out, err = run_cli(monkeypatch, capsys, "role", "list", "acme", "--server", url)
    assert code == 0
    assert ("credentials cross the network readable; use https" in err) == warned
    assert SECRET_TOKEN not in err
