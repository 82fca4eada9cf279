"""What a running server holds: settings, storage, catalog and the objects built on them."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from pubkit.errors import AuthenticationError
from pubkit.server.auth.authenticator import Authenticator, parse_basic_auth
from pubkit.server.auth.tokens import Principal
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

    @classmethod
    def build(cls, settings: ServerSettings, storage: Storage, catalog: Catalog) -> Services:
        return cls(
            settings=settings,
            storage=storage,
            catalog=catalog,
            pages=SimplePages(catalog, settings.page_cache_size),
            authenticator=Authenticator(catalog, settings.password_cache_seconds),
            uploads=UploadService(storage, catalog, settings.tmp_dir),
        )

    async def user_from(self, authorization: str | None) -> Principal | None:
        """Who an Authorization header proves (a user, or a user's token); None: anonymous.

        Raises AuthenticationError for wrong or malformed credentials.
        """
        credentials = parse_basic_auth(authorization)
        if credentials is None:
            return None
        return await self.authenticator.authenticate_async(credentials)

    async def check_reader(self, authorization: str | None) -> None:
        """Enforce the server's read policy for a request with this Authorization header."""
        if self.settings.read == "public":
            return
        if await self.user_from(authorization) is None:
            raise AuthenticationError(
                "this index requires authentication to read; send credentials"
            )

    async def user_of(self, request: Request) -> Principal | None:
        return await self.user_from(request.headers.get("authorization"))


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services
