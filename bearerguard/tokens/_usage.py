"""Recording ``last_used_at`` off the request path: a pending map and a flusher thread.

A request only puts ``token id -> time`` in a dict (no lock: one atomic store). A
daemon thread, started on the first use, writes what is due once per tick: a token's
first use within about a second, then at most one write per token per interval. A
failing write is logged and retried an interval later; it never reaches a request.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable

__all__ = ["UsageRecorder"]

logger = logging.getLogger("bearerguard")

Writer = Callable[[dict[str, float]], None]
"""``write({token_id: used_at_unix_seconds})``: one store round trip for the batch."""

_LIVE: weakref.WeakSet[UsageRecorder] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for recorder in list(_LIVE):
        recorder._reset_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _run(ref: weakref.ReferenceType[UsageRecorder], stop: threading.Event, tick: float) -> None:
    # Holds the recorder only while flushing, so an unused manager can be collected
    # (and this thread then ends).
    while not stop.wait(tick):
        recorder = ref()
        if recorder is None:
            return
        recorder.flush_due()
        del recorder


class UsageRecorder:
    """Batch token uses and write them at most once per token per ``interval``.

    Args:
        write: Writes one batch (raises on failure).
        interval: Least time between two writes for one token, in seconds.
        timer: Monotonic clock that measures the interval (tests inject one).
    """

    def __init__(
        self, write: Writer, *, interval: float, timer: Callable[[], float] = time.monotonic
    ) -> None:
        if not interval > 0:
            raise ValueError("last_used_interval must be a positive number of seconds")
        self.interval = float(interval)
        self.tick = min(1.0, self.interval)
        self._write = write
        self._timer = timer
        self._pending: dict[str, float] = {}
        self._written: dict[str, float] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        _LIVE.add(self)

    def record(self, token_id: str, used_at: float) -> None:
        """Note one use (called on the request path: no I/O, no lock, no waiting).

        One dict store, atomic on its own; the flusher only ever ``pop``s entries,
        so a use recorded while it works is kept for its next round, never lost.
        """
        self._pending[token_id] = used_at
        if self._thread is None:
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stop = threading.Event()
            thread = threading.Thread(
                target=_run,
                args=(weakref.ref(self), self._stop, self.tick),
                name="bearerguard-last-used",
                daemon=True,
            )
            thread.start()
            self._thread = thread

    def flush_due(self) -> None:
        """Write the uses that are due (the flusher thread calls this every tick)."""
        with self._lock:
            now = self._timer()
            due = self._take(
                token_id
                for token_id in self._pending.copy()
                if now - self._written.get(token_id, -self.interval) >= self.interval
            )
            self._written = {
                token_id: at for token_id, at in self._written.items() if now - at < self.interval
            }
            self._written.update(dict.fromkeys(due, now))
        self._send(due)

    def flush(self) -> None:
        """Write every pending use now, due or not (tests and shutdown)."""
        with self._lock:
            due = self._take(self._pending.copy())
            self._written.update(dict.fromkeys(due, self._timer()))
        self._send(due)

    def _take(self, token_ids: Iterable[str]) -> dict[str, float]:
        taken = {}
        for token_id in token_ids:
            used_at = self._pending.pop(token_id, None)
            if used_at is not None:
                taken[token_id] = used_at
        return taken

    def _send(self, due: dict[str, float]) -> None:
        if not due:
            return
        try:
            self._write(due)
        except Exception as exc:
            logger.warning(
                "could not record the last use of %d client tokens: %s",
                len(due),
                type(exc).__name__,
            )
            # Retried an interval later (_written is already set): a store that is
            # down gets no more than one attempt per token per interval. A newer use
            # recorded meanwhile wins.
            for token_id, used_at in due.items():
                self._pending.setdefault(token_id, used_at)

    def close(self) -> None:
        """Stop the flusher thread and write what is pending."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5.0)
        self.flush()

    def _reset_after_fork(self) -> None:
        # The child has no flusher thread and its lock may be held by a parent thread
        # that does not exist here; the parent writes its own pending uses.
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._pending = {}
        self._written = {}
