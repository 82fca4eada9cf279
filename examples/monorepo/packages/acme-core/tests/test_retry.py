import pytest
from acme_core import RetryError, RetryPolicy, TransientError

NO_JITTER = RetryPolicy(attempts=4, base_delay=1.0, max_delay=3.0, jitter=0)


class Flaky:
    """Fails with ``error`` ``failures`` times, then returns "ok"."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "ok"


def test_retries_transient_errors_with_exponential_capped_backoff() -> None:
    pauses: list[float] = []
    operation = Flaky(3, TransientError("throttled"))

    assert NO_JITTER.call(operation, sleep=pauses.append) == "ok"
    assert operation.calls == 4
    assert pauses == [1.0, 2.0, 3.0]


def test_gives_up_after_the_last_attempt() -> None:
    operation = Flaky(10, TimeoutError("slow"))

    with pytest.raises(RetryError, match="gave up after 4 attempts") as caught:
        NO_JITTER.call(operation, sleep=lambda _: None)

    assert caught.value.attempts == 4
    assert isinstance(caught.value.__cause__, TimeoutError)


def test_other_errors_are_not_retried() -> None:
    operation = Flaky(1, ValueError("bad input"))

    with pytest.raises(ValueError, match="bad input"):
        NO_JITTER.call(operation, sleep=lambda _: None)
    assert operation.calls == 1


def test_the_caller_decides_what_is_retried() -> None:
    operation = Flaky(2, KeyError("not there yet"))

    result = NO_JITTER.call(
        operation, retry_if=lambda e: isinstance(e, KeyError), sleep=lambda _: None
    )

    assert result == "ok"


def test_jitter_stays_within_its_fraction() -> None:
    policy = RetryPolicy(base_delay=1.0, jitter=0.25)

    delays = [policy.backoff(1) for _ in range(200)]

    assert all(0.75 <= d <= 1.25 for d in delays)
    assert len(set(delays)) > 1
