"""Retrying with exponential backoff: a small policy object, no decorator magic."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from acme_core.errors import ConfigError, RetryError, TransientError

T = TypeVar("T")

logger = logging.getLogger(__name__)


def is_transient(error: BaseException) -> bool:
    """Whether an error is worth another attempt (the default of :meth:`RetryPolicy.call`)."""
    return isinstance(error, TransientError | TimeoutError | ConnectionError)


@dataclass(frozen=True)
class RetryPolicy:
    """How often to try, and how long to wait in between.

    The pause before retry ``n`` is ``base_delay * multiplier ** (n - 1)``, capped at
    ``max_delay`` and spread by up to ``jitter`` (a fraction) so that clients that failed
    together do not retry together.
    """

    attempts: int = 3
    base_delay: float = 0.2
    max_delay: float = 10.0
    multiplier: float = 2.0
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ConfigError(f"retry attempts must be at least 1, not {self.attempts}")
        if self.base_delay < 0 or self.max_delay < 0 or not 0 <= self.jitter <= 1:
            raise ConfigError("retry delays must be >= 0 and jitter between 0 and 1")

    def backoff(self, retry: int) -> float:
        """The pause in seconds before retry number ``retry`` (1 for the first retry)."""
        delay = min(self.max_delay, self.base_delay * self.multiplier ** (retry - 1))
        # Spreading retries out, not cryptography.
        return delay * (1 + random.uniform(-self.jitter, self.jitter))  # noqa: S311

    def call(
        self,
        operation: Callable[[], T],
        *,
        retry_if: Callable[[BaseException], bool] = is_transient,
        sleep: Callable[[float], object] = time.sleep,
    ) -> T:
        """The result of ``operation()``, retried while it raises errors that ``retry_if`` accepts.

        Other errors propagate at once; when the attempts run out, :class:`RetryError` is
        raised from the last error.
        """
        attempt = 1
        while True:
            try:
                return operation()
            except Exception as error:
                if not retry_if(error):
                    raise
                if attempt >= self.attempts:
                    raise RetryError(
                        f"gave up after {attempt} attempts: {error}", attempts=attempt
                    ) from error
                delay = self.backoff(attempt)
                logger.warning(
                    "retrying after a transient error",
                    extra={"attempt": attempt, "delay": round(delay, 3), "error": repr(error)},
                )
                sleep(delay)
                attempt += 1
