"""Paced guessing: failed sign-ins are counted per client address and per account over a
sliding window; past the limit, the next attempts get 429 with Retry-After until the oldest
failure leaves the window. Per worker, in memory: with N workers (or replicas) a guesser gets
at most N times the limit, still far too few for passwords or tokens worth having."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable

MAX_KEYS = 100_000  # bounds memory under a flood of distinct addresses or names


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
        wait = 0.0
        with self._lock:
            for key in keys:
                times = self._failures.get(key)
                if times is None:
                    continue
                while times and times[0] <= now - self.window:
                    times.popleft()
                if len(times) >= self.limit:
                    wait = max(wait, times[0] + self.window - now)
        return max(1, math.ceil(wait)) if wait > 0 else None

    def failed(self, *keys: Hashable) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                times = self._failures.setdefault(key, deque(maxlen=self.limit))
                times.append(now)
                self._failures.move_to_end(key)
            while len(self._failures) > MAX_KEYS:
                self._failures.popitem(last=False)
