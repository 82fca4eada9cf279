"""The root of every Acme error, so that callers can catch ours apart from everyone else's."""


class AcmeError(Exception):
    """Base class of the errors raised by Acme packages."""


class ConfigError(AcmeError):
    """A setting is missing or has a value of the wrong type."""


class TransientError(AcmeError):
    """A failure worth retrying: a timeout, a throttled call, a full queue."""


class RetryError(AcmeError):
    """An operation still failed after the last attempt; the last error is ``__cause__``."""

    def __init__(self, message: str, attempts: int) -> None:
        super().__init__(message)
        self.attempts = attempts
