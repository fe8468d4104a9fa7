"""The bus port: what a guard and a token manager need of a revocation bus.

A bus does two things on one engine: it *publishes* revocations to every subscribed
process (pub/sub: Redis ``PUBLISH``, PostgreSQL ``NOTIFY``), and it *records* them in
a shared revocation list until the tokens expire, so that a process that missed the
message (or started later) still refuses a revoked JWT on its next verification.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ._message import Revocation

__all__ = ["BusStats", "RevocationBus", "RevocationError", "RevocationSink", "check_seconds"]


class RevocationError(Exception):
    """The bus could not publish, record or look up a revocation in time.

    Its message never holds a token (buses only ever see hashes) nor a password.
    """


class RevocationSink(Protocol):
    """What a bus delivers to: a guard's cache, through its revocation link."""

    def evict(self, revocation: Revocation) -> None:
        """Drop whatever the revocation names from the cache (must not block)."""
        ...

    def reset(self) -> None:
        """Drop every cached entry: the subscription (re)started and may have missed some."""
        ...


@dataclass(frozen=True, slots=True)
class BusStats:
    """A snapshot of one process's view of a bus.

    Attributes:
        connected: The subscription is up (a publisher-only bus: False).
        gaps: Times the subscription was lost, or could not be made, since start.
        gap_seconds: Total time without a subscription over the closed gaps.
        messages: Revocations received.
        publish_failures: Publishes that failed (the revocation reached this process
            and the revocation list, but not the others' caches).
    """

    connected: bool
    gaps: int
    gap_seconds: float
    messages: int
    publish_failures: int


class Counters:
    """The mutable counters behind :class:`BusStats` (one lock, rarely taken)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.connected = False
        self.gaps = 0
        self.gap_seconds = 0.0
        self.messages = 0
        self.publish_failures = 0

    def snapshot(self) -> BusStats:
        with self.lock:
            return BusStats(
                self.connected, self.gaps, self.gap_seconds, self.messages, self.publish_failures
            )

    def failed_publish(self) -> None:
        with self.lock:
            self.publish_failures += 1


@runtime_checkable
class RevocationBus(Protocol):
    """Anything with these methods can carry revocations between processes.

    ``revocation_list`` says whether the bus keeps a shared revocation list: when
    true, a guard reads it on every verification miss (and :meth:`record` works);
    when false the bus only carries evictions.
    """

    revocation_list: bool

    def publish(self, revocation: Revocation) -> None:
        """Send a revocation to every subscribed process, within the bus's timeout.

        Raises:
            RevocationError: it could not be sent.
        """
        ...

    async def apublish(self, revocation: Revocation) -> None:
        """Async twin of :meth:`publish`."""
        ...

    def publish_key(self, key: bytes) -> None:
        """:meth:`publish` the eviction of one token by its cache key (what a
        :class:`~bearerguard.tokens.TokenManager` sends on revoke and rotate)."""
        ...

    def subscribe(self, sink: RevocationSink) -> None:
        """Deliver this process's received revocations to ``sink`` (weakly held)."""
        ...

    def record(self, revocation: Revocation, expires_at: float | None) -> None:
        """Keep the revocation in the shared list until ``expires_at`` (None: for good).

        Raises:
            RevocationError: it could not be recorded.
        """
        ...

    def lookup(self, ids: Sequence[str], now: float) -> dict[str, float]:
        """The recorded ids among ``ids`` still in force, with their ``before`` (or 0).

        Raises:
            RevocationError: the list could not be read in time.
        """
        ...

    def stats(self) -> BusStats:
        """This process's counters for the bus."""
        ...

    def close(self) -> None:
        """Stop the subscription and close connections."""
        ...


def check_seconds(value: float, name: str) -> float:
    """Validate a positive, finite number of seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number of seconds")
    if not (0 < value < math.inf):
        raise ValueError(f"{name} must be a positive, finite number of seconds")
    return float(value)
