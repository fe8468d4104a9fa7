"""A JWKS client that never blocks the event loop, never forgets good keys, and
cannot be made to hammer the key server.

Compared with PyJWT's ``PyJWKClient``: a failed fetch keeps the keys already held
(security case K-03; PyJWT clears its cache), an unknown ``kid`` refetches at most
once per cooldown (K-01; PyJWT refetches on every miss), concurrent fetches coalesce,
redirects are not followed, the response size and time are bounded, and symmetric,
encryption or undersized keys in the set are ignored (K-07, J-04). A document with no
usable key counts as a failed fetch, so garbage never replaces a good set (K-06).
While a scheduled refresh is in flight, other callers keep using the held keys.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable

import jwt
from jwt.algorithms import get_default_algorithms

from ..exceptions import ServiceUnavailableError, UnauthenticatedError
from ._fetch import fetch_url

logger = logging.getLogger("bearerguard")

_UNKNOWN_KID = "The access token's signing key is unknown"
_UNAVAILABLE = "The signing keys are unavailable"
_KTY_ALGORITHMS = {
    "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    "EC": ("ES256", "ES384", "ES512", "ES256K"),
    "OKP": ("EdDSA", "Ed25519"),
}
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "ES256K": "secp256k1"}

Fetcher = Callable[[str, float], bytes]
KeyMap = dict[tuple[str | None, str], jwt.PyJWK]


def parse_jwks(body: bytes, algorithms: Iterable[str]) -> KeyMap:
    """Turn a JWKS document into ``{(kid, alg): PyJWK}`` for the allowed algorithms.

    Keys that are symmetric, meant for encryption, unusable, or whose algorithm is not
    allowed are skipped one by one; a document that is not a key set raises.
    """
    document = json.loads(body)
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK set")
    allowed = set(algorithms)
    keys: KeyMap = {}
    for entry in document["keys"]:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        kty = entry.get("kty")
        kid = entry.get("kid")
        if not isinstance(kty, str) or kty not in _KTY_ALGORITHMS:
            continue  # "oct" among others: never let a published secret sign tokens
        if kid is not None and not isinstance(kid, str):
            continue
        declared = entry.get("alg")
        candidates = [declared] if isinstance(declared, str) else list(_KTY_ALGORITHMS[kty])
        for algorithm in candidates:
            if algorithm not in allowed or algorithm not in _KTY_ALGORITHMS[kty]:
                continue
            if kty == "EC" and entry.get("crv") != _EC_CURVES.get(algorithm):
                continue
            try:
                key = jwt.PyJWK(entry, algorithm)
                if key.Algorithm.check_key_length(key.key):
                    continue  # an RSA key under 2048 bits, say (RFC 7518 section 3.3)
            except Exception:  # noqa: S112 - one broken key must not lose the others
                continue
            keys[(kid, algorithm)] = key
    return keys


class JWKSCache:
    """Keys from a JWKS URL, refreshed on a schedule and on an unknown ``kid``.

    Args:
        url: The JWKS endpoint.
        algorithms: The allowed algorithms; keys for others are ignored.
        refresh_interval: Seconds between scheduled refreshes.
        refetch_cooldown: Least seconds between two refetches caused by unknown kids.
        timeout: Seconds a fetch may take.
        fetcher: ``fetcher(url, timeout) -> bytes`` (tests inject one).
        timer: Monotonic clock.
    """

    def __init__(
        self,
        url: str,
        *,
        algorithms: Iterable[str],
        refresh_interval: float,
        refetch_cooldown: float,
        timeout: float = 5.0,
        fetcher: Fetcher = fetch_url,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
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
        self.fetches = 0

    def lookup(self, kid: str | None, algorithm: str) -> jwt.PyJWK | None:
        """The key for ``(kid, alg)`` when the answer needs no I/O, else None.

        None means a fetch comes first: nothing is held yet, a scheduled refresh is
        due (and none is in flight), or the kid is unknown and may trigger a refetch.

        Raises:
            UnauthenticatedError: the kid is unknown and no refetch is allowed yet.
        """
        keys = self._keys
        if keys is None:
            return None
        if self._timer() >= self._next_refresh and not self._lock.locked():
            return None
        key = _find(keys, kid, algorithm)
        if key is not None:
            return key
        if self._lock.locked() or self._refetch_allowed():
            return None
        raise UnauthenticatedError(_UNKNOWN_KID)

    def get(self, kid: str | None, algorithm: str) -> jwt.PyJWK:
        """The key for ``(kid, alg)``, fetching when due or when the kid is unknown.

        Raises:
            UnauthenticatedError: the kid is unknown and the key set is held.
            ServiceUnavailableError: no key set is held and none can be fetched.
        """
        if self._timer() >= self._next_refresh:
            # With keys held, a refresh already in flight is not waited for.
            self._refresh(self._generation, scheduled=True, wait=self._keys is None)
        keys = self._keys
        if keys is None:
            raise ServiceUnavailableError(_UNAVAILABLE)
        key = _find(keys, kid, algorithm)
        if key is not None:
            return key
        if self._lock.locked() or self._refetch_allowed():
            # Wait for a fetch in flight and share its keys, or refetch for this kid.
            self._refresh(self._generation, scheduled=False, wait=True)
            key = _find(self._keys, kid, algorithm)
            if key is not None:
                return key
        raise UnauthenticatedError(_UNKNOWN_KID)

    def _refetch_allowed(self) -> bool:
        return self._timer() - self._last_kid_refetch >= self._cooldown

    def _refresh(self, seen_generation: int, *, scheduled: bool, wait: bool) -> None:
        if not self._lock.acquire(blocking=wait):
            return  # a refresh is in flight and the held keys serve meanwhile
        try:
            if self._generation != seen_generation:
                return  # another caller fetched while this one waited: share its result
            now = self._timer()
            if scheduled and now < self._next_refresh:
                return  # refreshed between this caller's check and the lock
            if not scheduled:
                if now - self._last_kid_refetch < self._cooldown:
                    return  # another unknown kid used this window's refetch
                self._last_kid_refetch = now
            try:
                self.fetches += 1
                keys = parse_jwks(self._fetcher(self.url, self._timeout), self._algorithms)
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
                self._next_refresh = now + self._refresh_interval
            self._generation += 1
        finally:
            self._lock.release()


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


def supported_algorithms() -> frozenset[str]:
    """The algorithms PyJWT can verify here."""
    return frozenset(get_default_algorithms()) - {"none"}
