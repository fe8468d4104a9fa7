"""The verification cache: verified principals and recent refusals, keyed by SHA-256.

cachetools' ``TTLCache`` is the cache of record: it bounds the size, expires entries
and evicts, and every write holds one lock (it is not thread-safe). Reads, on the
path of every request, do not go through it: a plain dict mirrors each ``TTLCache``'s
live entries, each with its own monotonic deadline, and is read without the lock (a
``dict.get`` is atomic), which costs a fraction of ``TTLCache.__getitem__`` plus a lock
(and, on a miss, the ``KeyError`` it raises). A mirror is written only under the lock,
next to its ``TTLCache``, and loses every entry the ``TTLCache`` expires or evicts, so
a key absent from both mirrors is in neither cache. Because reads do not touch the
``TTLCache``, eviction under pressure takes the oldest entry rather than the least
recently used.
An entry lives at most ``ttl`` seconds (monotonic clock) and never past the
principal's own expiry, which is re-checked on every hit against the wall clock.
Refusals are kept for a short time in a separate, smaller cache, so a flood of bad
tokens can neither hammer a verifier nor evict the good entries.
``ServiceUnavailableError`` is never cached.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from typing import Any, Final, TypeVar

from cachetools import TTLCache

from .principal import Principal

__all__ = ["UseRecorder", "VerificationCache", "token_key"]

UseRecorder = Callable[[Principal], None]
_Entry = tuple[Principal, float, UseRecorder | None]
# The lock-free view of a live entry: principal, token deadline (wall clock), TTL
# deadline (monotonic timer), use recorder.
_Hit = tuple[Principal, float, float, UseRecorder | None]


_V = TypeVar("_V")


class _MirroredTTLCache(TTLCache[bytes, _V]):
    """A ``TTLCache`` that drops from ``mirror`` every key it expires or evicts."""

    def __init__(
        self, maxsize: int, ttl: float, timer: Callable[[], float], mirror: dict[bytes, Any]
    ) -> None:
        super().__init__(maxsize, ttl, timer=timer)
        self.mirror = mirror

    def expire(self, time: float | None = None) -> list[tuple[bytes, _V]]:
        expired = list(super().expire(time))
        for key, _ in expired:
            self.mirror.pop(key, None)
        return expired

    def popitem(self) -> tuple[bytes, _V]:
        key, value = super().popitem()
        self.mirror.pop(key, None)
        return key, value


def token_key(token: str) -> bytes:
    """The cache key of a token: its SHA-256 digest, never the token itself."""
    return hashlib.sha256(token.encode()).digest()


class VerificationCache:
    """Thread-safe positive and negative caches of verification results.

    Args:
        ttl: Longest life of a verified principal, in seconds (0 disables caching).
        maxsize: Most principals kept.
        negative_ttl: Life of a refusal, in seconds (0 disables negative caching).
        negative_maxsize: Most refusals kept.
        timer: Monotonic clock for TTLs.
        clock: Wall clock (UNIX seconds) for token expiry.
    """

    def __init__(
        self,
        *,
        ttl: float,
        maxsize: int,
        negative_ttl: float,
        negative_maxsize: int,
        timer: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl < 0 or negative_ttl < 0:
            raise ValueError("cache TTLs must not be negative")
        if maxsize < 0 or negative_maxsize < 0:
            raise ValueError("cache sizes must not be negative")
        self._hits: Final[dict[bytes, _Hit]] = {}
        self._positive: Final[TTLCache[bytes, _Entry]] = _MirroredTTLCache(
            maxsize if ttl > 0 else 0, ttl, timer, self._hits
        )
        self._ttl: Final = ttl
        self._timer: Final = timer
        # The refusals' mirror: description and TTL deadline.
        self._refusals: Final[dict[bytes, tuple[str, float]]] = {}
        self._negative: Final[TTLCache[bytes, str]] = _MirroredTTLCache(
            negative_maxsize if negative_ttl > 0 else 0, negative_ttl, timer, self._refusals
        )
        self._negative_ttl: Final = negative_ttl
        self._lock: Final = threading.Lock()
        self.clock: Final = clock

    def get(self, key: bytes) -> Principal | str | None:
        """A cached principal, a cached refusal's description, or None on a miss."""
        hit = self._hits.get(key)
        if hit is not None:
            principal, deadline, ttl_deadline, record_use = hit
            if self._timer() < ttl_deadline and self.clock() < deadline:
                if record_use is not None:
                    record_use(principal)
                return principal
        else:
            refusal = self._refusals.get(key)
            if refusal is None:
                return None  # in neither mirror, so in neither cache
            if self._timer() < refusal[1]:
                return refusal[0]
        # An entry past a deadline: the locked path decides and cleans up.
        with self._lock:
            try:
                principal, deadline, record_use = self._positive[key]
            except KeyError:
                return self._negative.get(key)
            if self.clock() >= deadline:
                # The token itself has expired: the entry must not outlive it. pop, not
                # del: del re-reads the timer and raises KeyError if the entry's TTL ran
                # out since the read just above.
                self._positive.pop(key, None)
                self._hits.pop(key, None)
                return None
        if record_use is not None:
            record_use(principal)
        return principal

    def put(self, key: bytes, principal: Principal, record_use: UseRecorder | None = None) -> None:
        """Remember a verified principal (never past its ``expires_at``).

        ``record_use`` is called with the principal on every later hit.
        """
        expires_at = principal.expires_at
        deadline = math.inf if expires_at is None else expires_at.timestamp()
        with self._lock:
            if self._positive.maxsize:
                # The mirror's TTL deadline is read first, so it is never later than
                # the TTLCache's; the TTLCache is written first, as its expiry may drop
                # an older mirror entry for this key.
                ttl_deadline = self._timer() + self._ttl
                self._positive[key] = (principal, deadline, record_use)
                self._hits[key] = (principal, deadline, ttl_deadline, record_use)
            # A key missing from the refusals' mirror is not in their TTLCache either.
            if key in self._refusals:
                del self._refusals[key]
                self._negative.pop(key, None)

    def put_refusal(self, key: bytes, description: str) -> None:
        """Remember that a token was refused (``invalid_token``) for a short while."""
        with self._lock:
            if self._negative.maxsize:
                ttl_deadline = self._timer() + self._negative_ttl  # never after the TTLCache's
                self._negative[key] = description
                self._refusals[key] = (description, ttl_deadline)

    def discard(self, key: bytes) -> None:
        """Forget everything about one token."""
        with self._lock:
            self._hits.pop(key, None)
            self._refusals.pop(key, None)
            self._positive.pop(key, None)
            self._negative.pop(key, None)

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._hits.clear()
            self._refusals.clear()
            self._positive.clear()
            self._negative.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._positive)
