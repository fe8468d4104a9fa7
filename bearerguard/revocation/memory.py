"""MemoryRevocationBus: a bus and a revocation list inside one process, for tests."""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Sequence

from ._bus import BusStats, Counters, RevocationSink
from ._message import Revocation

__all__ = ["MemoryRevocationBus"]


class MemoryRevocationBus:
    """A revocation bus that reaches only the guards of this process.

    Publishing delivers to every subscribed guard before it returns; the revocation
    list is a dict pruned by expiry. For tests and single-process apps: it gives the
    API of the shared buses with none of their reach.

    Args:
        revocation_list: Keep the revocation list and have guards read it on every
            verification miss (False: evictions only, as with the shared buses).
        clock: Wall clock in UNIX seconds, for expiry (tests inject one).
    """

    def __init__(
        self, *, revocation_list: bool = True, clock: Callable[[], float] = time.time
    ) -> None:
        self.revocation_list = bool(revocation_list)
        self._clock = clock
        self._sinks: weakref.WeakSet[RevocationSink] = weakref.WeakSet()
        self._records: dict[str, tuple[float, float]] = {}  # id -> (before or 0, expires)
        self._lock = threading.Lock()
        self._counters = Counters()
        self._counters.connected = True
        self.published: list[Revocation] = []
        """Every revocation published, oldest first (what a test asserts on)."""

    def __repr__(self) -> str:
        return "MemoryRevocationBus()"

    def publish(self, revocation: Revocation) -> None:
        """Deliver to every subscribed guard of this process, now."""
        with self._lock:
            self.published.append(revocation)
            sinks = list(self._sinks)
        with self._counters.lock:
            self._counters.messages += 1
        for sink in sinks:
            sink.evict(revocation)

    def publish_key(self, key: bytes) -> None:
        """Publish the eviction of one token by its SHA-256 cache key."""
        self.publish(Revocation(key=key))

    async def apublish(self, revocation: Revocation) -> None:
        """Async twin of :meth:`publish` (it does no I/O)."""
        self.publish(revocation)

    def subscribe(self, sink: RevocationSink) -> None:
        """Deliver revocations to ``sink`` (weakly held)."""
        with self._lock:
            self._sinks.add(sink)

    def record(self, revocation: Revocation, expires_at: float | None) -> None:
        """Keep the revocation until ``expires_at`` (None: for good)."""
        until = float("inf") if expires_at is None else expires_at
        now = self._clock()
        with self._lock:
            self._records = {i: r for i, r in self._records.items() if r[1] > now}
            for record_id in revocation.ids:
                before, kept = self._records.get(record_id, (0.0, until))
                value = max(before, revocation.before or 0.0)
                self._records[record_id] = (value, max(kept, until))

    def lookup(self, ids: Sequence[str], now: float) -> dict[str, float]:
        """The recorded ids among ``ids`` still in force, with their ``before`` (or 0)."""
        records = self._records
        found = {}
        for record_id in ids:
            record = records.get(record_id)
            if record is not None and record[1] > now:
                found[record_id] = record[0]
        return found

    def stats(self) -> BusStats:
        """Always connected; ``messages`` counts what was published."""
        return self._counters.snapshot()

    def close(self) -> None:
        """Nothing to close."""
