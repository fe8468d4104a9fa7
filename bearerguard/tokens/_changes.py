"""Revoking and rotating in a store, remembered by the manager and told to its guards.

A verification may read a token's row just before a revoke or rotate changes it, and
cache the old state. So each change is noted before the store makes it, kept for a
while (longer than any store timeout), and a later use of such a cached token drops it
from every bound guard's cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import threading
import time
import weakref
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ._records import TokenRecord
    from ._store import TokenStore

__all__ = ["Cache", "Changes", "Publisher", "publish"]

logger = logging.getLogger("bearerguard")

# How long a revocation or rotation is remembered in this process, to catch a
# verification that read the row just before the change (longer than any store timeout).
_CHANGE_MEMORY = 300.0


class Cache(Protocol):
    """What revoke and rotate need of a bound guard (a protocol: no import of the core)."""

    def invalidate_key(self, key: bytes) -> None: ...


class Publisher(Protocol):
    """What revoke and rotate need of a revocation bus (a protocol: tokens import no bus,
    which imports the stores)."""

    def publish_key(self, key: bytes) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class _Change:
    deadline: float  # the token is refused from this UNIX time on (-inf: revoked)
    token_hash: bytes
    noted_at: float  # monotonic


class Changes:
    """Recent revocations and rotations of one manager, and the guards to tell."""

    def __init__(self) -> None:
        self._guards: weakref.WeakSet[Cache] = weakref.WeakSet()
        self._changes: dict[str, _Change] = {}
        self._lock = threading.Lock()

    def bind(self, guard: Cache) -> None:
        """Tell this guard (weakly held) of every change."""
        self._guards.add(guard)

    def forget(self, token_hash: bytes) -> None:
        """Drop the token with this digest from every bound guard's cache."""
        for guard in list(self._guards):
            guard.invalidate_key(token_hash)

    @contextlib.contextmanager
    def _changing(self, token_id: str, token_hash: bytes, deadline: float) -> Iterator[None]:
        """Note a change around the store call that makes it; undone if the call fails."""
        now = time.monotonic()
        with self._lock:
            previous = self._changes.get(token_id)
            self._changes = {
                known: change
                for known, change in self._changes.items()
                if now - change.noted_at < _CHANGE_MEMORY
            }
            self._changes[token_id] = _Change(deadline, token_hash, now)
        try:
            yield
        except BaseException:
            with self._lock:
                if previous is None:
                    self._changes.pop(token_id, None)
                else:
                    self._changes[token_id] = previous
            raise

    def revoke(self, store: TokenStore, record: TokenRecord, now: datetime) -> bool:
        """Revoke ``record`` in ``store``; False when it was no longer unrevoked there."""
        with self._changing(record.id, record.token_hash, -math.inf):
            done = store.revoke(record.id, now)
        if done:
            self.forget(record.token_hash)
        return done

    def rotate(
        self, store: TokenStore, record: TokenRecord, deadline: datetime, new: TokenRecord
    ) -> bool:
        """Shorten ``record``'s life to ``deadline`` and add ``new``, in one store call."""
        with self._changing(record.id, record.token_hash, deadline.timestamp()):
            done = store.rotate(record.id, deadline, new)
        if done:
            self.forget(record.token_hash)
        return done

    def deadline(self, token_id: str) -> float | None:
        """The UNIX time from which the token is refused, if it changed here lately."""
        change = self._changes.get(token_id) if self._changes else None
        return None if change is None else change.deadline

    def check_use(self, token_id: str, expires_at: datetime | None) -> None:
        """Drop a token from the guards' caches when it was cached in its old state."""
        if not self._changes:
            return
        change = self._changes.get(token_id)
        if change is not None and (expires_at is None or expires_at.timestamp() > change.deadline):
            # A verification that raced a revoke or rotate cached the old state.
            self.forget(change.token_hash)


def publish(bus: Publisher | None, record: TokenRecord) -> None:
    """Publish a revoked or rotated token's cache key on ``bus``, if there is one.

    A bus that fails is logged, not raised: the store has the change, and other
    processes see it within their ``cache_ttl``.
    """
    if bus is None:
        return
    try:
        bus.publish_key(record.token_hash)
    except Exception as exc:  # a bus's error names no token: buses see only hashes
        logger.warning("client token %s changed but not published: %s", record.id, exc)
