"""What the Redis and PostgreSQL buses share: limits, bounded calls, counters, listener."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..stores._bounded import BoundedCalls
from ._bus import BusStats, Counters, RevocationError, RevocationSink, check_seconds
from ._message import Revocation
from ._subscriber import ListenerFactory, Subscriber

__all__ = ["SharedBus"]


class SharedBus:
    """The base of a bus shared between processes (not public: use an engine's class)."""

    timeout: float
    heartbeat: float
    revocation_list: bool

    def _share(
        self,
        what: str,
        listener: ListenerFactory,
        *,
        timeout: float,
        heartbeat: float,
        revocation_list: bool,
        max_concurrency: int,
    ) -> None:
        self.timeout = check_seconds(timeout, "timeout")
        self.heartbeat = check_seconds(heartbeat, "heartbeat")
        self.revocation_list = bool(revocation_list)
        self._what = what
        # The drivers' own timeouts bound one read or one connect, never a whole call
        # (a stalled peer, or connect + handshake + command): the bounded calls do.
        self._calls = BoundedCalls(what, timeout=self.timeout, max_concurrency=max_concurrency)
        self._counters = Counters()
        self._subscriber = Subscriber(
            what, listener, self._counters, timeout=self.timeout, heartbeat=self.heartbeat
        )

    def _failure(self, step: str, exc: BaseException) -> RevocationError:
        """The error for a failed call (its type only: a driver's text may hold a URL)."""
        if step == "publish":
            self._counters.failed_publish()
        return RevocationError(f"{self._what}: {step} failed ({type(exc).__name__})")

    if TYPE_CHECKING:  # each engine's own

        def publish(self, revocation: Revocation) -> None: ...

    def publish_key(self, key: bytes) -> None:
        """Publish the eviction of one token by its SHA-256 cache key."""
        self.publish(Revocation(key=key))

    def subscribe(self, sink: RevocationSink) -> None:
        """Deliver received revocations to ``sink``; starts this process's listener."""
        self._subscriber.add(sink)

    def stats(self) -> BusStats:
        """This process's counters."""
        return self._counters.snapshot()
