"""What a Guard with a revocation bus does: evict on messages, check misses, revoke.

The guard holds one :class:`GuardRevocations`; the bus holds it weakly and calls
:meth:`~GuardRevocations.evict` from its listening thread. Nothing here runs on a
cache hit: the revocation list is read once per verification miss, after the
verifier accepted the token, in the same single flight.

Why a revocation list that cannot be read means 503 on a miss, while a bus that is
down never fails a request: the two guard different things. A lost subscription
only delays evictions of entries that are already bounded by ``cache_ttl``, so the
guard falls back to that bound. A JWT, though, is valid until its ``exp`` without
the list: answering a miss without reading it would let a revoked token in for
hours. A verification that cannot be completed fails closed (503, like a verifier
that cannot decide); cached tokens keep working meanwhile.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from ..cache import token_key
from ..exceptions import ServiceUnavailableError, UnauthenticatedError
from ._bus import RevocationBus, RevocationError
from ._message import Revocation, jti_id, subject_id

if TYPE_CHECKING:
    from ..guard import Guard
    from ..principal import Principal

__all__ = ["REVOKED", "GuardRevocations", "Revoking"]

logger = logging.getLogger("bearerguard")

REVOKED = "The access token was revoked"


def _text(principal: Principal, name: str) -> str | None:
    value = principal.claims.get(name)
    return value if isinstance(value, str) and value else None


def _ids(key: bytes, principal: Principal) -> tuple[str, ...]:
    ids = ["k" + key.hex()]
    issuer = _text(principal, "iss")
    if issuer is not None:
        jti = principal.token_id
        if jti is not None:
            ids.append(jti_id(issuer, jti))
        if principal.subject:
            ids.append(subject_id(issuer, principal.subject))
    return tuple(ids)


class _Index:
    """Cache keys of recently verified tokens by jti and subject id, for evictions.

    Bounded at twice the cache's size: each cached entry was indexed when it was
    verified, so the cache's most recent ``maxsize`` keys are always among the
    index's most recent ``2 * maxsize`` (an index entry too many costs nothing).
    """

    def __init__(self, maxsize: int) -> None:
        self._maxsize = 2 * max(1, maxsize)
        self._ids: OrderedDict[bytes, tuple[str, ...]] = OrderedDict()
        self._keys: dict[str, set[bytes]] = {}
        self._lock = threading.Lock()

    def add(self, key: bytes, ids: tuple[str, ...]) -> None:
        with self._lock:
            self._drop(key)
            self._ids[key] = ids
            for record_id in ids:
                self._keys.setdefault(record_id, set()).add(key)
            while len(self._ids) > self._maxsize:
                self._drop(next(iter(self._ids)))

    def _drop(self, key: bytes) -> None:
        for record_id in self._ids.pop(key, ()):
            keys = self._keys.get(record_id)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._keys[record_id]

    def keys(self, record_id: str) -> list[bytes]:
        with self._lock:
            return list(self._keys.get(record_id, ()))

    def clear(self) -> None:
        with self._lock:
            self._ids.clear()
            self._keys.clear()


class GuardRevocations:
    """One guard's side of a revocation bus.

    Args:
        guard: The guard whose cache is kept (weakly held).
        bus: The bus it subscribes to and revokes through.
        maxsize: The guard's ``cache_maxsize``.
        clock: The guard's wall clock.
    """

    def __init__(
        self, guard: Guard, bus: RevocationBus, maxsize: int, clock: Callable[[], float]
    ) -> None:
        for name in ("publish", "subscribe", "record", "lookup"):
            if not callable(getattr(bus, name, None)):
                raise TypeError(f"{bus!r} is not a revocation bus (it has no {name})")
        self.bus = bus
        self._guard = weakref.ref(guard)
        self._clock = clock
        self._index = _Index(maxsize)
        self._listed = bool(getattr(bus, "revocation_list", True))
        self._leeway = max(float(getattr(v, "leeway", 0.0) or 0.0) for v in guard.verifiers)
        bus.subscribe(self)

    # -- from the bus's thread --------------------------------------------------------

    def evict(self, revocation: Revocation) -> None:
        """Drop the cached entries a revocation names."""
        guard = self._guard()
        if guard is None:
            return
        keys = [] if revocation.key is None else [revocation.key]
        for record_id in revocation.ids:
            if record_id[0] != "k":  # a jti or a subject: the keys verified with it
                keys.extend(self._index.keys(record_id))
        for key in keys:
            guard.invalidate_key(key)

    def reset(self) -> None:
        """Drop the whole cache: the subscription (re)started."""
        guard = self._guard()
        if guard is not None:
            guard.clear_cache()
        self._index.clear()

    # -- on a verification miss -------------------------------------------------------

    def check(self, key: bytes, principal: Principal) -> None:
        """Refuse a freshly verified token that the revocation list names.

        Raises:
            UnauthenticatedError: it is revoked.
            ServiceUnavailableError: the list could not be read in time.
        """
        ids = _ids(key, principal)
        found: dict[str, float] = {}
        if self._listed:
            try:
                found = self.bus.lookup(ids, self._clock())
            except RevocationError as exc:
                logger.warning("revocation list cannot decide: %s", exc)
                raise ServiceUnavailableError() from None
        for record_id in found:
            if record_id[0] != "s":
                raise UnauthenticatedError(REVOKED)
            issued_at = principal.claims.get("iat")
            # No iat: the token cannot show it is newer than the logout.
            if not isinstance(issued_at, (int, float)) or issued_at < found[record_id]:
                raise UnauthenticatedError(REVOKED)
        if len(ids) > 1:
            self._index.add(key, ids)

    async def acheck(self, key: bytes, principal: Principal) -> None:
        """:meth:`check` in a worker thread, off the event loop (when it does I/O)."""
        if not self._listed:
            return self.check(key, principal)
        import anyio.to_thread

        await anyio.to_thread.run_sync(self.check, key, principal)

    # -- revoking ---------------------------------------------------------------------

    def revoke(self, principal: Principal, token: str) -> None:
        """Record and publish the revocation of a verified token."""
        key = token_key(token)
        issuer = _text(principal, "iss")
        jti = principal.token_id if issuer is not None else None
        expires_at = principal.expires_at
        until = None if expires_at is None else expires_at.timestamp() + self._leeway
        self.apply(Revocation(key=key, issuer=issuer, jti=jti), until)

    def revoke_jti(self, issuer: str, jti: str, until: float) -> None:
        """Record and publish the revocation of an issuer's token by its ``jti``."""
        self.apply(Revocation(issuer=issuer, jti=jti), until)

    def revoke_subject(self, issuer: str, subject: str, before: float, until: float) -> None:
        """Record and publish the revocation of a subject's tokens issued before."""
        self.apply(Revocation(issuer=issuer, subject=subject, before=before), until)

    def apply(self, revocation: Revocation, until: float | None) -> None:
        """Record, evict here, then publish to the other processes.

        Raises:
            RevocationError: it could not be recorded (nothing changed).
        """
        if not self._listed:
            raise RevocationError(f"{self.bus!r} keeps no revocation list (revocation_list=False)")
        self.bus.record(revocation, until)
        self.evict(revocation)
        try:
            self.bus.publish(revocation)
        except RevocationError as exc:
            # Recorded: every process refuses it on its next verification; only the
            # entries cached elsewhere live on, at most cache_ttl.
            logger.warning("revocation recorded but not published: %s", exc)


def _seconds(value: datetime, name: str) -> float:
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.timestamp()


class Revoking:
    """The revoking methods of :class:`~bearerguard.Guard` (they need a revocation bus).

    Each raises ``RuntimeError`` on a guard made without ``revocation_bus``.
    """

    if TYPE_CHECKING:
        _revocations: GuardRevocations | None
        _clock: Callable[[], float]

        def authenticate(self, authorization: str | None) -> Principal: ...
        async def aauthenticate(self, authorization: str | None) -> Principal: ...

    def _link(self) -> GuardRevocations:
        if self._revocations is None:
            raise RuntimeError("revoking needs Guard(..., revocation_bus=...)")
        return self._revocations

    def revoke(self, token: str) -> bool:
        """Refuse a token in every process until it expires.

        The token is verified first (a cache hit, or its verifier); it is then kept in
        the bus's revocation list until its ``exp``, dropped here and the eviction is
        published. Returns False, doing nothing, when the token is refused already.

        Raises:
            RevocationError: the list could not record it (nothing changed).
            ServiceUnavailableError: the token could not be verified now.
        """
        link = self._link()
        try:
            principal = self.authenticate(f"Bearer {token}")
        except UnauthenticatedError:
            return False
        link.revoke(principal, token)
        return True

    async def arevoke(self, token: str) -> bool:
        """Async twin of :meth:`revoke`; the bus calls run in a worker thread."""
        import anyio.to_thread

        link = self._link()
        try:
            principal = await self.aauthenticate(f"Bearer {token}")
        except UnauthenticatedError:
            return False
        await anyio.to_thread.run_sync(link.revoke, principal, token)
        return True

    def revoke_jti(self, issuer: str, jti: str, *, expires_at: datetime) -> None:
        """Refuse the token with this ``iss`` and ``jti`` (RFC 7519 section 4.1.7).

        Kept until ``expires_at``, the token's ``exp``.

        Raises:
            ValueError: a bad issuer, jti or time.
            RevocationError: the list could not record it (nothing changed).
        """
        self._link().revoke_jti(issuer, jti, _seconds(expires_at, "expires_at"))

    def revoke_subject(
        self, issuer: str, subject: str, *, expires_at: datetime, before: datetime | None = None
    ) -> None:
        """Refuse every token of ``subject`` from ``issuer`` issued before ``before``.

        ``before`` defaults to now; a token whose ``iat`` is earlier, or which has no
        ``iat``, is refused. Kept until ``expires_at``: the latest ``exp`` of the
        tokens it refuses (now plus the issuer's longest token lifetime).

        Raises:
            ValueError: a bad issuer, subject or time.
            RevocationError: the list could not record it (nothing changed).
        """
        link = self._link()
        cutoff = self._clock() if before is None else _seconds(before, "before")
        link.revoke_subject(issuer, subject, cutoff, _seconds(expires_at, "expires_at"))
