"""Authorization server metadata (discovery): where an issuer publishes its endpoints.

``ProviderMetadata(issuer)`` fetches the issuer's metadata document lazily, keeps it,
refreshes it on a schedule and never throws a good document away because a refresh
failed, as the JWKS cache does with keys. Two well-known locations are tried:

1. OpenID Connect Discovery 1.0 section 4: ``<issuer>/.well-known/openid-configuration``
   (the issuer without its trailing slash, then the suffix).
2. RFC 8414 section 3.1: ``/.well-known/oauth-authorization-server`` inserted between
   the host and the issuer's path (``https://h/tenant`` becomes
   ``https://h/.well-known/oauth-authorization-server/tenant``).

OpenID Connect first, because every provider this library is pointed at in practice
(Auth0, Okta, Entra ID, Keycloak, Cognito, oidc-provider) serves it, and Entra ID,
Cognito and Auth0 serve nothing at the RFC 8414 location: trying RFC 8414 first would
cost those a failed request on every fetch. RFC 8414 is tried when the first location
answers with an HTTP error or an unusable document (a plain OAuth server), not when the
host cannot be reached or timed out: both locations are on the same host, and a second
try would only double the time a caller waits.

A document is usable only when it is a JSON object whose ``issuer`` equals the
configured issuer exactly (RFC 8414 section 3.3, OpenID Connect Discovery section 4.3):
no trailing-slash or case folding, since the issuer is also what ``iss`` is compared
with. Anything else is "cannot decide": :class:`ServiceUnavailableError` (503),
logged with the reason, never with the document's contents.
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
import urllib.error
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .._urls import check_url as check_fetch_url
from ..exceptions import ServiceUnavailableError
from ._fetch import fetch_url

__all__ = ["ProviderMetadata", "check_fetch_url", "discovery_urls", "retry_after"]

logger = logging.getLogger("bearerguard")

Fetcher = Callable[[str, float], bytes]
_UNAVAILABLE = "The identity provider's metadata is unavailable"
_OIDC_SUFFIX = "/.well-known/openid-configuration"
_RFC8414_PREFIX = "/.well-known/oauth-authorization-server"


def retry_after(seconds: float) -> int:
    """``Retry-After`` for a 503 until the next fetch is allowed: whole seconds, at least 1.

    A client told to come back in 5 s while fetches stay off for 10 would only meet
    the same 503 again.
    """
    return max(1, math.ceil(seconds))


def discovery_urls(issuer: str) -> tuple[str, str]:
    """The OpenID Connect Discovery URL and the RFC 8414 URL of an issuer, in that order."""
    parts = urlsplit(issuer)
    path = parts.path.rstrip("/")  # RFC 8414 section 3.1: drop a terminating "/"
    oidc = urlunsplit((parts.scheme, parts.netloc, path + _OIDC_SUFFIX, "", ""))
    rfc8414 = urlunsplit((parts.scheme, parts.netloc, _RFC8414_PREFIX + path, "", ""))
    return oidc, rfc8414


class ProviderMetadata:
    """An issuer's metadata document, fetched on first use and refreshed on a schedule.

    No I/O happens at construction, so an app starts while its provider is down.
    Fetches are coalesced (one at a time); callers that find a document held do not
    wait for a scheduled refresh another caller is making. Thread-safe.

    Args:
        issuer: The issuer identifier, exactly as the provider writes it (``https``
            with no query or fragment; plain ``http`` to loopback for development).
        timeout: Seconds one fetch may take.
        refresh_interval: Seconds between scheduled refreshes of a held document.
        retry_interval: Seconds to wait after a failed fetch before trying again; until
            then callers are answered from the held document, or with a 503 at once.
        fetcher: ``fetcher(url, timeout) -> bytes``, replacing the HTTP client.
        timer: Monotonic clock for the schedule (tests inject one).

    Raises:
        ValueError: an issuer that is not a usable URL, or a bad interval.
    """

    def __init__(
        self,
        issuer: str,
        *,
        timeout: float = 5.0,
        refresh_interval: float = 3600.0,
        retry_interval: float = 10.0,
        fetcher: Fetcher | None = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        check_fetch_url(issuer, "issuer")
        parts = urlsplit(issuer)
        if parts.query or parts.fragment or "?" in issuer or "#" in issuer:
            raise ValueError("issuer must have no query or fragment (RFC 8414 section 2)")
        for option, seconds in (
            ("timeout", timeout),
            ("refresh_interval", refresh_interval),
            ("retry_interval", retry_interval),
        ):
            if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and seconds > 0):
                raise ValueError(f"{option} must be a positive number of seconds")
        self._issuer = issuer
        self.urls: tuple[str, ...] = discovery_urls(issuer)
        self._timeout = float(timeout)
        self._refresh_interval = float(refresh_interval)
        self._retry_interval = float(retry_interval)
        self._fetcher = fetcher or fetch_url
        self._timer = timer
        self._document: Mapping[str, Any] | None = None
        self._next_fetch = -math.inf
        self._fetched_at: float | None = None
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"ProviderMetadata({self._issuer!r})"

    @property
    def issuer(self) -> str:
        """The configured issuer identifier."""
        return self._issuer

    def age(self) -> float | None:
        """Seconds since the document held was fetched; None while none is held."""
        fetched_at = self._fetched_at
        return None if fetched_at is None else self._timer() - fetched_at

    def lookup(self) -> Mapping[str, Any] | None:
        """The held document when answering needs no I/O, else None.

        None means :meth:`get` would fetch (nothing held and a fetch allowed, or a
        refresh due) or fail at once (nothing held, inside the retry interval); the
        async callers run :meth:`get` in a worker thread then.
        """
        self._check_fork()
        document = self._document
        if document is None:
            return None
        if self._timer() >= self._next_fetch and not self._lock.locked():
            return None
        return document

    def get(self) -> Mapping[str, Any]:
        """The metadata document, fetching first when none is held or a refresh is due.

        Blocks for at most about ``timeout`` per location tried.

        Raises:
            ServiceUnavailableError: no usable document is held and none can be fetched.
        """
        self._check_fork()
        if self._timer() >= self._next_fetch:
            # With a document held, a refresh already in flight is not waited for.
            self._refresh(wait=self._document is None)
        document = self._document
        if document is None:
            wait = retry_after(self._next_fetch - self._timer())
            raise ServiceUnavailableError(_UNAVAILABLE, retry_after=wait)
        return document

    def _check_fork(self) -> None:
        """In a forked child no thread holds the lock: a fetch the parent had in flight
        would otherwise leave it locked for ever, and the first request hanging."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._lock = threading.Lock()

    def _refresh(self, *, wait: bool) -> None:
        lock = self._lock  # the one acquired is the one released, fork or not
        if not lock.acquire(blocking=wait):
            return  # a refresh is in flight and the held document serves meanwhile
        try:
            now = self._timer()
            if now < self._next_fetch:
                return  # another caller fetched (or failed) while this one waited
            document = self._fetch()
            if document is None:
                # Held or not, try again after the retry interval, not on every request.
                self._next_fetch = now + min(self._retry_interval, self._refresh_interval)
            else:
                self._document = document
                self._fetched_at = now
                self._next_fetch = now + self._refresh_interval
        finally:
            lock.release()

    def _fetch(self) -> Mapping[str, Any] | None:
        """The first usable document of the two locations, or None (logged)."""
        for url in self.urls:
            try:
                return self._usable(self._fetcher(url, self._timeout))
            except Exception as exc:
                reason = exc.args[0] if isinstance(exc, _Unusable) else type(exc).__name__
                if isinstance(exc, urllib.error.HTTPError):
                    reason = f"HTTP {exc.code}"
                logger.warning(
                    "provider metadata fetch failed for issuer %r at %s (%s); %s",
                    self._issuer,
                    url,
                    reason,
                    "keeping the held document" if self._document else "none held",
                )
                if isinstance(exc, OSError) and not isinstance(exc, urllib.error.HTTPError):
                    break  # unreachable or timed out: the other location is on that host too
        return None

    def _usable(self, body: bytes) -> Mapping[str, Any]:
        try:
            document = json.loads(body.decode("utf-8"))
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            raise _Unusable("not JSON") from None
        if not isinstance(document, dict):
            raise _Unusable("not a JSON object")
        if document.get("issuer") != self._issuer:
            # RFC 8414 section 3.3: the issuer must be identical, else the document
            # must not be used (it could be another tenant's, or a mix-up attack).
            raise _Unusable("its issuer is not the configured issuer (RFC 8414 section 3.3)")
        return MappingProxyType(document)


class _Unusable(ValueError):
    """A document that was fetched but must not be used; its argument is the reason."""
