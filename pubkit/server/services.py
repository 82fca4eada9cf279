"""What a running server holds: settings, storage, catalog and the objects built on them."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from starlette.requests import Request

from pubkit.errors import AuthenticationError, RateLimitedError
from pubkit.server.asgi import Scope, client_address, header
from pubkit.server.auth.authenticator import Authenticator, Credentials, parse_basic_auth
from pubkit.server.auth.permissions import Permissions
from pubkit.server.auth.policy import Action, Policy
from pubkit.server.auth.throttle import FailureThrottle
from pubkit.server.auth.tokens import TOKEN_USERNAME, Principal, split_token
from pubkit.server.catalog import Catalog
from pubkit.server.simple import SimplePages
from pubkit.server.storage import Storage
from pubkit.server.upload import UploadService
from pubkit.settings import ServerSettings


@dataclass
class Services:
    settings: ServerSettings
    storage: Storage
    catalog: Catalog
    pages: SimplePages
    authenticator: Authenticator
    uploads: UploadService
    throttle: FailureThrottle
    permissions: Permissions

    @classmethod
    def build(cls, settings: ServerSettings, storage: Storage, catalog: Catalog) -> Services:
        permissions = Permissions(catalog, Policy(settings.read, settings.create_projects))
        return cls(
            settings=settings,
            storage=storage,
            catalog=catalog,
            pages=SimplePages(catalog, settings.page_cache_size),
            authenticator=Authenticator(catalog, settings.password_cache_seconds),
            uploads=UploadService(storage, catalog, settings.tmp_dir, permissions),
            throttle=FailureThrottle(settings.auth_failures_per_minute),
            permissions=permissions,
        )

    async def user_from(
        self, authorization: str | None, address: str | None = None
    ) -> Principal | None:
        """Who an Authorization header proves (a user, or a user's token); None: anonymous.

        Raises AuthenticationError for wrong or malformed credentials, RateLimitedError when
        this address or account has failed too often in the last minute.
        """
        credentials = parse_basic_auth(authorization)
        if credentials is None:
            return None
        keys = _throttle_keys(credentials, address)
        wait = self.throttle.retry_after(*keys)
        if wait is not None:
            raise RateLimitedError(
                f"too many failed sign-ins from this address or for this account; retry in"
                f" {wait} s", wait,
            )  # fmt: skip
        try:
            return await self.authenticator.authenticate_async(credentials)
        except AuthenticationError:
            self.throttle.failed(*keys)
            raise

    async def reader(self, scope: Scope, project: str | None) -> Principal | None:
        """Enforce read access to ``project`` (None: the project list) for a request of the
        bare-ASGI read path; who reads (None: anonymous, or not asked: on a public index,
        public projects are read without looking at credentials)."""
        authorization = header(scope, b"authorization")
        if self.settings.read == "public":
            private = self.permissions.private_projects()
            if project not in private if project is not None else not (private and authorization):
                return None
        principal = await self.user_from(authorization, client_address(scope))
        self.permissions.check(principal, Action.READ, project)
        return principal

    async def user_of(self, request: Request) -> Principal | None:
        address = request.client.host if request.client else None
        return await self.user_from(request.headers.get("authorization"), address)


def _throttle_keys(credentials: Credentials, address: str | None) -> tuple[Hashable, ...]:
    """The counters a failure adds to: the client address, and the account (for a token its
    id, so that bad guesses at one token do not lock out every token)."""
    account: Hashable = ("user", credentials.username)
    if credentials.username == TOKEN_USERNAME:
        parts = split_token(credentials.password)
        account = ("token", parts[0]) if parts else None
    keys: list[Hashable] = [("address", address)] if address else []
    if account is not None:
        keys.append(account)
    return tuple(keys)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
