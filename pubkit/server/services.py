"""What a running server holds: settings, storage, catalog and the objects built on them."""

from __future__ import annotations

import logging
from collections.abc import Hashable
from dataclasses import dataclass, field
from functools import partial

from starlette.requests import Request

from pubkit.errors import (
    AuthenticationError,
    PubkitError,
    RateLimitedError,
    ServerBusyError,
    UpstreamError,
)
from pubkit.server.access_state import AccessSnapshots
from pubkit.server.asgi import Scope, client_address, header
from pubkit.server.auth.authenticator import Authenticator, Credentials, parse_basic_auth
from pubkit.server.auth.failure_audit import FailedSignInAudit
from pubkit.server.auth.permissions import Permissions
from pubkit.server.auth.policy import Action, Policy, credentials_to_read, hidden
from pubkit.server.auth.throttle import FailureThrottle
from pubkit.server.auth.tokens import TOKEN_USERNAME, Principal, split_token
from pubkit.server.catalog import Catalog
from pubkit.server.dependencies import (
    Dependency,
    ReadyCheck,
    SerialWatch,
    catalog_dependency,
    storage_dependency,
)
from pubkit.server.metrics import Metrics, Publisher
from pubkit.server.request_log import note_principal
from pubkit.server.simple import SimplePages
from pubkit.server.storage import Storage
from pubkit.server.upload import UploadService
from pubkit.server.upstream.index import UpstreamIndex
from pubkit.settings import ServerSettings

log = logging.getLogger("pubkit.server")

# Threads per worker for blocking calls into each dependency (the PostgreSQL pool has 15
# connections), and how long a call waits for one before it is refused with a 503.
STORAGE_THREADS = 16
CATALOG_THREADS = 10
DEPENDENCY_WAIT = 5.0
UPSTREAM_THREADS = 8


@dataclass
class Services:
    settings: ServerSettings
    storage: Storage
    catalog: Catalog
    pages: SimplePages
    authenticator: Authenticator
    uploads: UploadService
    throttle: FailureThrottle
    failure_audit: FailedSignInAudit
    permissions: Permissions
    # Blocking calls into storage and the catalog, each in its own bounded set of threads.
    storage_calls: Dependency
    catalog_calls: Dependency
    serials: SerialWatch
    ready_checks: dict[str, ReadyCheck]
    metrics: Metrics = field(default_factory=Metrics)
    # The upstream indexes this one also answers for (None: none configured).
    upstream: UpstreamIndex | None = None
    # This worker's metrics snapshots, shared with the other workers (set by create_app).
    publisher: Publisher | None = None

    @classmethod
    def build(
        cls,
        settings: ServerSettings,
        storage: Storage,
        catalog: Catalog,
        metrics: Metrics | None = None,
    ) -> Services:
        # Every access change this server makes is stored before it commits.
        catalog.access_state = AccessSnapshots(storage, settings.tmp_dir)
        permissions = Permissions(catalog, Policy(settings.read, settings.create_projects))
        catalog_calls = catalog_dependency(CATALOG_THREADS, DEPENDENCY_WAIT)
        storage_calls = storage_dependency(STORAGE_THREADS, DEPENDENCY_WAIT)
        upstream = None
        if settings.upstream:
            # Its own threads: a stalled upstream cannot take those of storage or the catalog.
            upstream_calls = Dependency("upstream", UPSTREAM_THREADS, settings.upstream_timeout,
                                        UpstreamError)  # fmt: skip
            upstream = UpstreamIndex(settings, catalog, storage, upstream_calls, storage_calls)
        return cls(
            settings=settings,
            storage=storage,
            catalog=catalog,
            pages=SimplePages(catalog, settings.page_cache_size),
            authenticator=Authenticator(catalog, settings.password_cache_seconds),
            uploads=UploadService(storage, catalog, settings.tmp_dir, permissions),
            throttle=FailureThrottle(settings.auth_failures_per_minute),
            failure_audit=FailedSignInAudit(),
            permissions=permissions,
            metrics=metrics or Metrics(),
            storage_calls=storage_calls,
            upstream=upstream,
            catalog_calls=catalog_calls,
            serials=SerialWatch(
                catalog.serial, catalog_calls, inline=catalog.is_sqlite,
                stale_after=settings.stale_after,
            ),
            ready_checks={
                "storage": ReadyCheck("storage", storage.check),
                "catalog": ReadyCheck("catalog", catalog.check),
            },
        )

    async def user_from(
        self, authorization: str | None, address: str | None = None, serial: int | None = None
    ) -> Principal | None:
        """Who an Authorization header proves (a user, or a user's token); None: anonymous.

        Raises AuthenticationError for wrong or malformed credentials, RateLimitedError when
        this address or account has failed too often in the last minute. ``serial``: the
        catalog serial, when the caller has just read it.
        """
        credentials = parse_basic_auth(authorization)
        if credentials is None:
            return None
        # Credentials verified a moment ago are no guess: they skip the failure count.
        principal = await self.catalog_calls.offload(
            self.authenticator.cached, credentials, serial
        )
        if principal is not None:
            note_principal(principal)
            return principal
        # Counted as a failure before the check, forgiven if it succeeds: a burst of
        # concurrent guesses gets at most the limit checked.
        attempt = self.throttle.reserve(*_throttle_keys(credentials, address))
        if isinstance(attempt, int):
            raise RateLimitedError(
                f"too many failed sign-ins from this address; retry in"
                f" {attempt} s", attempt,
            )  # fmt: skip
        try:
            principal = await self.authenticator.authenticate_async(credentials)
        except AuthenticationError:
            # Wrong: it stays counted, so a burst of concurrent guesses gets at most the
            # limit of attempts past this point.
            await self._audit_failure(credentials, address)
            raise
        except ServerBusyError:
            raise  # no hashing slot came free in time: it stays counted too
        except BaseException:
            self.throttle.release(attempt)  # not checked: the catalog failed, or cancelled
            raise
        self.throttle.release(attempt)
        note_principal(principal)
        return principal

    async def _audit_failure(self, credentials: Credentials, address: str | None) -> None:
        """A failed sign-in in the audit log, paced (:class:`FailedSignInAudit`); a catalog
        that cannot take the row does not change the answer."""
        account = _account(credentials)
        failures = self.failure_audit.failed((address, account))
        if failures is None:
            return
        try:
            await self.catalog_calls.run(partial(
                self.catalog.audit, "failed sign-in", account, None, address, failures=failures))
        except PubkitError as error:
            log.warning("could not audit a failed sign-in: %s", error.message)

    async def reader(
        self, scope: Scope, project: str | None, serial: int, stale: bool = False
    ) -> Principal | None:
        """Enforce read access to ``project`` (None: the project list) for a request of the
        bare-ASGI read path, at catalog ``serial``; who reads (None: anonymous, or not asked).
        ``stale``: the catalog is not answering, decide from what this worker knows or 503.

        Public projects on a public index are read without looking at credentials; elsewhere
        any signed-in principal reads public projects, and the policy decides private ones.
        """
        authorization = header(scope, b"authorization")
        public = self.settings.read == "public"
        calls = self.catalog_calls
        private = self.permissions.known_private_projects(serial)
        if private is None:
            private = await calls.offload(self.permissions.private_projects, serial, stale=stale)
        is_private = project is not None and project in private
        # The project list shows a signed-in reader the private projects they may read.
        personal = project is None and bool(private) and authorization is not None
        if public and not is_private and not personal:
            return None
        principal = None
        if authorization:
            cached_header = self.authenticator.cached_header
            principal = await calls.offload(cached_header, authorization, serial, stale=stale)
        if principal is None:
            principal = await self.user_from(authorization, client_address(scope), serial)
        note_principal(principal)
        if is_private:
            check = self.permissions.check
            await calls.offload(check, principal, Action.READ, project, True, serial, stale=stale)
        elif principal is None and not public:
            raise credentials_to_read()
        return principal

    async def absent(
        self, scope: Scope, principal: Principal | None, project: str, serial: int,
        stale: bool = False,
    ) -> PubkitError:  # fmt: skip
        """The answer for a project (or one of its files) that is not on this index: what a
        private one answers to those who may not see it, so that the two look alike. To an
        anonymous client of an index that has private projects, that is 401, not 404."""
        calls = self.catalog_calls
        private = self.permissions.known_private_projects(serial)
        if private is None:
            private = await calls.offload(self.permissions.private_projects, serial, stale=stale)
        if principal is None and private:
            authorization = header(scope, b"authorization")
            if authorization is None:
                return credentials_to_read()
            # Signed in (reader() did not look, the project not being private): a 404.
            cached_header = self.authenticator.cached_header
            if await calls.offload(cached_header, authorization, serial, stale=stale) is None:
                await self.user_from(authorization, client_address(scope), serial)
        return hidden(project)

    async def user_of(self, request: Request) -> Principal | None:
        return await self.user_from(request.headers.get("authorization"),
                                    client_address(request.scope))  # fmt: skip


def _account(credentials: Credentials) -> str:
    """The account a sign-in tried, as the audit log names it: the user, or the token's id
    (never its secret)."""
    if credentials.username != TOKEN_USERNAME:
        return credentials.username
    parts = split_token(credentials.password)
    return f"token {parts[0]}" if parts else "a malformed token"


def _throttle_keys(credentials: Credentials, address: str | None) -> tuple[Hashable, ...]:
    """The counters a failure adds to, and that a sign-in is refused by when full.

    Always the client address. For a password, also the (account, address) pair: an account
    is paced against each address that guesses at it, so that nobody can lock its user out
    from another address (their own). A token adds nothing more: its secret is 256 random bits,
    which no guessing pace matters to, and a per-token count would let anyone who knows a
    token's id (shown in listings, errors, the audit log) lock that token out."""
    keys: list[Hashable] = [("address", address)]
    if credentials.username != TOKEN_USERNAME:
        keys.append(("user", credentials.username, address))
    return tuple(keys)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
