"""The access policy as a pure function: roles through groups, private projects hidden as
absent, token scopes, and who may create a project."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from pubkit.core.accounts import Token, best_role
from pubkit.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from pubkit.server.auth.policy import Action, Policy, decide, role_of
from pubkit.server.auth.tokens import Principal
from pubkit.server.catalog import ProjectAccess, User

NOW = datetime(2026, 11, 25, tzinfo=timezone.utc)


def user(name: str, admin: bool = False) -> Principal:
    return Principal(User(1, name, "hash", admin, NOW))


def token(name: str, permission: str = "upload", projects: tuple[str, ...] | None = None,
          admin: bool = False) -> Principal:  # fmt: skip
    made = Token("0123456789abcdef", name, permission, projects, None, NOW, None, None, None)
    return Principal(User(1, name, "hash", admin, NOW), made)


def acme(private: bool = False) -> ProjectAccess:
    return ProjectAccess(private, {"olga": "owner", "max": "maintainer", "rita": "reader"},
                         {"team": "maintainer", "auditors": "reader"})  # fmt: skip


def test_the_best_role_wins_whether_held_directly_or_through_a_group() -> None:
    assert best_role(["reader", "owner", "maintainer"]) == "owner"
    assert best_role([]) is None
    access = acme()
    assert role_of(access, "rita", frozenset({"team"})) == "maintainer"
    assert role_of(access, "gus", frozenset({"auditors"})) == "reader"
    assert role_of(access, "gus", frozenset()) is None


@pytest.mark.parametrize("read", ["public", "authenticated"])
def test_a_private_project_is_absent_to_those_without_a_role(read: str) -> None:
    policy = Policy(read=read)
    private = acme(private=True)
    assert isinstance(decide(policy, None, Action.READ, "acme", private), AuthenticationError)
    hidden = decide(policy, user("mo"), Action.READ, "acme", private)
    assert isinstance(hidden, NotFoundError) and "'acme' is not on this index" in hidden.message
    for reader in ("rita", "max", "olga"):
        assert decide(policy, user(reader), Action.READ, "acme", private) is None
    auditor = frozenset({"auditors"})
    assert decide(policy, user("gus"), Action.READ, "acme", private, auditor) is None
    assert decide(policy, user("root", admin=True), Action.READ, "acme", private) is None
    # A hidden project stays hidden whatever is asked of it.
    assert isinstance(decide(policy, user("mo"), Action.UPLOAD, "acme", private), NotFoundError)


def test_reading_public_projects_depends_on_the_server_policy_only() -> None:
    assert decide(Policy(read="public"), None, Action.READ, "acme", acme()) is None
    assert decide(Policy(read="public"), None, Action.READ) is None
    refused = decide(Policy(read="authenticated"), None, Action.READ, "acme", acme())
    assert isinstance(refused, AuthenticationError)
    # A token scoped to another project still reads what every signed-in user reads.
    scoped = token("olga", projects=("other",))
    assert decide(Policy(read="authenticated"), scoped, Action.READ, "acme", acme()) is None
    assert isinstance(
        decide(Policy(), scoped, Action.READ, "acme", acme(private=True)), NotFoundError
    )


def test_uploads_need_an_upload_role_and_a_token_that_allows_it() -> None:
    policy = Policy()
    assert decide(policy, user("max"), Action.UPLOAD, "acme", acme()) is None
    assert decide(policy, user("gus"), Action.UPLOAD, "acme", acme(), frozenset({"team"})) is None
    for refused in (user("rita"), user("mo"), token("olga", permission="read"),
                    token("olga", projects=("other",))):  # fmt: skip
        assert isinstance(decide(policy, refused, Action.UPLOAD, "acme", acme()),
                          PermissionDeniedError), refused  # fmt: skip
    assert decide(policy, token("olga", projects=("acme",)), Action.UPLOAD, "acme", acme()) is None
    assert decide(policy, user("root", admin=True), Action.UPLOAD, "acme", acme()) is None


@pytest.mark.parametrize(
    ("create", "groups", "allowed"),
    [("any", frozenset(), True), ("admins", frozenset({"ci"}), False),
     ("@ci,@platform", frozenset({"platform"}), True), ("@ci", frozenset({"web"}), False)],
)  # fmt: skip
def test_who_may_create_a_project(create: str, groups: frozenset[str], allowed: bool) -> None:
    decision = decide(Policy(create_projects=create), user("mo"), Action.UPLOAD, "new", None,
                      groups)  # fmt: skip
    assert (decision is None) == allowed
    if not allowed:
        assert isinstance(decision, PermissionDeniedError)
        assert "only" in decision.message and "may create projects" in decision.message
    admin = user("root", admin=True)
    assert decide(Policy(create_projects=create), admin, Action.UPLOAD, "new", None) is None


def test_managing_is_for_owners_and_administering_for_admins() -> None:
    policy = Policy()
    assert decide(policy, user("olga"), Action.MANAGE, "acme", acme()) is None
    assert isinstance(decide(policy, user("max"), Action.MANAGE, "acme", acme()),
                      PermissionDeniedError)  # fmt: skip
    assert isinstance(decide(policy, user("olga"), Action.ADMIN), PermissionDeniedError)
    assert decide(policy, user("root", admin=True), Action.ADMIN) is None
    assert decide(policy, token("root", admin=True), Action.ADMIN) is None
    for narrow in (token("root", permission="read", admin=True),
                   token("root", projects=("acme",), admin=True)):  # fmt: skip
        assert isinstance(decide(policy, narrow, Action.ADMIN), PermissionDeniedError)
    assert isinstance(decide(policy, None, Action.ADMIN), AuthenticationError)
