"""Opaque access tokens, verified by asking the authorization server (RFC 7662).

The guard asks its verifiers in order and the first whose ``accepts`` is true owns the
token, so put :class:`IntrospectionVerifier` last: by default it accepts every token
that is not shaped like a JWS (three base64url segments), which leaves JWTs to a
``JWTVerifier`` and prefixed client tokens to a ``ClientTokenVerifier`` placed earlier.

A token it owns costs one call to the introspection endpoint on a cache miss. A spray
of random strings would be one call per string, so calls in flight are bounded
(``max_in_flight``): the excess is answered at once with a 503 and ``Retry-After: 1``,
never allowed and never sent; the guard remembers refusals for its
``negative_cache_ttl``. The HTTP client is httpx2 (``pip install
"bearerguard[introspection]"``), imported when a verifier is built.
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from .._throttle import Throttle
from ..exceptions import ServiceUnavailableError
from ..principal import Principal
from ._introspection_http import (
    Unavailable,
    client_options,
    form_request,
    load_httpx,
    read_async,
    read_sync,
)
from ._introspection_response import Expectations, principal_from
from ._metadata import ProviderMetadata, check_fetch_url

if TYPE_CHECKING:
    import httpx2

__all__ = ["IntrospectionVerifier"]

logger = logging.getLogger("bearerguard")

_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
_UNAVAILABLE = "The token introspection endpoint is unavailable"
_BUSY = "Too many token introspections in flight"
_NO_ENDPOINT = "The identity provider publishes no usable introspection endpoint"


class IntrospectionVerifier:
    """Verify opaque access tokens at the authorization server's introspection endpoint.

    Args:
        endpoint: The introspection endpoint (``https``; plain ``http`` to loopback only).
        issuer: The issuer: its metadata's ``introspection_endpoint`` is used when no
            ``endpoint`` is given (discovery), and the response's ``iss`` must equal it.
        client_id: This resource server's client at the authorization server.
        client_secret: Its secret.
        audience: Required: the response's ``aud`` (a string or a list) must contain
            one of these values; or ``ANY_AUDIENCE`` to accept any audience unchecked.
        client_ids: The alternative for providers that name the client instead of an
            audience: the response's ``client_id`` must be one of them. With both
            given, both are checked.
        accepts: Which tokens this verifier owns: a predicate, or a regular expression
            (text or compiled) the whole token must match. Default: anything that is
            not shaped like a JWS.
        kind: The kind of the principals produced.
        auth_method: ``"client_secret_basic"`` (default) or ``"client_secret_post"``.
        timeout: Seconds one introspection may take, connection included.
        max_in_flight: Most introspections at once; the excess is answered 503 at once.
        wildcard_scopes: Honour ``*`` and ``prefix.*`` in granted scopes (bearerguard's
            own convention); off by default, as a provider does not mean them.
        leeway: Seconds of clock skew allowed on ``exp`` and ``nbf`` (at most 300).
        clock: Wall clock in UNIX seconds (tests inject one).

    Raises:
        ValueError: an incomplete or unsafe configuration (no audience, say).
        ImportError: httpx2 is not installed.
    """

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        issuer: str | None = None,
        client_id: str,
        client_secret: str,
        audience: str | Iterable[str] | None = None,
        client_ids: Iterable[str] | None = None,
        accepts: Callable[[str], bool] | str | re.Pattern[str] | None = None,
        kind: str = "oauth",
        auth_method: str = "client_secret_basic",
        timeout: float = 5.0,
        max_in_flight: int = 16,
        wildcard_scopes: bool = False,
        leeway: float = 0.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._httpx = load_httpx()
        if endpoint is None and issuer is None:
            raise ValueError("give endpoint= or issuer= (to discover the endpoint)")
        if endpoint is not None:
            check_fetch_url(endpoint, "endpoint")
        self._metadata = (
            ProviderMetadata(issuer, timeout=timeout) if issuer and endpoint is None else None
        )
        if issuer is not None and not (isinstance(issuer, str) and issuer):
            raise ValueError("issuer must be a non-empty string: iss is matched exactly")
        for name, value in (("client_id", client_id), ("client_secret", client_secret)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
        if not isinstance(kind, str) or not kind:
            raise ValueError("kind must be a non-empty string")
        if auth_method not in _AUTH_METHODS:
            raise ValueError(f"auth_method must be one of {', '.join(_AUTH_METHODS)}")
        if not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
            raise ValueError("timeout must be a positive number of seconds")
        if (
            isinstance(max_in_flight, bool)
            or not isinstance(max_in_flight, int)
            or max_in_flight < 1
        ):
            raise ValueError("max_in_flight must be a positive integer")
        if not 0 <= leeway <= 300:
            raise ValueError("leeway must be between 0 and 300 seconds")
        self.endpoint = endpoint
        self.issuer = issuer
        self.kind = kind
        self.auth_method = auth_method
        self.leeway = float(leeway)
        self._expect = Expectations.build(
            issuer=issuer,
            audience=audience,
            client_ids=client_ids,
            kind=kind,
            literal_scopes=not wildcard_scopes,
            leeway=self.leeway,
        )
        self._accepts = _classifier(accepts)
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeout = float(timeout)
        self._slots = threading.BoundedSemaphore(max_in_flight)
        self._clock = clock
        self._lock = threading.Lock()
        self._throttle = Throttle(time.monotonic)  # an outage fails every call alike
        self._client: httpx2.Client | None = None
        # Made once (the TLS context is the costly part), off the event loop.
        self._options = client_options(self._httpx, self._timeout, max_in_flight)

    def __repr__(self) -> str:
        source = f"endpoint={self.endpoint!r}" if self.endpoint else f"issuer={self.issuer!r}"
        return f"IntrospectionVerifier({source}, kind={self.kind!r})"

    @property
    def metadata(self) -> ProviderMetadata | None:
        """The issuer's metadata, when the endpoint is discovered from it."""
        return self._metadata

    def accepts(self, token: str) -> bool:
        """True for the tokens this verifier owns (see ``accepts=``)."""
        return self._accepts(token)

    def verify(self, token: str) -> Principal:
        """Introspect the token (blocking) and return its principal.

        Raises:
            UnauthenticatedError: inactive, expired, foreign or sender-constrained.
            ServiceUnavailableError: the endpoint cannot answer, or too many calls are
                in flight.
        """
        url = self._endpoint(None if self._metadata is None else self._metadata.get())
        content, headers = self._request(token)
        with self._slot():
            body = self._post(url, content, headers)
        return self._principal(body, token)

    async def averify(self, token: str) -> Principal:
        """Introspect the token on the event loop, with no worker thread.

        Only discovery, when the metadata document must be fetched, runs in a thread.
        """
        document = None
        if self._metadata is not None:
            document = self._metadata.lookup()
            if document is None:
                import anyio.to_thread

                document = await anyio.to_thread.run_sync(self._metadata.get)
        url = self._endpoint(document)
        content, headers = self._request(token)
        with self._slot():
            body = await self._apost(url, content, headers)
        return self._principal(body, token)

    def _principal(self, body: bytes, token: str) -> Principal:
        try:
            return principal_from(body, token, self._expect, self._clock())
        except Unavailable as exc:
            raise self._unavailable(exc) from None

    def close(self) -> None:
        """Close the pooled connections of the blocking client."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _endpoint(self, document: Any) -> str:
        if document is None:
            assert self.endpoint is not None  # noqa: S101 - endpoint= or issuer= given
            return self.endpoint
        url = document.get("introspection_endpoint")
        try:
            check_fetch_url(url, "introspection_endpoint")
        except ValueError:
            logger.warning("issuer %r publishes no usable introspection_endpoint", self.issuer)
            raise ServiceUnavailableError(_NO_ENDPOINT) from None
        return str(url)

    def _request(self, token: str) -> tuple[bytes, dict[str, str]]:
        return form_request(
            token,
            self._client_id,
            self._client_secret,
            basic=self.auth_method == "client_secret_basic",
        )

    @contextlib.contextmanager
    def _slot(self) -> Iterator[None]:
        """One of the ``max_in_flight`` calls, or 503 at once; what the call raises, 503."""
        if not self._slots.acquire(blocking=False):
            raise ServiceUnavailableError(_BUSY, retry_after=1)
        try:
            yield
        except Exception as exc:
            raise self._unavailable(exc) from None
        finally:
            self._slots.release()

    def _unavailable(self, exc: Exception) -> ServiceUnavailableError:
        reason = exc.args[0] if isinstance(exc, Unavailable) else type(exc).__name__
        held = self._throttle.allow(reason)
        if held == 0:
            logger.warning("token introspection failed (%s)", reason)
        elif held:
            logger.warning("token introspection failed (%s), %d more times", reason, held)
        return ServiceUnavailableError(_UNAVAILABLE)

    def _post(self, url: str, content: bytes, headers: dict[str, str]) -> bytes:
        return read_sync(self._sync_client(), url, content, headers, self._timeout)

    async def _apost(self, url: str, content: bytes, headers: dict[str, str]) -> bytes:
        return await read_async(self._async_client(), url, content, headers, self._timeout)

    def _sync_client(self) -> httpx2.Client:
        with self._lock:
            if self._client is None:
                self._client = self._httpx.Client(**self._options)
            return self._client

    def _async_client(self) -> httpx2.AsyncClient:
        # A fresh client per call: a pooled connection belongs to the event loop that
        # opened it, and a verifier outlives loops (Starlette's TestClient runs one per
        # request). The TLS context, the costly part, is shared.
        client: httpx2.AsyncClient = self._httpx.AsyncClient(**self._options)
        return client


def _classifier(
    accepts: Callable[[str], bool] | str | re.Pattern[str] | None,
) -> Callable[[str], bool]:
    if accepts is None:
        return lambda token: _COMPACT_JWS.fullmatch(token) is None
    if isinstance(accepts, str):
        accepts = re.compile(accepts)
    if isinstance(accepts, re.Pattern):
        pattern = accepts
        return lambda token: pattern.fullmatch(token) is not None
    if callable(accepts):
        return accepts
    raise TypeError("accepts must be a predicate, a pattern or None")
