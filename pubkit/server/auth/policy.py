"""Who may do what: one pure decision for every request and admin operation.

The answer is None (allowed) or the error to answer with:
- 401 when credentials would help (anonymous, or a server that reads only signed in);
- 404 when a signed-in principal may not see a private project: to them it does not exist;
- 403 when they may see it but not do this.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pubkit.core.accounts import GROUP_PREFIX, OWNER, READER, UPLOAD_ROLES, best_role
from pubkit.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    PubkitError,
)
from pubkit.server.auth.tokens import Principal
from pubkit.server.catalog import ProjectAccess

READ_ROLES = (*UPLOAD_ROLES, READER)
CREATE_ANY = "any"
CREATE_ADMINS = "admins"


class Action(Enum):
    READ = "read"  # pages, files, metadata
    UPLOAD = "upload"
    MANAGE = "manage"  # a project's roles, visibility, yanks: owners
    ADMIN = "admin"  # users, groups, others' tokens, deletions


@dataclass(frozen=True)
class Policy:
    """The server's settings that decisions depend on."""

    read: str = "public"  # public | authenticated
    # any | admins | @group,@group…: who may create a project by uploading to a new name.
    create_projects: str = CREATE_ANY

    def creator_groups(self) -> frozenset[str]:
        if self.create_projects in (CREATE_ANY, CREATE_ADMINS):
            return frozenset()
        return frozenset(
            part.strip().removeprefix(GROUP_PREFIX)
            for part in self.create_projects.split(",")
            if part.strip()
        )


def role_of(access: ProjectAccess, user: str, groups: frozenset[str]) -> str | None:
    """The best role ``user`` holds on the project, directly or through a group."""
    held = [access.users[user]] if user in access.users else []
    held.extend(role for group, role in access.groups.items() if group in groups)
    return best_role(held)


def hidden(project: str) -> NotFoundError:
    """What a project that is not there (or not there to this principal) answers."""
    return NotFoundError(f"project {project!r} is not on this index")


def _credentials_needed(what: str) -> AuthenticationError:
    return AuthenticationError(f"{what} requires credentials; configure your client")


# One answer for "sign in to read", whatever the reason (an authenticated-read index, a
# private project, a project that might be private): the wording must not tell them apart.
READ_CREDENTIALS = "reading this index"


def credentials_to_read() -> AuthenticationError:
    return _credentials_needed(READ_CREDENTIALS)


def decide(
    policy: Policy,
    principal: Principal | None,
    action: Action,
    project: str | None = None,
    access: ProjectAccess | None = None,
    groups: frozenset[str] = frozenset(),
) -> PubkitError | None:
    """May ``principal`` (None: anonymous) do ``action`` on ``project`` (None: the index
    as a whole)? ``access`` is the project's record (None: no such project yet) and
    ``groups`` the principal's groups."""
    private = access is not None and access.private
    if principal is None:
        if action is Action.READ and not private and policy.read == "public":
            return None
        what = READ_CREDENTIALS if action is Action.READ else f"the {action.value} action"
        return _credentials_needed(what)
    user, token = principal.user, principal.token
    in_scope = token is None or token.projects is None or (project in token.projects)
    role = role_of(access, user.name, groups) if access is not None else None
    # A project the principal may not see is absent to them, whatever the action: they get
    # the very answer a project that does not exist gets (or, where that would succeed, as
    # an upload creating it would, the answer that the project is not there).
    if private and project is not None and not (in_scope and (user.is_admin or role)):
        return decide(policy, principal, action, project, None, groups) or hidden(project)
    if action is Action.READ:
        return None
    if token is not None and token.permission != "upload":
        return PermissionDeniedError(f"token {token.id} may only read; create an upload token")
    if action is Action.ADMIN:
        if token is not None and token.projects is not None:
            return PermissionDeniedError(
                f"token {token.id} is limited to projects; administration needs an unscoped token"
            )
        if not user.is_admin:
            return PermissionDeniedError(f"{user.name} is not an administrator")
        return None
    assert project is not None, "upload and manage act on a project"
    if not in_scope:
        assert token is not None and token.projects is not None
        return PermissionDeniedError(
            f"token {token.id} is limited to {', '.join(token.projects)}; it may not act on"
            f" {project}"
        )
    if user.is_admin:
        return None
    if action is Action.UPLOAD:
        if access is None:
            return _may_create(policy, user.name, project, groups)
        if role in UPLOAD_ROLES:
            return None
        return PermissionDeniedError(
            f"user {user.name!r} may not upload to project {project!r}; ask one of its owners"
            " for the maintainer role"
        )
    if role == OWNER:
        return None
    if access is None:
        return hidden(project)
    return PermissionDeniedError(
        f"user {user.name!r} is not an owner of {project!r}; ask one of its owners"
    )


def decide_upload_start(principal: Principal | None) -> PubkitError | None:
    """What an upload is refused at its headers, before its body names the project: no
    credentials, or a token that may only read. The rest is :func:`decide`'s, once the
    filename is known."""
    if principal is None:
        return _credentials_needed("uploading")
    token = principal.token
    if token is not None and token.permission != "upload":
        return PermissionDeniedError(f"token {token.id} may only read; create an upload token")
    return None


def _may_create(
    policy: Policy, user: str, project: str, groups: frozenset[str]
) -> PubkitError | None:
    if policy.create_projects == CREATE_ANY:
        return None
    allowed = policy.creator_groups()
    if allowed & groups:
        return None
    who = (
        "administrators"
        if policy.create_projects == CREATE_ADMINS
        else "members of " + ", ".join(GROUP_PREFIX + group for group in sorted(allowed))
    )
    return PermissionDeniedError(
        f"{project!r} is a new project and only {who} may create projects here; ask an"
        f" administrator to create it and grant {user} a role"
    )


# -- self-service: the admin API's rules for a user's own password and tokens --------------


def administers(policy: Policy, principal: Principal | None) -> bool:
    """Whether ``principal`` is an administrator with these credentials: an admin user
    signed in with their password or with an upload token that no project scope narrows."""
    return principal is not None and decide(policy, principal, Action.ADMIN) is None


def _self_service(
    policy: Policy, principal: Principal | None, user: str, what: str, only: str
) -> PubkitError | None:
    """Admins may do ``what`` for anyone; a user for themself, signed in with their password."""
    if principal is None:
        return _credentials_needed(what)
    if administers(policy, principal):
        return None
    if principal.token is not None:
        return PermissionDeniedError(
            f"a token cannot be used for {what}; sign in with your password"
        )
    if principal.name != user:
        return PermissionDeniedError(
            f"{principal.name} is not an administrator and may {only}; ask an administrator"
        )
    return None


def decide_password_change(
    policy: Policy, principal: Principal | None, user: str
) -> PubkitError | None:
    """May ``principal`` set ``user``'s password? Admins: anyone's; others: their own, when
    signed in with the password (not a token: a leaked token must not take over the account)."""
    return _self_service(policy, principal, user, "changing a password",
                         "change only their own password")  # fmt: skip


def decide_token_creation(
    policy: Policy, principal: Principal | None, user: str
) -> PubkitError | None:
    """May ``principal`` create a token of ``user``? Admins: anyone's; others: their own, when
    signed in with the password (a token cannot mint tokens)."""
    return _self_service(policy, principal, user, "creating tokens",
                         "create tokens only for themself")  # fmt: skip


def decide_token_listing(
    policy: Policy, principal: Principal | None, user: str | None
) -> PubkitError | None:
    """May ``principal`` list the tokens of ``user`` (None: admins, everyone's; others, their
    own)? Any credentials of a user show that user's own tokens."""
    if principal is None:
        return _credentials_needed("listing tokens")
    if user is None or user == principal.name or administers(policy, principal):
        return None
    return PermissionDeniedError(
        f"{principal.name} is not an administrator and may list only their own tokens"
    )


def decide_token_revocation(
    policy: Policy, principal: Principal | None, owner: str | None
) -> PubkitError | None:
    """May ``principal`` revoke a token of ``owner`` (None: no such token; the answer then
    says whether the caller may revoke tokens at all)? Admins: any; others: their own, with
    their password or an upload token (read-only tokens change nothing)."""
    if principal is None:
        return _credentials_needed("revoking tokens")
    if administers(policy, principal):
        return None
    token = principal.token
    if token is not None and token.permission != "upload":
        return PermissionDeniedError(f"token {token.id} may only read; create an upload token")
    if owner is None or owner == principal.name:
        return None
    return PermissionDeniedError(
        f"{principal.name} is not an administrator and may revoke only their own tokens"
    )
