"""Failed sign-ins in the audit log, paced: at most one row per client address and account
per window (a minute), carrying how many failures it stands for, so that a flood of wrong
passwords cannot fill the audit table. Per worker, in memory, like the sign-in throttle
(which, past its limit, stops failures from reaching this far at all)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable

MAX_KEYS = 100_000  # bounds memory under a flood of distinct addresses or names


class FailedSignInAudit:
    def __init__(self, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.window = window
        self._clock = clock
        # key -> (when its last row was written, failures since then not in any row)
        self._rows: OrderedDict[Hashable, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def failed(self, key: Hashable) -> int | None:
        """Count a failure for ``key``; how many failures a row written now stands for (this
        one and those held back since the last row), or None when a row was written for
        ``key`` less than a window ago."""
        now = self._clock()
        with self._lock:
            last = self._rows.get(key)
            if last is not None and now - last[0] < self.window:
                self._rows[key] = (last[0], last[1] + 1)
                return None
            self._rows[key] = (now, 0)
            self._rows.move_to_end(key)
            while len(self._rows) > MAX_KEYS:
                self._rows.popitem(last=False)
            return (last[1] if last is not None else 0) + 1
