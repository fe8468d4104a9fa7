"""Verifying a token the cache does not hold: the only I/O a request can do.

:class:`Verifying` is a base of :class:`~bearerguard.Guard`: the request path
(:meth:`~bearerguard.Guard.decide`) calls ``_cached`` for every token and ``_verify``
or ``_averify`` only on a miss. One verification per token runs at a time (a single
flight, :mod:`bearerguard._flight`); what it ends with is cached by ``_keeper``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._dispatch import Entry, owner
from ._flight import Flight, Keep
from .cache import token_key
from .exceptions import MissingCredentialsError, UnauthenticatedError
from .headers import parse_authorization

if TYPE_CHECKING:
    from ._flight import AsyncFlights, Flights
    from .cache import VerificationCache
    from .principal import Principal
    from .revocation._guard import GuardRevocations
    from .rules import Requirement

__all__ = ["Miss", "Verifying"]


class Miss:
    """A request that needs its token verified: what the drivers finish."""

    __slots__ = ("key", "requirement", "token")

    def __init__(self, requirement: Requirement, token: str, key: bytes) -> None:
        self.requirement = requirement
        self.token = token
        self.key = key


class Verifying:
    """The token-verifying methods of :class:`~bearerguard.Guard`: cache, then verifier."""

    if TYPE_CHECKING:
        _cache: VerificationCache
        _clock: Callable[[], float]
        _entries: tuple[Entry, ...]
        _flights: Flights
        _aflights: AsyncFlights
        _revocations: GuardRevocations | None

    def authenticate(self, authorization: str | None) -> Principal:
        """Verify the bearer token in a raw ``Authorization`` value.

        Raises:
            MissingCredentialsError: no bearer token (401 with no error code).
            InvalidRequestError: malformed credentials (400).
            UnauthenticatedError: the token is refused (401).
            ServiceUnavailableError: the verifier cannot decide (503).
        """
        token = parse_authorization(authorization)
        if token is None:
            raise MissingCredentialsError()
        key = token_key(token)
        return self._cached(key) or self._verify(token, key)

    async def aauthenticate(self, authorization: str | None) -> Principal:
        """Async twin of :meth:`authenticate`, for ASGI.

        Uses a verifier's ``averify`` when it has one; otherwise its ``verify`` runs in
        a worker thread. A cache hit does no thread hop and no I/O.
        """
        token = parse_authorization(authorization)
        if token is None:
            raise MissingCredentialsError()
        key = token_key(token)
        return self._cached(key) or await self._averify(token, key)

    # -- the cache ------------------------------------------------------------------

    def invalidate(self, token: str) -> None:
        """Forget one token's cached result (after revoking it, say)."""
        self.invalidate_key(token_key(token))

    def invalidate_key(self, key: bytes) -> None:
        """Forget a cached result by its key: the SHA-256 digest of the token.

        A verification of that token still in flight is closed too: a request that
        arrives after this returns verifies afresh, and the flight's result, read
        before, is not cached.
        """
        self._flights.close(key)
        self._aflights.close(key)
        self._cache.discard(key)

    def clear_cache(self) -> None:
        """Forget every cached result."""
        self._cache.clear()

    # -- verification -----------------------------------------------------------------

    def _cached(self, key: bytes) -> Principal | None:
        """The cached principal, None on a miss; a cached refusal is raised."""
        cached = self._cache.get(key)
        if type(cached) is str:
            raise UnauthenticatedError(cached)
        return cached  # type: ignore[return-value]

    def _verify(self, token: str, key: bytes) -> Principal:
        entry = owner(self._entries, token)

        def work() -> Principal:
            # A thread that missed the cache just before an earlier flight for this
            # token stored its result and closed takes that result.
            principal = self._cached(key) or entry.call(token, self._clock)
            if self._revocations is not None:
                self._revocations.check(key, principal)
            return principal

        return self._flights.run(key, work, self._keeper(key, entry))

    async def _averify(self, token: str, key: bytes) -> Principal:
        entry = owner(self._entries, token)

        async def work() -> Principal:
            cached = self._cached(key)
            if cached is not None:
                return cached
            if entry.averify is not None:
                principal = await entry.acall(token, self._clock)
            else:
                import anyio.to_thread  # only async callers need it

                principal = await anyio.to_thread.run_sync(entry.call, token, self._clock)
            if self._revocations is not None:
                await self._revocations.acheck(key, principal)
            return principal

        return await self._aflights.run(key, work, self._keeper(key, entry))

    def _keeper(self, key: bytes, entry: Entry) -> Keep:
        """What a finished flight leaves in the cache: a principal or a refusal.

        The leader's use is recorded after the flights' lock is released: a
        ``record_use`` may invalidate this very token, which takes that lock.
        """

        def keep(flight: Flight) -> Callable[[], object] | None:
            principal = flight.principal
            if principal is not None:
                self._cache.put(key, principal, entry.deadline(principal), entry.record_use)
                if entry.record_use is not None:
                    return functools.partial(entry.record_use, principal)
            elif isinstance(flight.error, UnauthenticatedError):
                self._cache.put_refusal(key, flight.error.description)
            return None

        return keep
