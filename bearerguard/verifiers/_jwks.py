"""A JWKS client that never blocks the event loop, never forgets good keys, and
cannot be made to hammer the key server.

Compared with PyJWT's ``PyJWKClient``: a failed fetch keeps the keys already held
(security case K-03; PyJWT clears its cache), an unknown ``kid`` refetches at most
once per cooldown (K-01; PyJWT refetches on every miss), concurrent fetches coalesce,
redirects are not followed, the response size and time are bounded, and symmetric,
encryption or undersized keys in the set are ignored (K-07, J-04). A document with no
usable key counts as a failed fetch, so garbage never replaces a good set (K-06).

Scheduled refreshes run in a background thread (:mod:`._refresher`), so no request
waits for one (issue N-17: a request that landed on the schedule used to make the
fetch and wait up to the fetch timeout). A request waits only when no key is held
yet, or for the one refetch an unknown ``kid`` may cause; either wait is bounded by
one fetch timeout, whether the request makes the fetch or joins one in flight.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable

import jwt

from ..exceptions import ServiceUnavailableError, UnauthenticatedError
from ._fetch import fetch_url
from ._keys import KeyMap, parse_jwks
from ._metadata import ProviderMetadata, check_fetch_url, retry_after
from ._refresher import Refresher

__all__ = ["Fetcher", "JWKSCache", "key_cache"]

logger = logging.getLogger("bearerguard")

_UNKNOWN_KID = "The access token's signing key is unknown"
_UNAVAILABLE = "The signing keys are unavailable"

Fetcher = Callable[[str, float], bytes]


class JWKSCache:
    """Keys from a JWKS URL, refreshed in the background and on an unknown ``kid``.

    Args:
        url: The JWKS endpoint, or a callable returning it (discovery: it may block,
            and raise :class:`ServiceUnavailableError` when the URL cannot be known).
        algorithms: The allowed algorithms; keys for others are ignored.
        refresh_interval: Seconds between scheduled refreshes.
        refetch_cooldown: Least seconds between two refetches caused by unknown kids.
        timeout: Seconds a fetch may take.
        fetcher: ``fetcher(url, timeout) -> bytes`` (tests inject one).
        timer: Monotonic clock.
        metadata: The provider metadata the URL is discovered from, when it is.

    Attributes:
        fetches: Fetch attempts finished so far, good or failed (for monitoring).
        metadata: The provider metadata the URL is discovered from, or None.
    """

    def __init__(
        self,
        url: str | Callable[[], str],
        *,
        algorithms: Iterable[str],
        refresh_interval: float,
        refetch_cooldown: float,
        timeout: float = 5.0,
        fetcher: Fetcher = fetch_url,
        timer: Callable[[], float] = time.monotonic,
        metadata: ProviderMetadata | None = None,
    ) -> None:
        self._locate = url if callable(url) else None
        self._url = None if callable(url) else url
        self._algorithms = tuple(algorithms)
        self._refresh_interval = refresh_interval
        self._cooldown = refetch_cooldown
        self._timeout = timeout
        self._fetcher = fetcher
        self._timer = timer
        self._keys: KeyMap | None = None
        self._next_refresh = -float("inf")
        self._last_kid_refetch = -float("inf")
        self._generation = 0
        self._lock = threading.Lock()
        self._pid = os.getpid()
        self._refresher = Refresher(self)
        self._fetched_at: float | None = None
        self.fetches = 0
        self.metadata = metadata

    @property
    def url(self) -> str | None:
        """The JWKS URL (with discovery: the last one found, None before that)."""
        return self._url

    def age(self) -> float | None:
        """Seconds since the key set held was fetched; None while none is held."""
        fetched_at = self._fetched_at
        return None if fetched_at is None else self._timer() - fetched_at

    def close(self) -> None:
        """Stop the background refresher; held keys keep answering."""
        self._refresher.stop()

    def lookup(self, kid: str | None, algorithm: str) -> jwt.PyJWK | None:
        """The key for ``(kid, alg)`` when the answer needs no I/O, else None.

        None means a fetch comes first: nothing is held yet, or the kid is unknown
        and a refetch is allowed or in flight.

        Raises:
            UnauthenticatedError: the kid is unknown and no refetch is allowed yet.
        """
        self._check_fork()
        keys = self._keys
        if keys is None:
            return None
        self._refresher.poke(due=self._timer() >= self._next_refresh)
        key = _find(keys, kid, algorithm)
        if key is not None:
            return key
        if self._lock.locked() or self._refetch_allowed():
            return None
        raise UnauthenticatedError(_UNKNOWN_KID)

    def get(self, kid: str | None, algorithm: str) -> jwt.PyJWK:
        """The key for ``(kid, alg)``, fetching first when none is held or the kid is
        unknown; waits at most about one fetch timeout.

        Raises:
            UnauthenticatedError: the kid is unknown and the key set is held.
            ServiceUnavailableError: no key set is held and none can be fetched.
        """
        self._check_fork()
        if self._keys is None:
            self.refresh(self._generation, kid_refetch=False)
            if self._keys is None:
                # Retry-After says when the next fetch is allowed, not a fixed guess.
                raise ServiceUnavailableError(_UNAVAILABLE, retry_after=retry_after(self.due_in()))
        self._refresher.poke(due=self._timer() >= self._next_refresh)
        key = _find(self._keys, kid, algorithm)
        if key is not None:
            return key
        if self._lock.locked() or self._refetch_allowed():
            # Join a fetch in flight and share its keys, or refetch for this kid.
            self.refresh(self._generation, kid_refetch=True)
            key = _find(self._keys, kid, algorithm)
            if key is not None:
                return key
        raise UnauthenticatedError(_UNKNOWN_KID)

    def due_in(self) -> float:
        """Seconds until the next scheduled refresh (zero or less: due now)."""
        return self._next_refresh - self._timer()

    def refresh(self, seen_generation: int | None = None, *, kid_refetch: bool) -> None:
        """Fetch the key set unless another caller fetched since ``seen_generation``.

        A scheduled refresh (``kid_refetch=False`` with keys held) happens only when
        due; a kid refetch only once per cooldown. Never raises: a failed fetch is
        logged and keeps the keys held.
        """
        if seen_generation is None:
            seen_generation = self._generation
        if not self._lock.acquire(timeout=self._timeout):
            return  # a fetch in flight overran its timeout: do not queue behind it
        try:
            if self._generation != seen_generation:
                return  # another caller fetched while this one waited: share its result
            now = self._timer()
            if not kid_refetch and now < self._next_refresh:
                return  # fetched (or failed: retry later) since this caller's check
            if kid_refetch:
                if now - self._last_kid_refetch < self._cooldown:
                    return  # another unknown kid used this window's refetch
                self._last_kid_refetch = now
            self._fetch(now)
            self._generation += 1
        finally:
            self._lock.release()

    def _fetch(self, now: float) -> None:
        try:
            if self._locate is not None:
                self._url = self._locate()
            assert self._url is not None  # noqa: S101 - set above or at construction
            keys = parse_jwks(self._fetcher(self._url, self._timeout), self._algorithms)
            if not keys:
                raise ValueError("no usable key in the JWK set")
        except Exception as exc:
            logger.warning(
                "JWKS fetch failed (%s); keeping %s keys",
                type(exc).__name__,
                0 if self._keys is None else len(self._keys),
            )
            # Try again after the cooldown rather than on every request.
            self._next_refresh = now + min(self._cooldown, self._refresh_interval)
        else:
            self._keys = keys
            self._fetched_at = now
            self._next_refresh = now + self._refresh_interval
        finally:
            self.fetches += 1

    def _refetch_allowed(self) -> bool:
        return self._timer() - self._last_kid_refetch >= self._cooldown

    def _check_fork(self) -> None:
        """In a forked child, no thread holds the lock or runs the refresher."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._refresher = Refresher(self)


def _find(keys: KeyMap | None, kid: str | None, algorithm: str) -> jwt.PyJWK | None:
    if keys is None:
        return None
    key = keys.get((kid, algorithm))
    if key is None and kid is None:
        # A token without a kid is usable only when the set has one key for its alg.
        matching = [value for (_, alg), value in keys.items() if alg == algorithm]
        if len(matching) == 1:
            return matching[0]
    return key


def key_cache(
    *,
    jwks_url: str | None,
    issuer: str | None,
    algorithms: tuple[str, ...],
    refresh_interval: float,
    refetch_cooldown: float,
    timeout: float,
    fetcher: Fetcher | None,
    timer: Callable[[], float] | None,
) -> JWKSCache:
    """The key cache of a verifier: from ``jwks_url``, else from the issuer's metadata.

    No I/O here: with discovery the metadata is fetched with the first key set, and its
    ``jwks_uri`` is held to the same https-or-loopback rule as a configured URL.

    Raises:
        ValueError: a bad URL or timing option.
    """
    for option, seconds in (("jwks_refresh_interval", refresh_interval), ("jwks_timeout", timeout)):
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"{option} must be a positive number of seconds")
    if not (math.isfinite(refetch_cooldown) and refetch_cooldown >= 0):
        raise ValueError("jwks_refetch_cooldown must be zero or more seconds")
    source: str | Callable[[], str]
    metadata: ProviderMetadata | None = None
    if jwks_url is not None:
        check_fetch_url(jwks_url, "jwks_url")
        source = jwks_url
    else:
        if issuer is None:
            raise ValueError("give exactly one of key= or jwks_url=, or issuer= to discover")
        metadata = discovered = ProviderMetadata(
            issuer, timeout=timeout, fetcher=fetcher, timer=timer or time.monotonic
        )

        def source() -> str:
            uri = discovered.get().get("jwks_uri")
            if not isinstance(uri, str):
                raise ValueError("the issuer's metadata has no jwks_uri")
            check_fetch_url(uri, "jwks_uri")
            return uri

    return JWKSCache(
        source,
        algorithms=algorithms,
        refresh_interval=refresh_interval,
        refetch_cooldown=refetch_cooldown,
        timeout=timeout,
        fetcher=fetcher or fetch_url,
        timer=timer or time.monotonic,
        metadata=metadata,
    )
