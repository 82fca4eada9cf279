"""The admin HTTP API (docs/admin-api-contract.md), in-process: every endpoint's success and
refusals, the self-service rules, the audit trail, odd input, and every answer checked
against the OpenAPI document the server serves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from pubkit.errors import CatalogError
from pubkit.server.api import ENDPOINTS, openapi_document
from pubkit.server.auth.policy import (
    Policy,
    administers,
    decide_password_change,
    decide_token_creation,
    decide_token_listing,
    decide_token_revocation,
)
from pubkit.server.auth.tokens import Principal
from pubkit.testing import make_wheel
from tests.server.conftest import PASSWORD, Index, basic

API = "/api/v1"
DOCUMENT = openapi_document()
NEW_PASSWORD = "another-long-password"


# -- helpers -------------------------------------------------------------------------------


def conforms(method: str, template: str, response: httpx.Response) -> None:
    """The answer is one the document lists for this operation, with a body matching it."""
    jsonschema = pytest.importorskip("jsonschema")
    operation = DOCUMENT["paths"][template][method.lower()]
    documented = operation["responses"]
    status = str(response.status_code)
    assert status in documented, f"{method} {template} answered undocumented {status}"
    answer = documented[status]
    if "$ref" in answer:
        answer = DOCUMENT["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    if "content" not in answer:
        assert response.content == b"", response.content
        return
    assert response.headers["content-type"] == "application/json"
    schema = {**answer["content"]["application/json"]["schema"],
              "components": DOCUMENT["components"]}  # fmt: skip
    jsonschema.Draft202012Validator(schema).validate(response.json())
    for name in answer.get("headers", {}):
        assert name.lower() in response.headers, f"{status} lacks {name}"


def api(
    index: Index,
    method: str,
    template: str,
    who: str | None = "root",
    *,
    password: str = PASSWORD,
    token: str | None = None,
    json_body: Any = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    **path: str,
) -> httpx.Response:
    """One API call as ``who`` (or with ``token``), checked against the document."""
    sent = dict(headers or {})
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    elif who is not None:
        sent.update(basic(who, password))
    url = API + template.format(**{key: quote(value, safe="@") for key, value in path.items()})
    response = index.client.request(method, url, headers=sent, json=json_body, content=content,
                                    params=params)  # fmt: skip
    conforms(method, template, response)
    return response


def error_of(response: httpx.Response) -> str:
    message: str = response.json()["error"]
    assert message and "\n" not in message
    return message


def token_of(index: Index, user: str, **options: Any) -> str:
    return index.admin().create_token(user, **options)[1]


def audit_entries(index: Index) -> list[tuple[str, str, str | None, str | None]]:
    return [(e.action, e.target, e.actor, e.address) for e in index.catalog.audit_entries(1000)]


@pytest.fixture
def project(index: Index, dist_dir: Path) -> str:
    """``proj`` 1.0, uploaded by alice (its owner)."""
    assert index.upload(make_wheel(dist_dir, "proj", "1.0"), user="alice").status_code == 200
    return "proj"


# -- the document --------------------------------------------------------------------------


def test_the_document_is_served_to_anyone_and_is_valid_openapi_3_1(index: Index) -> None:
    response = index.client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document == json.loads(json.dumps(DOCUMENT))
    assert document["openapi"] == "3.1.0"
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)


def test_the_contract_page_lists_every_operation_of_the_document() -> None:
    """docs/admin-api-contract.md's table has a row per operation, and the upstream status's
    fields there are the schema's."""
    page = (Path(__file__).parents[2] / "docs" / "admin-api-contract.md").read_text()
    rows = set(re.findall(r"^\| (GET|POST|PUT|DELETE) \| /api/v1(/[^ \[|]*)", page, re.M))
    operations = {(method.upper(), path) for path, item in DOCUMENT["paths"].items()
                  for method in item}  # fmt: skip
    assert rows == operations
    status = DOCUMENT["components"]["schemas"]["UpstreamStatus"]
    for field in status["required"]:
        assert f'"{field}":' in page, field
    counted = status["properties"]["counted"]
    for field in [*counted["required"], *counted["properties"]["workers"]["items"]["required"]]:
        assert f'"{field}":' in page, field


def test_the_document_describes_every_endpoint_and_its_errors() -> None:
    operations = {(method.upper(), path) for path, item in DOCUMENT["paths"].items()
                  for method in item}  # fmt: skip
    contract = {
        ("GET", "/openapi.json"), ("GET", "/whoami"), ("GET", "/users"), ("POST", "/users"),
        ("DELETE", "/users/{name}"), ("PUT", "/users/{name}/password"),
        ("PUT", "/users/{name}/admin"), ("PUT", "/users/{name}/disabled"), ("GET", "/groups"),
        ("POST", "/groups"), ("DELETE", "/groups/{name}"),
        ("PUT", "/groups/{name}/members/{user}"), ("DELETE", "/groups/{name}/members/{user}"),
        ("GET", "/tokens"), ("POST", "/tokens"), ("DELETE", "/tokens/{id}"),
        ("GET", "/projects"), ("GET", "/projects/{project}"),
        ("PUT", "/projects/{project}/roles/{holder}"),
        ("DELETE", "/projects/{project}/roles/{holder}/{role}"),
        ("PUT", "/projects/{project}/visibility"), ("PUT", "/projects/{project}/upstream"),
        ("POST", "/projects/{project}/releases/{version}/yank"),
        ("POST", "/projects/{project}/releases/{version}/unyank"),
        ("DELETE", "/projects/{project}/releases/{version}"), ("POST", "/prune"),
        ("GET", "/upstream"), ("POST", "/upstream/prune"),
        ("GET", "/audit"),
    }  # fmt: skip
    assert operations == contract == {(e.method, e.path) for e in ENDPOINTS}
    assert DOCUMENT["servers"] == [{"url": API}]
    components = DOCUMENT["components"]
    for name in ("UserInfo", "Group", "Token", "RoleGrant", "ProjectInfo", "AuditEntry", "Error"):
        assert components["schemas"][name]["type"] == "object"
    assert components["securitySchemes"] == {
        "basic": {"type": "http", "scheme": "basic", "description": ANY},
        "bearer": {"type": "http", "scheme": "bearer", "description": ANY},
    }
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            statuses = set(operation["responses"])
            if path == "/openapi.json":
                assert operation["security"] == [] and statuses == {"200"}
                continue
            assert {"401", "429", "503"} <= statuses, (method, path)
            if path != "/whoami":
                assert "403" in statuses, (method, path)
            if "{" in path:
                assert {"400", "404"} <= statuses, (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= statuses, (method, path)
                body = operation["requestBody"]["content"]["application/json"]["schema"]
                assert body["additionalProperties"] is False
    assert DOCUMENT["paths"]["/users"]["post"]["responses"].keys() >= {"201", "409"}
    assert DOCUMENT["paths"]["/groups"]["post"]["responses"].keys() >= {"201", "409"}
    unauthorized = components["responses"]["Unauthorized"]
    assert "WWW-Authenticate" in unauthorized["headers"]
    assert "Retry-After" in components["responses"]["TooManyRequests"]["headers"]


class _Any:
    def __eq__(self, other: object) -> bool:
        return True


ANY = _Any()


# -- whoami --------------------------------------------------------------------------------


def test_whoami(index: Index) -> None:
    anonymous = api(index, "GET", "/whoami", None)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith('Basic realm="pubkit"')
    assert "credentials" in error_of(anonymous)
    assert api(index, "GET", "/whoami", "alice").json() == {"user": "alice", "admin": False,
                                                            "token": None}  # fmt: skip
    assert api(index, "GET", "/whoami").json()["admin"] is True
    read = token_of(index, "root", permission="read")
    answer = api(index, "GET", "/whoami", token=read).json()
    assert answer["user"] == "root" and answer["admin"] is False
    assert answer["token"]["permission"] == "read"
    wrong = api(index, "GET", "/whoami", "alice", password="wrong-password")
    assert wrong.status_code == 401 and "www-authenticate" in wrong.headers


# -- users ---------------------------------------------------------------------------------


def test_users_are_listed_added_and_removed_by_admins(index: Index) -> None:
    listed = api(index, "GET", "/users").json()
    assert [user["name"] for user in listed] == ["alice", "bob", "root"]
    added = api(index, "POST", "/users", json_body={"name": "carol", "password": PASSWORD})
    assert added.status_code == 201
    assert added.json() == {"name": "carol", "admin": False, "created": ANY, "groups": [],
                            "disabled": False}
    assert api(index, "GET", "/whoami", "carol").status_code == 200
    admin = api(index, "POST", "/users",
                json_body={"name": "dave", "password": PASSWORD, "admin": True})  # fmt: skip
    assert admin.json()["admin"] is True
    duplicate = api(index, "POST", "/users", json_body={"name": "carol", "password": PASSWORD})
    assert duplicate.status_code == 409 and "already exists" in error_of(duplicate)
    assert api(index, "DELETE", "/users/{name}", name="carol").status_code == 204
    assert api(index, "GET", "/whoami", "carol").status_code == 401
    gone = api(index, "DELETE", "/users/{name}", name="carol")
    assert gone.status_code == 404 and "no user 'carol'" in error_of(gone)


def test_only_admins_manage_users(index: Index) -> None:
    body = {"name": "carol", "password": PASSWORD}
    for user, status in ((None, 401), ("alice", 403)):
        assert api(index, "GET", "/users", user).status_code == status
        assert api(index, "POST", "/users", user, json_body=body).status_code == status
        assert api(index, "DELETE", "/users/{name}", user, name="bob").status_code == status
    assert "alice is not an administrator" in error_of(api(index, "GET", "/users", "alice"))
    assert index.catalog.user("bob") is not None and index.catalog.user("carol") is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "carol"}, "lacks the field 'password'"),
        ({"name": "carol", "password": "short"}, "shorter than 8 characters"),
        ({"name": "carol", "password": 12345678}, "'password' must be a string"),
        ({"name": "carol", "password": PASSWORD, "admin": "yes"}, "must be true or false"),
        ({"name": "carol", "password": PASSWORD, "is_admin": True}, "unknown field 'is_admin'"),
        ({"name": "a:b", "password": PASSWORD}, "is not valid"),
        ({"name": "@team", "password": PASSWORD}, "is not valid"),
        ({"name": "x" * 101, "password": PASSWORD}, "longer than 100"),
        ({"name": "__token__", "password": PASSWORD}, "reserved"),
        ({"name": "tab\tname", "password": PASSWORD}, "is not valid ('tab\\tname')"),
        ({"name": "\u200bname", "password": PASSWORD}, "invalid user name"),
        ({"name": "carol", "password": "nul\x00password"}, "contains a NUL character"),
        (["carol"], "the body must be an object"),
    ],
)
def test_bad_user_bodies_are_refused(index: Index, body: Any, message: str) -> None:
    response = api(index, "POST", "/users", json_body=body)
    assert response.status_code == 400
    assert message in error_of(response)


@pytest.mark.parametrize(
    ("content", "content_type", "message"),
    [
        (b"{", "application/json", "not valid JSON"),
        (b"", "application/json", "needs a JSON body"),
        (b'{"name": "carol", "password": NaN}', "application/json", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", "larger than"),
        (b"[" * 30_000 + b"]" * 30_000, "application/json", "not valid JSON"),
        (b'{"name": "carol", "password": "1' + b"1" * 5000 + b'"}', "text/plain", "as JSON"),
        (b'{"name": "\\ud800carol", "password": "a-long-password"}', "application/json",
         "not valid Unicode"),
        (b'{"name": "carol", "password": "a-long-password"}', "", "as JSON"),
        (b"\xff\xfe{}", "application/json", "not valid JSON"),
    ],
)  # fmt: skip
def test_malformed_bodies_are_refused(
    index: Index, content: bytes, content_type: str, message: str
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = api(index, "POST", "/users", content=content, headers=headers)
    # A Content-Type other than JSON (what a form sends) is 415 (finding 8).
    assert response.status_code in (400, 413, 415), response.text
    assert (response.status_code == 415) == (content_type != "application/json")
    assert message in error_of(response)
    assert index.catalog.user("carol") is None


def test_passwords_admins_set_anyones_users_their_own_with_their_password(index: Index) -> None:
    body = {"password": NEW_PASSWORD}
    assert (
        api(index, "PUT", "/users/{name}/password", json_body=body, name="bob").status_code == 204
    )
    assert api(index, "GET", "/whoami", "bob").status_code == 401
    assert api(index, "GET", "/whoami", "bob", password=NEW_PASSWORD).status_code == 200
    own = api(index, "PUT", "/users/{name}/password", "alice", json_body=body, name="alice")
    assert own.status_code == 204
    assert api(index, "GET", "/whoami", "alice", password=NEW_PASSWORD).status_code == 200
    others = api(index, "PUT", "/users/{name}/password", "alice", password=NEW_PASSWORD,
                 json_body={"password": PASSWORD}, name="bob")  # fmt: skip
    assert others.status_code == 403 and "only their own password" in error_of(others)
    # A token, even the user's own upload token, cannot take over the account.
    token = token_of(index, "alice")
    with_token = api(index, "PUT", "/users/{name}/password", token=token,
                     json_body={"password": PASSWORD}, name="alice")  # fmt: skip
    assert with_token.status_code == 403 and "sign in with your password" in error_of(with_token)
    assert api(index, "PUT", "/users/{name}/password", None, json_body=body,
               name="alice").status_code == 401  # fmt: skip
    # An admin's unscoped upload token administers.
    root_token = token_of(index, "root")
    assert api(index, "PUT", "/users/{name}/password", token=root_token,
               json_body={"password": PASSWORD}, name="alice").status_code == 204  # fmt: skip
    missing = api(index, "PUT", "/users/{name}/password", json_body=body, name="carol")
    assert missing.status_code == 404
    weak = api(index, "PUT", "/users/{name}/password", json_body={"password": "x"}, name="bob")
    assert weak.status_code == 400


# -- groups --------------------------------------------------------------------------------


def test_groups_and_members(index: Index) -> None:
    created = api(index, "POST", "/groups", json_body={"name": "devs"})
    assert created.status_code == 201
    assert created.json() == {"name": "devs", "created": ANY, "members": []}
    assert api(index, "POST", "/groups", json_body={"name": "@devs"}).status_code == 409
    for _ in range(2):  # adding a member twice changes nothing
        assert api(index, "PUT", "/groups/{name}/members/{user}", name="devs",
                   user="alice").status_code == 204  # fmt: skip
    assert api(index, "PUT", "/groups/{name}/members/{user}", name="@devs",
               user="bob").status_code == 204  # fmt: skip
    assert api(index, "GET", "/groups").json() == [
        {"name": "devs", "created": ANY, "members": ["alice", "bob"]}
    ]
    users = {user["name"]: user["groups"] for user in api(index, "GET", "/users").json()}
    assert users == {"alice": ["devs"], "bob": ["devs"], "root": []}
    assert api(index, "DELETE", "/groups/{name}/members/{user}", name="devs",
               user="bob").status_code == 204  # fmt: skip
    not_member = api(index, "DELETE", "/groups/{name}/members/{user}", name="devs", user="bob")
    assert not_member.status_code == 404 and "not a member" in error_of(not_member)
    for name, user in (("nobody", "alice"), ("devs", "carol")):
        assert api(index, "PUT", "/groups/{name}/members/{user}", name=name,
                   user=user).status_code == 404  # fmt: skip
    assert api(index, "DELETE", "/groups/{name}", name="devs").status_code == 204
    assert api(index, "DELETE", "/groups/{name}", name="devs").status_code == 404
    assert api(index, "GET", "/groups").json() == []
    bad = api(index, "POST", "/groups", json_body={"name": "a/b"})
    assert bad.status_code == 400


def test_only_admins_manage_groups(index: Index) -> None:
    index.admin().add_group("devs")
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/groups", {}), ("POST", "/groups", {"json_body": {"name": "ops"}}),
        ("DELETE", "/groups/{name}", {"name": "devs"}),
        ("PUT", "/groups/{name}/members/{user}", {"name": "devs", "user": "alice"}),
        ("DELETE", "/groups/{name}/members/{user}", {"name": "devs", "user": "alice"}),
    ]  # fmt: skip
    for method, template, options in calls:
        assert api(index, method, template, None, **options).status_code == 401
        assert api(index, method, template, "alice", **options).status_code == 403
    assert [group.name for group in index.catalog.groups()] == ["devs"]


# -- tokens --------------------------------------------------------------------------------


def test_users_create_list_and_revoke_their_own_tokens(index: Index) -> None:
    created = api(index, "POST", "/tokens", "alice",
                  json_body={"projects": ["Proj_One", "proj.two"], "permission": "read",
                             "expires_in": 3600, "description": "CI"})  # fmt: skip
    assert created.status_code == 201
    token, secret = created.json()["token"], created.json()["secret"]
    assert secret.startswith(f"pubkit_{token['id']}_")
    assert token["user"] == "alice" and token["permission"] == "read"
    assert token["projects"] == ["proj-one", "proj-two"] and token["expires"] is not None
    assert api(index, "GET", "/whoami", token=secret).json()["user"] == "alice"
    default = api(index, "POST", "/tokens", "alice", json_body={}).json()["token"]
    assert default["permission"] == "upload" and default["projects"] is None
    assert default["expires"] is None
    index.admin().create_token("bob")
    mine = api(index, "GET", "/tokens", "alice").json()
    assert {t["id"] for t in mine} == {token["id"], default["id"]}
    assert api(index, "GET", "/tokens", "alice", params={"user": "alice"}).json() == mine
    assert api(index, "GET", "/tokens", token=secret).json() == mine  # a read token may GET
    others = api(index, "GET", "/tokens", "alice", params={"user": "bob"})
    assert others.status_code == 403 and "only their own tokens" in error_of(others)
    revoked = api(index, "DELETE", "/tokens/{id}", "alice", id=token["id"])
    assert revoked.status_code == 200 and revoked.json()["revoked"] is not None
    assert api(index, "GET", "/whoami", token=secret).status_code == 401
    again = api(index, "DELETE", "/tokens/{id}", "alice", id=token["id"])
    assert again.status_code == 200  # revoking twice: the token as it is


def test_token_self_service_rules(index: Index) -> None:
    upload = token_of(index, "alice")
    minted = api(index, "POST", "/tokens", token=upload, json_body={})
    assert minted.status_code == 403 and "sign in with your password" in error_of(minted)
    for_bob = api(index, "POST", "/tokens", "alice", json_body={"user": "bob"})
    assert for_bob.status_code == 403 and "only for themself" in error_of(for_bob)
    assert api(index, "POST", "/tokens", None, json_body={}).status_code == 401
    bobs = index.admin().create_token("bob")[0]
    assert api(index, "DELETE", "/tokens/{id}", "alice", id=bobs.id).status_code == 403
    read = token_of(index, "alice", permission="read")
    own = index.admin().create_token("alice")[0]
    refused = api(index, "DELETE", "/tokens/{id}", token=read, id=own.id)
    assert refused.status_code == 403 and "may only read" in error_of(refused)
    # An upload token may revoke its user's tokens (itself included).
    assert api(index, "DELETE", "/tokens/{id}", token=upload, id=own.id).status_code == 200
    assert api(index, "DELETE", "/tokens/{id}", None, id=own.id).status_code == 401
    unknown = api(index, "DELETE", "/tokens/{id}", "alice", id="0123456789abcdef")
    assert unknown.status_code == 404
    whole = api(index, "DELETE", "/tokens/{id}", "alice", id=read)
    assert whole.status_code == 400 and "never the token itself" in error_of(whole)
    assert api(index, "DELETE", "/tokens/{id}", "alice", id="xyz").status_code == 400


def test_admins_manage_everyones_tokens(index: Index) -> None:
    created = api(index, "POST", "/tokens", json_body={"user": "bob", "projects": ["proj"]})
    assert created.status_code == 201 and created.json()["token"]["user"] == "bob"
    index.admin().create_token("alice")
    assert len(api(index, "GET", "/tokens").json()) == 2  # everyone's
    assert [t["user"] for t in api(index, "GET", "/tokens", params={"user": "bob"}).json()] == [
        "bob"
    ]
    assert api(index, "GET", "/tokens", params={"user": "carol"}).status_code == 404
    assert api(index, "GET", "/tokens", params={"user": "a:b"}).status_code == 400
    assert api(index, "POST", "/tokens", json_body={"user": "carol"}).status_code == 404
    token_id = created.json()["token"]["id"]
    assert api(index, "DELETE", "/tokens/{id}", id=token_id).json()["revoked"] is not None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"permission": "admin"}, "must be one of read, upload"),
        ({"expires_in": 0}, "must be from 1"),
        ({"expires_in": 10**12}, "must be from 1"),
        ({"expires_in": True}, "must be an integer or null"),
        ({"expires_in": 1.5}, "must be an integer or null"),
        ({"expires_in": "30d"}, "must be an integer or null"),
        ({"projects": ["ok", "not a name"]}, "projects'[1]"),
        ({"projects": "proj"}, "must be a list"),
        ({"projects": ["p"] * 101}, "more than 100"),
        ({"description": "x" * 1001}, "longer than 1000"),
        ({"scope": ["proj"]}, "unknown field 'scope'"),
    ],
)
def test_bad_token_bodies_are_refused(index: Index, body: dict[str, Any], message: str) -> None:
    response = api(index, "POST", "/tokens", "alice", json_body=body)
    assert response.status_code == 400
    assert message in error_of(response)
    assert index.catalog.tokens() == []


def test_an_integral_number_is_an_integer(index: Index) -> None:
    response = api(index, "POST", "/tokens", "alice", json_body={"expires_in": 60.0})
    assert response.status_code == 201


# -- projects and roles --------------------------------------------------------------------


def test_owners_see_and_change_a_projects_roles(index: Index, project: str) -> None:
    shown = api(index, "GET", "/projects/{project}", "alice", project="Proj")
    owner = {"project": "proj", "holder": "alice", "role": "owner"}
    assert shown.json() == {"name": "proj", "private": False, "roles": [owner]}
    granted = api(index, "PUT", "/projects/{project}/roles/{holder}", "alice",
                  json_body={"role": "maintainer"}, project="PROJ", holder="bob")  # fmt: skip
    assert granted.status_code == 204
    assert index.catalog.project_roles("proj") == [("alice", "owner"), ("bob", "maintainer")]
    # A maintainer is not an owner: they may neither see the roles nor change them.
    assert api(index, "GET", "/projects/{project}", "bob", project=project).status_code == 403
    refused = api(index, "PUT", "/projects/{project}/roles/{holder}", "bob",
                  json_body={"role": "owner"}, project=project, holder="bob")  # fmt: skip
    assert refused.status_code == 403 and "not an owner" in error_of(refused)
    assert api(index, "DELETE", "/projects/{project}/roles/{holder}/{role}", "bob",
               project=project, holder="bob", role="maintainer").status_code == 403  # fmt: skip
    assert api(index, "DELETE", "/projects/{project}/roles/{holder}/{role}", "alice",
               project=project, holder="bob", role="maintainer").status_code == 204  # fmt: skip
    last = api(index, "DELETE", "/projects/{project}/roles/{holder}/{role}", "alice",
               project=project, holder="alice", role="owner")  # fmt: skip
    assert last.status_code == 400 and "last owner" in error_of(last)
    absent = api(index, "DELETE", "/projects/{project}/roles/{holder}/{role}", "alice",
                 project=project, holder="bob", role="reader")  # fmt: skip
    assert absent.status_code == 404
    assert api(index, "GET", "/projects/{project}", None, project=project).status_code == 401


def test_roles_for_groups(index: Index, project: str) -> None:
    index.admin().add_group("devs")
    index.admin().add_member("devs", "bob")
    granted = api(index, "PUT", "/projects/{project}/roles/{holder}", "alice",
                  json_body={"role": "owner"}, project=project, holder="@devs")  # fmt: skip
    assert granted.status_code == 204
    # bob owns the project through his group now.
    roles = api(index, "GET", "/projects/{project}", "bob", project=project).json()["roles"]
    assert {"project": "proj", "holder": "@devs", "role": "owner"} in roles
    assert api(index, "PUT", "/projects/{project}/roles/{holder}", "alice",
               json_body={"role": "owner"}, project=project,
               holder="@nobody").status_code == 404  # fmt: skip
    assert api(index, "DELETE", "/projects/{project}/roles/{holder}/{role}", "bob",
               project=project, holder="@devs", role="owner").status_code == 204  # fmt: skip


def test_role_requests_are_checked(index: Index, project: str) -> None:
    def grant(holder: str, body: Any) -> httpx.Response:
        return api(index, "PUT", "/projects/{project}/roles/{holder}", "alice", json_body=body,
                   project=project, holder=holder)  # fmt: skip

    assert "role" in error_of(grant("bob", {"role": "admin"}))
    assert grant("bob", {"role": "admin"}).status_code == 400
    assert grant("bob", {}).status_code == 400
    assert grant("carol", {"role": "reader"}).status_code == 404
    assert grant("a:b", {"role": "reader"}).status_code == 400
    unknown_role = api(index, "DELETE", "/projects/{project}/roles/{holder}/{role}", "alice",
                       project=project, holder="bob", role="king")  # fmt: skip
    assert unknown_role.status_code == 400 and "unknown" in error_of(unknown_role)
    bad_project = api(index, "GET", "/projects/{project}", "alice", project="-bad-")
    assert bad_project.status_code == 400 and "not a valid project name" in error_of(bad_project)


def test_a_new_project_can_be_created_only_by_an_admin(index: Index) -> None:
    for template, body, path in (
        ("/projects/{project}/visibility", {"private": True}, {}),
        ("/projects/{project}/roles/{holder}", {"role": "owner"}, {"holder": "alice"}),
    ):
        refused = api(index, "PUT", template, "alice", json_body=body, project="Fresh", **path)
        assert refused.status_code == 404
        assert index.catalog.project_roles("fresh") == []
        assert api(index, "PUT", template, json_body=body, project="Fresh",
                   **path).status_code == 204  # fmt: skip
    assert api(index, "GET", "/projects/{project}", project="fresh").json() == {
        "name": "fresh", "private": True,
        "roles": [{"project": "fresh", "holder": "alice", "role": "owner"}],
    }  # fmt: skip
    assert api(index, "GET", "/projects/{project}", "alice", project="nothing").status_code == 404
    assert api(index, "GET", "/projects/{project}", project="nothing").status_code == 404


def test_private_projects_are_hidden_from_those_without_a_role(index: Index, project: str) -> None:
    made = api(index, "PUT", "/projects/{project}/visibility", "alice",
               json_body={"private": True}, project=project)  # fmt: skip
    assert made.status_code == 204
    assert index.client.get(f"/simple/{project}/").status_code in (401, 404)
    hidden = api(index, "GET", "/projects/{project}", "bob", project=project)
    assert hidden.status_code == 404
    assert api(index, "POST", "/projects/{project}/releases/{version}/yank", "bob",
               project=project, version="1.0").status_code == 404  # fmt: skip
    assert api(index, "GET", "/projects/{project}", project=project).json()["private"] is True
    assert api(index, "PUT", "/projects/{project}/visibility", "alice",
               json_body={"private": "no"}, project=project).status_code == 400  # fmt: skip
    assert api(index, "PUT", "/projects/{project}/visibility", "alice",
               json_body={"private": False}, project=project).status_code == 204  # fmt: skip
    assert index.client.get(f"/simple/{project}/").status_code == 200


# -- releases ------------------------------------------------------------------------------


def test_owners_yank_and_unyank_a_release(index: Index, project: str, dist_dir: Path) -> None:
    yank = "/projects/{project}/releases/{version}/yank"
    yanked = api(index, "POST", yank, "alice", json_body={"reason": "broken"}, project="PROJ",
                 version="1.0.0")  # fmt: skip
    assert yanked.status_code == 200 and yanked.json() == {"files": 1}
    accept = {"Accept": "application/vnd.pypi.simple.v1+json"}
    page = index.client.get(f"/simple/{project}/", headers=accept).json()
    assert page["files"][0]["yanked"] == "broken"
    # No body at all is fine too.
    assert api(index, "POST", yank, "alice", project=project, version="1.0").status_code == 200
    unyanked = api(index, "POST", "/projects/{project}/releases/{version}/unyank", "alice",
                   project=project, version="1.0")  # fmt: skip
    assert unyanked.json() == {"files": 1}
    assert index.catalog.project_files(project)[0].yanked is False
    index.admin().grant(project, "bob", "maintainer")
    assert api(index, "POST", yank, "bob", project=project, version="1.0").status_code == 403
    assert api(index, "POST", yank, None, project=project, version="1.0").status_code == 401
    missing = api(index, "POST", yank, "alice", project=project, version="2.0")
    assert missing.status_code == 404 and "its releases: 1.0" in error_of(missing)
    invalid = api(index, "POST", yank, "alice", project=project, version="one")
    assert invalid.status_code == 400 and "not a valid version" in error_of(invalid)
    assert api(index, "POST", yank, "alice", json_body={"reason": 1}, project=project,
               version="1.0").status_code == 400  # fmt: skip


def test_only_admins_delete_a_release(index: Index, project: str) -> None:
    release = "/projects/{project}/releases/{version}"
    refused = api(index, "DELETE", release, "alice", project=project, version="1.0")
    assert refused.status_code == 403 and "not an administrator" in error_of(refused)
    assert api(index, "DELETE", release, None, project=project, version="1.0").status_code == 401
    deleted = api(index, "DELETE", release, project=project, version="1.0")
    assert deleted.status_code == 200 and deleted.json() == {"files": 1}
    assert index.catalog.project_files(project) == []
    assert api(index, "DELETE", release, project=project, version="1.0").status_code == 404


# -- tokens narrow what their user may do --------------------------------------------------


def test_a_read_only_token_may_only_read(index: Index, project: str) -> None:
    read = token_of(index, "root", permission="read")
    assert api(index, "GET", "/tokens", token=read).status_code == 200
    for method, template, options in (
        ("GET", "/users", {}),  # administration needs an upload token, even to look
        ("POST", "/users", {"json_body": {"name": "carol", "password": PASSWORD}}),
        ("POST", "/groups", {"json_body": {"name": "devs"}}),
        ("POST", "/projects/{project}/releases/{version}/yank",
         {"project": project, "version": "1.0"}),
    ):  # fmt: skip
        refused = api(index, method, template, token=read, **options)
        assert refused.status_code == 403 and "may only read" in error_of(refused)


def test_a_project_scoped_token_is_refused_administration(index: Index, project: str) -> None:
    scoped = token_of(index, "root", projects=(project,))
    refused = api(index, "GET", "/users", token=scoped)
    assert refused.status_code == 403 and "limited to projects" in error_of(refused)
    assert api(index, "POST", "/tokens", token=scoped, json_body={}).status_code == 403
    # Within its scope it acts; outside it, not.
    assert (
        api(index, "GET", "/projects/{project}", token=scoped, project=project).status_code == 200
    )
    alices = token_of(index, "alice", projects=("other",))
    outside = api(index, "POST", "/projects/{project}/releases/{version}/yank", token=alices,
                  project=project, version="1.0")  # fmt: skip
    assert outside.status_code == 403 and "limited to other" in error_of(outside)


# -- the audit log -------------------------------------------------------------------------


def test_every_change_is_on_record_with_actor_and_address(index: Index, project: str) -> None:
    calls: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/users", {"json_body": {"name": "carol", "password": PASSWORD}}),
        ("PUT", "/users/{name}/password", {"json_body": {"password": NEW_PASSWORD},
                                           "name": "carol"}),
        ("POST", "/groups", {"json_body": {"name": "devs"}}),
        ("PUT", "/groups/{name}/members/{user}", {"name": "devs", "user": "carol"}),
        ("DELETE", "/groups/{name}/members/{user}", {"name": "devs", "user": "carol"}),
        ("PUT", "/projects/{project}/roles/{holder}", {"json_body": {"role": "reader"},
                                                      "project": project, "holder": "bob"}),
        ("DELETE", "/projects/{project}/roles/{holder}/{role}",
         {"project": project, "holder": "bob", "role": "reader"}),
        ("PUT", "/projects/{project}/visibility", {"json_body": {"private": True},
                                                   "project": project}),
        ("POST", "/projects/{project}/releases/{version}/yank",
         {"project": project, "version": "1.0"}),
        ("POST", "/projects/{project}/releases/{version}/unyank",
         {"project": project, "version": "1.0"}),
        ("DELETE", "/projects/{project}/releases/{version}",
         {"project": project, "version": "1.0"}),
        ("DELETE", "/groups/{name}", {"name": "devs"}),
        ("DELETE", "/users/{name}", {"name": "carol"}),
    ]  # fmt: skip
    for method, template, options in calls:
        assert api(index, method, template, **options).status_code < 300, (method, template)
    token = api(index, "POST", "/tokens", "alice", json_body={}).json()["token"]
    assert api(index, "DELETE", "/tokens/{id}", "alice", id=token["id"]).status_code == 200
    upload = token_of(index, "alice")
    actor = f"alice (token {upload.split('_')[1]})"
    assert api(index, "PUT", "/projects/{project}/visibility", token=upload,
               json_body={"private": False}, project=project).status_code == 204  # fmt: skip
    entries = audit_entries(index)
    expected = [
        ("add user", "carol", "root"), ("change password", "carol", "root"),
        ("add group", "@devs", "root"), ("add member", "@devs", "root"),
        ("remove member", "@devs", "root"), ("grant role", "proj", "root"),
        ("revoke role", "proj", "root"), ("make private", "proj", "root"),
        ("yank", "proj 1.0", "root"), ("unyank", "proj 1.0", "root"),
        ("delete", "proj 1.0", "root"), ("remove group", "@devs", "root"),
        ("remove user", "carol", "root"),
        ("create token", f"token {token['id']}", "alice"),
        ("revoke token", f"token {token['id']}", "alice"),
        ("make public", "proj", actor),
    ]  # fmt: skip
    # The test client's address, "testclient", is no IP address: recorded as unknown.
    for action, target, who in expected:
        assert (action, target, who, "unknown") in entries, (action, target)
    # And the log reads back through the API, newest first.
    log = api(index, "GET", "/audit", params={"limit": "3"}).json()
    assert len(log) == 3 and log[0]["action"] == "make public"
    assert log[0]["actor"] == actor and log[0]["address"] == "unknown"
    assert [e["id"] for e in log] == sorted((e["id"] for e in log), reverse=True)
    assert len(api(index, "GET", "/audit").json()) == min(100, len(entries))


def test_the_audit_log_is_for_admins(index: Index) -> None:
    assert api(index, "GET", "/audit", "alice").status_code == 403
    assert api(index, "GET", "/audit", None).status_code == 401
    for limit in ("0", "1001", "ten", "-1", "1e3", ""):
        response = api(index, "GET", "/audit", params={"limit": limit})
        assert response.status_code == 400, limit
        assert "limit" in error_of(response)
    assert api(index, "GET", "/audit", params={"limit": "1000"}).status_code == 200


# -- failures answer JSON, never 500 -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/users/%00"),
        ("DELETE", "/users/%00"),
        ("DELETE", "/users/" + "a" * 5000),
        ("DELETE", "/users/%E2%98%83%0A"),
        ("DELETE", "/users/%ED%A0%80"),
        ("PUT", "/groups/%0A/members/%00"),
        ("DELETE", "/groups/@@x"),
        ("GET", "/projects/%E2%98%83"),
        ("GET", "/projects/foo%0A"),
        ("GET", "/projects/" + "a" * 300),
        ("GET", "/projects/a%2Fb"),
        ("POST", "/projects/proj/releases/%00/unyank"),
        ("POST", "/projects/proj/releases/" + "1." * 200 + "0/unyank"),
        ("DELETE", "/projects/proj/releases/1.0%0A"),
        ("DELETE", "/projects/proj/roles/%40/owner"),
        ("DELETE", "/tokens/%FF"),
        ("GET", "/tokens?user=%00"),
        ("GET", "/audit?limit=99999999999999999999999"),
        ("GET", "/nothing/here"),
        ("PATCH", "/users"),
    ],
)
def test_odd_input_is_answered_with_a_json_error(
    index: Index, project: str, method: str, path: str
) -> None:
    response = index.client.request(method, API + path, headers=basic("root"))
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    error_of(response)


def test_unknown_routes_and_methods_answer_json_only_under_api(index: Index) -> None:
    missing = index.client.get("/api/v2/users", headers=basic("root"))
    assert missing.status_code == 404 and "openapi.json" in error_of(missing)
    method = index.client.patch(f"{API}/groups", headers=basic("root"))
    assert method.status_code == 405 and set(method.headers["allow"].split(", ")) == {
        "GET", "HEAD", "POST"}  # fmt: skip
    error_of(method)
    head = index.client.head(f"{API}/users", headers=basic("root"))
    assert head.status_code == 200 and head.content == b""
    outside = index.client.get("/nothing")
    assert outside.status_code == 404 and outside.headers["content-type"].startswith("text/plain")


def test_failed_sign_ins_are_paced(index: Index) -> None:
    for _ in range(index.services.settings.auth_failures_per_minute):
        assert api(index, "GET", "/users", password="wrong-password").status_code == 401
    paced = api(index, "GET", "/users", password="wrong-password")
    assert paced.status_code == 429 and int(paced.headers["retry-after"]) >= 1
    assert "too many failed sign-ins" in error_of(paced)


def test_an_unavailable_catalog_answers_503(index: Index, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: Any) -> None:
        raise CatalogError("could not reach the catalog; check the catalog URL")

    monkeypatch.setattr(index.catalog, "groups", broken)
    response = api(index, "GET", "/groups")
    assert response.status_code == 503 and "catalog" in error_of(response)


def test_cross_site_requests_change_nothing(index: Index) -> None:
    response = api(index, "POST", "/users", json_body={"name": "carol", "password": PASSWORD},
                   headers={"Sec-Fetch-Site": "cross-site"})  # fmt: skip
    assert response.status_code == 403 and "cross-site" in error_of(response)
    assert index.catalog.user("carol") is None
    assert api(index, "GET", "/users", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200


def test_uploads_and_pages_still_answer_as_before(index: Index, dist_dir: Path) -> None:
    uploaded = index.upload(make_wheel(dist_dir, "plain", "1.0"), user="alice")
    assert uploaded.status_code == 200 and uploaded.text.startswith("OK: ")
    refused = index.upload(make_wheel(dist_dir, "plain", "1.1"), user=None)
    assert refused.status_code == 401 and refused.headers["content-type"].startswith("text/plain")
    assert "plain" in index.client.get("/simple/").text
    assert index.client.get("/simple/plain/").status_code == 200


# -- the self-service rules as pure functions ----------------------------------------------


def test_the_self_service_rules(index: Index) -> None:
    policy = Policy()
    alice = index.catalog.user("alice")
    root = index.catalog.user("root")
    assert alice is not None and root is not None
    token = index.admin().create_token("alice")[0]
    read = index.admin().create_token("root", permission="read")[0]
    scoped = index.admin().create_token("root", projects=("proj",))[0]
    by_password, by_token = Principal(alice), Principal(alice, token)
    assert administers(policy, Principal(root))
    assert not administers(policy, Principal(root, read))
    assert not administers(policy, Principal(root, scoped))
    assert not administers(policy, None)
    for decide in (decide_password_change, decide_token_creation):
        assert decide(policy, by_password, "alice") is None
        assert decide(policy, Principal(root), "alice") is None
        assert getattr(decide(policy, by_token, "alice"), "http_status", None) == 403
        assert getattr(decide(policy, by_password, "bob"), "http_status", None) == 403
        assert getattr(decide(policy, None, "alice"), "http_status", None) == 401
    assert decide_token_listing(policy, by_token, None) is None
    assert decide_token_listing(policy, by_token, "alice") is None
    assert getattr(decide_token_listing(policy, by_token, "bob"), "http_status", None) == 403
    assert decide_token_listing(policy, Principal(root), "bob") is None
    assert decide_token_revocation(policy, by_token, "alice") is None
    assert decide_token_revocation(policy, by_token, None) is None
    assert getattr(decide_token_revocation(policy, by_token, "bob"), "http_status", None) == 403
    read_alice = Principal(alice, index.admin().create_token("alice", permission="read")[0])
    assert getattr(decide_token_revocation(policy, read_alice, "alice"), "http_status", 0) == 403
    assert decide_token_revocation(policy, Principal(root), "alice") is None


def test_the_upstream_rule_of_a_name(index: Index, dist_dir: Path) -> None:
    template = "/projects/{project}/upstream"
    reserved = api(index, "PUT", template, json_body={"reserved": True}, project="Some.Name")
    assert reserved.json() == {"changed": True}
    assert index.catalog.upstream_rules()["some-name"].reserved
    again = api(index, "PUT", template, json_body={"reserved": True}, project="some-name")
    assert again.json() == {"changed": False}
    assert api(index, "PUT", template, json_body={"min_age": 3600}, project="x").json() == {
        "changed": True}  # fmt: skip
    assert index.catalog.upstream_rules()["x"].min_age == 3600
    # Only a local project tracks its upstream; only admins change rules.
    missing = api(index, "PUT", template, json_body={"tracked": True}, project="nowhere")
    assert missing.status_code == 404 and "not on this index" in error_of(missing)
    assert index.upload(make_wheel(dist_dir, "mine", "1.0")).status_code == 200
    refused = api(index, "PUT", template, "alice", json_body={"tracked": True}, project="mine")
    assert refused.status_code == 403
    assert "mine" not in index.catalog.upstream_rules()
    assert api(index, "PUT", template, json_body={"tracked": True},
               project="mine").json() == {"changed": True}  # fmt: skip
    for body in ({"tracked": "yes"}, {"min_age": -1}, {"other": True}):
        assert api(index, "PUT", template, json_body=body, project="mine").status_code == 400
    actions = [entry.action for entry in index.admin().audit() if "upload" not in entry.action]
    assert actions[:3] == ["track upstream", "set upstream min age", "reserve name"]
