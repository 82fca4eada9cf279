"""One error tree for everything pubkit raises on purpose.

Every error carries a one-line message that says what went wrong *and* what to do about it;
the CLI prints it as is and the server answers with it. ``exit_code`` is what the CLI exits
with; ``http_status`` is what the server answers.
"""

from __future__ import annotations


class PubkitError(Exception):
    """Base of every error pubkit raises deliberately."""

    exit_code: int = 1
    http_status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigurationError(PubkitError):
    """Settings, options or environment variables that cannot work."""

    exit_code = 2


class UsageError(PubkitError):
    """A command (or an admin API call) with arguments that do not make sense together."""

    exit_code = 2
    http_status = 400


class NotFoundError(PubkitError):
    """A user, project, release or file that does not exist."""

    exit_code = 1
    http_status = 404


class AlreadyExistsError(PubkitError):
    """Something that must be unique exists already."""

    exit_code = 1
    http_status = 409


class StorageError(PubkitError):
    """The storage backend failed; nothing was changed."""

    http_status = 503


class UpstreamError(PubkitError):
    """An upstream index that failed, stalled or answered something unusable."""

    http_status = 502


class InsufficientStorageError(StorageError):
    """A write failed for want of space (ENOSPC, EDQUOT): nothing was kept."""

    http_status = 507


class CatalogError(PubkitError):
    """The catalog database failed or is out of date."""

    http_status = 503


class UploadError(PubkitError):
    """An upload that is refused; ``http_status`` tells why (400, 409, 413, …)."""

    def __init__(self, message: str, http_status: int = 400) -> None:
        super().__init__(message)
        self.http_status = http_status


class InvalidDistributionError(UploadError):
    """A file whose name, archive or metadata does not follow the packaging specifications."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 400)


class AuthenticationError(PubkitError):
    """Missing or wrong credentials."""

    http_status = 401


class RateLimitedError(PubkitError):
    """Too many failed sign-ins from one address or for one account: wait and retry."""

    http_status = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServerBusyError(RateLimitedError):
    """The server is at its bound for this kind of work (password hashing): retry shortly."""

    http_status = 503


class PermissionDeniedError(PubkitError):
    """Authenticated, but not allowed to do this."""

    http_status = 403
