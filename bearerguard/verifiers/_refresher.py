"""The background thread that keeps a JWKS cache's keys fresh (security case N-17).

One daemon thread per key cache, started on first use, never at import or
construction (an app must start while its identity provider is down). It sleeps until
the next scheduled refresh and makes it, so no request ever waits for one; a request
that finds a refresh due only wakes it (tests move an injected timer, and the wake-up
lets the thread see it). The thread holds the cache through a weak reference: when
the verifier is garbage-collected the thread is woken and ends; ``close()`` ends it
too. After ``os.fork()`` the cache sees a new process id and starts a new thread (a
child inherits no threads, and no thread of its own holds the cache's lock).
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Protocol

__all__ = ["Refresher"]

logger = logging.getLogger("bearerguard")

# Upper bound of one sleep: the thread re-reads the schedule at least this often.
_MAX_SLEEP = 60.0
# Lower bound, so a schedule that stays due (a lock held past its timeout) cannot spin.
_MIN_SLEEP = 0.01


class _Refreshable(Protocol):
    def due_in(self) -> float: ...

    def refresh(self, seen_generation: int | None = None, *, kid_refetch: bool) -> None: ...


class Refresher:
    """Runs the scheduled refreshes of one cache in a daemon thread."""

    def __init__(self, cache: _Refreshable) -> None:
        self._cache = weakref.ref(cache)
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._started = False
        self._start_lock = threading.Lock()
        # Wake the thread when the cache goes, so it ends instead of sleeping on.
        weakref.finalize(cache, self.stop)

    def poke(self, *, due: bool) -> None:
        """Start the thread on first use; wake it when a refresh is due. Never blocks."""
        if not self._started:
            self._start()
        if due:
            self._wake.set()

    def stop(self) -> None:
        """End the thread (it finishes a fetch in flight first, without waiting here)."""
        self._stopped.set()
        self._wake.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._started or self._stopped.is_set():
                return
            self._started = True
            threading.Thread(
                target=_run,
                args=(self._cache, self._wake, self._stopped),
                name="bearerguard-jwks-refresh",
                daemon=True,
            ).start()


def _run(
    cache_ref: weakref.ref[_Refreshable], wake: threading.Event, stopped: threading.Event
) -> None:
    while not stopped.is_set():
        wake.clear()  # before reading the schedule: a later poke is never lost
        cache = cache_ref()
        if cache is None:
            return
        try:
            if cache.due_in() <= 0:
                cache.refresh(kid_refetch=False)
            delay = cache.due_in()
        except Exception as exc:  # never let the thread die: the keys would go stale
            logger.warning("JWKS refresh failed (%s)", type(exc).__name__)
            delay = _MAX_SLEEP
        del cache  # sleep without keeping the cache (and its verifier) alive
        wake.wait(min(max(delay, _MIN_SLEEP), _MAX_SLEEP))
