"""JWT access tokens (RFC 9068 style), verified with PyJWT.

Algorithms come from the configuration, never from the token. Key material in the
token header (``jwk``, ``jku``, ``x5u``, ``x5c``) is never read: keys come from ``key``
or from the configured ``jwks_url`` only.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwt.algorithms import get_default_algorithms

from ..exceptions import ServiceUnavailableError, UnauthenticatedError
from ..principal import Principal
from ._jwks import Fetcher, JWKSCache, fetch_url

__all__ = ["JWTVerifier"]

# A compact JWS: three base64url segments (RFC 7515 section 7.1).
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_HMAC = frozenset({"HS256", "HS384", "HS512"})
_HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}  # RFC 7518 section 3.2
_MAX_LEEWAY = 300
_EXPIRED = "The access token expired"
_INVALID = "The access token is invalid"
_NOT_YET = "The access token is not yet valid"
_AUDIENCE = "The access token is for another audience"
_ISSUER = "The access token is from another issuer"
_CLAIMS = "The access token has malformed claims"
# What PyJWT lets escape on hostile input besides its own errors (security case F-03).
_HOSTILE = (
    jwt.PyJWTError, TypeError, OverflowError, RecursionError, ValueError, KeyError,
    AttributeError, IndexError, UnicodeError,
)


class JWTVerifier:
    """Verify JWT access tokens with a fixed key or keys from a JWKS URL.

    Args:
        key: A public key (PEM text or bytes, a ``cryptography`` key object, or a JWK
            dict), or the shared secret for HMAC algorithms.
        jwks_url: Where to fetch the issuer's keys (``https``; plain ``http`` only to a
            loopback address, for development and tests).
        algorithms: Accepted algorithms. HMAC and public-key algorithms cannot be mixed,
            and ``none`` is never accepted.
        issuer: Required exact ``iss`` when given.
        audience: Required ``aud`` (exact, or a member of a list) when given.
        leeway: Clock skew allowed on ``exp``/``nbf``/``iat``, at most 300 seconds.
        scope_claim: The claim holding scopes: a space-separated string or a list. When
            it is ``scope`` and absent, ``scp`` is read instead (Azure, Okta).
        kind: The kind of the principals produced.
        jwks_refresh_interval: Seconds between scheduled JWKS refreshes.
        jwks_refetch_cooldown: Least seconds between refetches caused by unknown kids.
        jwks_timeout: Seconds one JWKS fetch may take.
        jwks_fetcher: ``fetcher(url, timeout) -> bytes``, replacing the HTTP client.

    Raises:
        ValueError: an unsafe or incomplete configuration.
    """

    def __init__(
        self,
        *,
        key: Any = None,
        jwks_url: str | None = None,
        algorithms: Iterable[str] = ("RS256",),
        issuer: str | None = None,
        audience: str | Iterable[str] | None = None,
        leeway: float = 30,
        scope_claim: str = "scope",
        kind: str = "oauth",
        jwks_refresh_interval: float = 300.0,
        jwks_refetch_cooldown: float = 10.0,
        jwks_timeout: float = 5.0,
        jwks_fetcher: Fetcher | None = None,
        jwks_timer: Callable[[], float] | None = None,
    ) -> None:
        if isinstance(algorithms, str):
            algorithms = (algorithms,)
        self.algorithms: tuple[str, ...] = tuple(algorithms)
        _check_algorithms(self.algorithms)
        if (key is None) == (jwks_url is None):
            raise ValueError("give exactly one of key= or jwks_url=")
        if not 0 <= leeway <= _MAX_LEEWAY:
            raise ValueError(f"leeway must be between 0 and {_MAX_LEEWAY} seconds")
        self.kind = kind
        self.issuer = issuer
        self.audience = audience if audience is None or isinstance(audience, str) else list(audience)
        self.leeway = leeway
        self.scope_claim = scope_claim
        self._options: dict[str, Any] = {
            "require": ["exp"],
            "verify_aud": audience is not None,
            "verify_iss": issuer is not None,
            "enforce_minimum_key_length": True,
        }
        self._key: Any = None
        self._jwks: JWKSCache | None = None
        if key is not None:
            self._key = _prepare_key(key, self.algorithms)
        else:
            assert jwks_url is not None
            _check_jwks_url(jwks_url)
            extra: dict[str, Any] = {} if jwks_timer is None else {"timer": jwks_timer}
            self._jwks = JWKSCache(
                jwks_url,
                algorithms=self.algorithms,
                refresh_interval=jwks_refresh_interval,
                refetch_cooldown=jwks_refetch_cooldown,
                timeout=jwks_timeout,
                fetcher=jwks_fetcher or fetch_url,
                **extra,
            )

    def __repr__(self) -> str:
        source = "key" if self._jwks is None else f"jwks_url={self._jwks.url!r}"
        return f"JWTVerifier({source}, algorithms={list(self.algorithms)!r}, kind={self.kind!r})"

    @property
    def jwks(self) -> JWKSCache | None:
        """The JWKS key cache, when keys come from a URL."""
        return self._jwks

    def accepts(self, token: str) -> bool:
        """True for anything shaped like a compact JWS."""
        return _COMPACT_JWS.fullmatch(token) is not None

    def verify(self, token: str) -> Principal:
        """Verify signature and claims; the principal of a good token.

        Raises:
            UnauthenticatedError: a bad, expired or foreign token.
            ServiceUnavailableError: keys are needed and none can be fetched.
        """
        if self._jwks is None:
            return self._decode(token, self._key)
        kid, algorithm = _header(token, self.algorithms)
        return self._decode(token, self._jwks.get(kid, algorithm))

    async def averify(self, token: str) -> Principal:
        """Verify on the event loop when no fetch is needed, else in a worker thread."""
        if self._jwks is None:
            return self._decode(token, self._key)
        kid, algorithm = _header(token, self.algorithms)
        key = self._jwks.lookup(kid, algorithm)
        if key is not None:
            return self._decode(token, key)
        import anyio.to_thread

        return await anyio.to_thread.run_sync(self.verify, token)

    def _decode(self, token: str, key: Any) -> Principal:
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options=self._options,  # type: ignore[arg-type]
            )
        except jwt.ExpiredSignatureError:
            raise UnauthenticatedError(_EXPIRED) from None
        except jwt.ImmatureSignatureError:
            raise UnauthenticatedError(_NOT_YET) from None
        except jwt.InvalidAudienceError:
            raise UnauthenticatedError(_AUDIENCE) from None
        except jwt.InvalidIssuerError:
            raise UnauthenticatedError(_ISSUER) from None
        except _HOSTILE:
            raise UnauthenticatedError(_INVALID) from None
        return self._principal(claims)

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        exp = claims.get("exp")
        # PyJWT accepts "exp": "123" (a string); RFC 7519 NumericDate is a number.
        for name in ("exp", "nbf", "iat"):
            value = claims.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise UnauthenticatedError(_CLAIMS)
        subject = claims.get("sub", "")
        client_id = claims.get("client_id", claims.get("azp"))
        token_id = claims.get("jti")
        for value in (subject, client_id, token_id):
            if value is not None and not _is_text(value):
                raise UnauthenticatedError(_CLAIMS)
        try:
            expires_at = datetime.fromtimestamp(exp, timezone.utc)  # type: ignore[arg-type]
        except (OverflowError, OSError, ValueError):
            raise UnauthenticatedError(_CLAIMS) from None
        return Principal(
            kind=self.kind,
            subject=subject or client_id or "",
            scopes=self._scopes(claims),
            client_id=client_id,
            token_id=token_id,
            expires_at=expires_at,
            claims=claims,
        )

    def _scopes(self, claims: Mapping[str, Any]) -> frozenset[str]:
        value = claims.get(self.scope_claim)
        if value is None and self.scope_claim == "scope":
            value = claims.get("scp")
        if value is None:
            return frozenset()
        if isinstance(value, str):
            return frozenset(value.split())
        if isinstance(value, list) and all(_is_text(item) for item in value):
            return frozenset(value)
        raise UnauthenticatedError(_CLAIMS)


def _is_text(value: object) -> bool:
    """A string that can be encoded (no lone surrogates, security case J-14)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _header(token: str, algorithms: tuple[str, ...]) -> tuple[str | None, str]:
    """The ``kid`` and ``alg`` of a token, read only to choose a key."""
    try:
        header = jwt.get_unverified_header(token)
    except _HOSTILE:
        raise UnauthenticatedError(_INVALID) from None
    algorithm = header.get("alg")
    kid = header.get("kid")
    if not isinstance(algorithm, str) or algorithm not in algorithms:
        raise UnauthenticatedError(_INVALID)
    if kid is not None and not isinstance(kid, str):
        raise UnauthenticatedError(_INVALID)
    return kid, algorithm


def _check_algorithms(algorithms: tuple[str, ...]) -> None:
    if not algorithms:
        raise ValueError("algorithms must not be empty")
    supported = set(get_default_algorithms()) - {"none"}
    for algorithm in algorithms:
        if algorithm.lower() == "none":
            raise ValueError("the 'none' algorithm is never accepted")
        if algorithm not in supported:
            raise ValueError(f"unsupported algorithm: {algorithm!r}")
    hmac_algorithms = _HMAC.intersection(algorithms)
    if hmac_algorithms and len(hmac_algorithms) != len(algorithms):
        raise ValueError("HMAC and public-key algorithms cannot be mixed (key confusion)")


def _prepare_key(key: Any, algorithms: tuple[str, ...]) -> Any:
    """Parse the key once, so no request pays for it, and refuse unsafe pairings."""
    if isinstance(key, Mapping):
        if key.get("kty") == "oct" and algorithms[0] not in _HMAC:
            raise ValueError("a symmetric JWK cannot verify public-key algorithms")
        try:
            key = jwt.PyJWK(dict(key), algorithms[0]).key
        except jwt.PyJWTError as exc:
            raise ValueError(f"invalid JWK: {type(exc).__name__}") from None
    if algorithms[0] in _HMAC:
        if not isinstance(key, (str, bytes)):
            raise ValueError("HMAC algorithms need a shared secret (str or bytes)")
        secret = key.encode() if isinstance(key, str) else key
        if b"-----BEGIN" in secret or secret.startswith((b"ssh-", b"ecdsa-")):
            raise ValueError("an HMAC algorithm must never be verified with a public key")
        shortest = max(_HMAC_MIN_BYTES[name] for name in algorithms)
        if len(secret) < shortest:
            raise ValueError(f"the HMAC secret must be at least {shortest} bytes")
        return secret
    algorithm = get_default_algorithms()[algorithms[0]]
    try:
        prepared = algorithm.prepare_key(key)
    except Exception as exc:
        raise ValueError(f"invalid key for {algorithms[0]}: {type(exc).__name__}") from None
    for other in algorithms[1:]:
        try:
            get_default_algorithms()[other].prepare_key(prepared)
        except Exception:
            raise ValueError(f"the key does not fit algorithm {other}") from None
    return prepared


def _check_jwks_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return
    raise ValueError("jwks_url must be https (plain http is allowed to loopback only)")
