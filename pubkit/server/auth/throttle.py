"""Paced guessing: failed sign-ins are counted per client address and per account over a
sliding window; past the limit, the next attempts get 429 with Retry-After until the oldest
failure leaves the window. Per worker, in memory: with N workers (or replicas) a guesser gets
at most N times the limit, still far too few for passwords or tokens worth having.

An attempt is counted as a failure *before* its credentials are checked (:meth:`reserve`)
and forgiven when they prove right (:meth:`release`): two hundred concurrent guesses get
at most ``limit`` checks between them, not two hundred."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

MAX_KEYS = 100_000  # bounds memory under a flood of distinct addresses or names


@dataclass(frozen=True)
class Attempt:
    """An attempt counted in advance, to :meth:`FailureThrottle.release` if it succeeds."""

    keys: tuple[Hashable, ...]
    at: float


class FailureThrottle:
    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._failures: OrderedDict[Hashable, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def retry_after(self, *keys: Hashable) -> int | None:
        """Seconds until any of ``keys`` may try again; None if none of them is blocked."""
        now = self._clock()
        with self._lock:
            return self._wait(keys, now)

    def reserve(self, *keys: Hashable) -> Attempt | int:
        """Count an attempt on ``keys`` as failed, before it is checked: the Attempt, or,
        when any key is at its limit, the seconds until it may try again (nothing counted)."""
        now = self._clock()
        with self._lock:
            wait = self._wait(keys, now)
            if wait is not None:
                return wait
            self._record(keys, now)
        return Attempt(keys, now)

    def _wait(self, keys: tuple[Hashable, ...], now: float) -> int | None:
        wait = 0.0
        for key in keys:
            times = self._failures.get(key)
            if times is None:
                continue
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) >= self.limit:
                wait = max(wait, times[0] + self.window - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def release(self, attempt: Attempt) -> None:
        """The attempt succeeded (or was never checked): it no longer counts."""
        with self._lock:
            for key in attempt.keys:
                times = self._failures.get(key)
                if times is not None and attempt.at in times:
                    times.remove(attempt.at)

    def _record(self, keys: tuple[Hashable, ...], now: float) -> None:
        for key in keys:
            times = self._failures.setdefault(key, deque(maxlen=self.limit))
            times.append(now)
            self._failures.move_to_end(key)
        while len(self._failures) > MAX_KEYS:
            self._failures.popitem(last=False)

    def failed(self, *keys: Hashable) -> None:
        now = self._clock()
        with self._lock:
            self._record(keys, now)
