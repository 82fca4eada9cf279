"""Failed sign-ins counted per key over a sliding minute."""

from __future__ import annotations

from pubkit.server.auth.throttle import FailureThrottle


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_key_is_blocked_past_the_limit_until_its_oldest_failure_expires() -> None:
    clock = Clock()
    throttle = FailureThrottle(limit=3, window=60.0, clock=clock)
    for _ in range(2):
        throttle.failed("address", "alice")
        clock.now += 10
    assert throttle.retry_after("address", "alice") is None
    throttle.failed("address", "alice")  # the third, at t+20
    assert throttle.retry_after("address") == 40  # the first failure leaves at t+60
    assert throttle.retry_after("elsewhere", "alice") == 40  # either key blocks
    assert throttle.retry_after("elsewhere", "bob") is None
    clock.now += 40
    assert throttle.retry_after("address", "alice") is None


def test_attempts_count_before_they_are_checked_and_successes_are_forgiven() -> None:
    clock = Clock()
    throttle = FailureThrottle(limit=3, window=60.0, clock=clock)
    # Three concurrent attempts take the three places; a fourth is refused before any
    # of them has been checked.
    attempts = [throttle.reserve("address", "alice") for _ in range(3)]
    assert throttle.reserve("address", "mallory") == 60
    # One succeeds: its place is free again, the two failures stay.
    first = attempts[0]
    assert not isinstance(first, int)
    throttle.release(first)
    fourth = throttle.reserve("address", "alice")
    assert not isinstance(fourth, int)
    assert throttle.reserve("address") == 60
    clock.now += 60
    assert not isinstance(throttle.reserve("address"), int)
