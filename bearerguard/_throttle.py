"""Log lines that an outage repeats on every request, written at most once a while.

While a key server or database is down every request that needs it is a 503, and
each logged the same warning: thousands of identical lines a second bury the first
one, the one that says when it started. A :class:`Throttle` lets one line per reason
through per interval and says, in the next, how many it held back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["INTERVAL", "Throttle"]

INTERVAL = 10.0
"""Seconds between two lines for the same reason."""

_MAX_REASONS = 64  # descriptions are fixed strings: a few per verifier


class Throttle:
    """Which repeated log lines to write; thread-safe.

    Args:
        timer: Monotonic clock in seconds.
        interval: Least seconds between two lines with the same key.
    """

    def __init__(self, timer: Callable[[], float], interval: float = INTERVAL) -> None:
        self._timer = timer
        self._interval = interval
        self._last: dict[str, tuple[float, int]] = {}  # key: (when written, held back)
        self._lock = threading.Lock()

    def allow(self, key: str) -> int | None:
        """None to hold this line back; else how many were held back since the last."""
        now = self._timer()
        with self._lock:
            last = self._last.get(key)
            if last is not None and now - last[0] < self._interval:
                self._last[key] = (last[0], last[1] + 1)
                return None
            if last is None and len(self._last) >= _MAX_REASONS:
                self._last.clear()
            self._last[key] = (now, 0)
            return 0 if last is None else last[1]
