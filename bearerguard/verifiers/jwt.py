"""JWT access tokens (RFC 9068): PyJWT verifies, bearerguard checks before and after.

- Before PyJWT (:mod:`._jws`, microseconds): framing, strict JSON, ``alg``, ``kid``,
  ``crit``, ``b64``, ``typ``. Header key material (``jwk``, ``jku``, ``x5u``, ``x5c``)
  is never read: keys come from ``key``, the JWKS URL, or the issuer's metadata.
- PyJWT (``jwt.PyJWT.decode_complete``): the signature (a JWK verifies only its own
  algorithm; minimum key lengths enforced), ``exp`` present, ``iss`` exact, ``aud``,
  ``sub`` and ``jti`` strings. The payload is parsed once, by our strict parser,
  through the hook PyJWT provides for subclasses (``_decode_payload``).
- After PyJWT (:mod:`._claims`): times from the injectable clock, access tokens only.

Every refusal is a fixed description; what PyJWT lets escape on hostile input
(TypeError, OverflowError, RecursionError, ...) is a refusal too (F-03).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import jwt
from jwt import exceptions as jwt_errors
from jwt.types import Options

from ..exceptions import UnauthenticatedError
from ..principal import Principal
from . import _claims, _jws
from ._claims import ANY_AUDIENCE
from ._jwks import Fetcher, JWKSCache, key_cache
from ._keys import HMAC, check_algorithms, prepare_key

__all__ = ["ANY_AUDIENCE", "JWTVerifier"]

logger = logging.getLogger("bearerguard")


_MAX_LEEWAY = 300
_ISSUER = "The access token is from another issuer"
# PyJWT's refusals with their own description; every other one is _jws.INVALID.
_DESCRIPTIONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt_errors.ExpiredSignatureError, _claims.EXPIRED),
    (jwt_errors.ImmatureSignatureError, _claims.NOT_YET),
    (jwt_errors.InvalidAudienceError, _claims.AUDIENCE),
    (jwt_errors.InvalidIssuerError, _ISSUER),
)
# What PyJWT and the JSON parser let escape on hostile input besides PyJWT's own errors.
_HOSTILE = (
    jwt.PyJWTError,
    TypeError,
    OverflowError,
    RecursionError,
    ValueError,
    LookupError,
    AttributeError,
)
# At most this many distinct refused algorithm names are logged at WARNING per verifier.
_WARN_ALGORITHMS = 16


class _PyJWT(jwt.PyJWT):
    """PyJWT with bearerguard's strict payload parser (strict UTF-8, no lone surrogate)."""

    def _decode_payload(self, decoded: dict[str, Any]) -> dict[str, Any]:
        return _jws.json_object(decoded["payload"])


class JWTVerifier:
    """Verify JWT access tokens with a fixed key, a JWKS URL, or the issuer's metadata.

    Args:
        key: A public key (PEM text or bytes, a ``cryptography`` key object, or a JWK
            dict), or the shared secret for HMAC algorithms (at least the hash size).
        jwks_url: Where to fetch the issuer's keys (``https``; plain ``http`` only to a
            loopback address, for development and tests). With neither ``key`` nor
            ``jwks_url``, the ``jwks_uri`` of the issuer's metadata (OpenID Connect
            Discovery, RFC 8414), fetched on first use.
        algorithms: Accepted algorithms. HMAC and public-key algorithms cannot be mixed,
            HMAC needs ``key``, and ``none`` is never accepted. Ed25519 keys: ``EdDSA``.
        issuer: Required exact ``iss``. With it, :meth:`accepts` takes only tokens that
            claim this issuer, so verifiers for several issuers share one guard.
        audience: Required: the ``aud`` to accept (a string, or a list of which any one
            will do), or ``ANY_AUDIENCE`` to accept any audience unchecked.
        client_ids: Instead of (or with) ``audience``: the ``client_id`` claim must be
            one of these (Amazon Cognito access tokens carry no ``aud``). A token that
            has an ``aud`` is then refused unless ``audience`` accepts it.
        typ: ``"at+jwt"`` to accept only RFC 9068 access tokens: the header ``typ``
            must say so and ``iat``, ``jti``, ``client_id`` and ``sub`` are required.
            Without it, a ``typ`` naming another kind of JWT is refused.
        leeway: Clock skew allowed on ``exp``/``nbf``/``iat``, at most 300 seconds.
        scope_claim: The claim holding scopes: a space-separated string or a list of
            strings. When it is ``scope`` and absent, ``scp`` is read (Entra ID, Okta).
        wildcard_scopes: Let ``*`` and ``prefix.*`` in tokens grant other scopes, as
            they do in bearerguard's own client tokens. Off: an identity provider's
            scope is a plain string.
        kind: The kind of the principals produced.
        jwks_refresh_interval: Seconds between scheduled JWKS refreshes (made by a
            background thread; no request waits for one).
        jwks_refetch_cooldown: Least seconds between refetches caused by unknown kids.
        jwks_timeout: Seconds one JWKS or metadata fetch may take.
        jwks_fetcher: ``fetcher(url, timeout) -> bytes``, replacing the HTTP client.
        jwks_timer: Monotonic clock for the JWKS schedule (tests inject one).
        clock: Wall clock in UNIX seconds for ``exp``/``nbf``/``iat`` (tests inject one).

    Attributes:
        leeway: The leeway in seconds; the guard and its cache honour it too.

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
        client_ids: Iterable[str] | None = None,
        typ: str | None = None,
        leeway: float = 30,
        scope_claim: str = "scope",
        wildcard_scopes: bool = False,
        kind: str = "oauth",
        jwks_refresh_interval: float = 300.0,
        jwks_refetch_cooldown: float = 10.0,
        jwks_timeout: float = 5.0,
        jwks_fetcher: Fetcher | None = None,
        jwks_timer: Callable[[], float] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(algorithms, str):
            algorithms = (algorithms,)
        self.algorithms: tuple[str, ...] = tuple(algorithms)
        check_algorithms(self.algorithms)
        if key is not None and jwks_url is not None:
            raise ValueError("give exactly one of key= or jwks_url= (or issuer= alone)")
        if key is None and jwks_url is None and issuer is None:
            raise ValueError("give exactly one of key= or jwks_url=, or issuer= to discover")
        if not (isinstance(leeway, (int, float)) and 0 <= leeway <= _MAX_LEEWAY):
            raise ValueError(f"leeway must be between 0 and {_MAX_LEEWAY} seconds")
        for name, value in (("scope_claim", scope_claim), ("kind", kind)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
        if issuer is not None and not isinstance(issuer, str):
            raise ValueError("issuer must be a string: iss is matched exactly")
        if typ is not None and str(typ).lower() not in ("at+jwt", "application/at+jwt"):
            raise ValueError('typ must be "at+jwt" (RFC 9068) or None')
        self.kind = kind
        self.issuer = issuer
        self.audience = _claims.audience_option(audience)
        self.client_ids = _claims.client_ids_option(client_ids)
        self.typ = None if typ is None else "at+jwt"
        self.leeway: float = float(leeway)
        self.scope_claim = scope_claim
        self.wildcard_scopes = bool(wildcard_scopes)
        self._clock = clock
        self._decoder = _PyJWT(self._options())
        self._warned: set[str] = set()
        self._key: Any = None
        self._jwks: JWKSCache | None = None
        if key is not None:
            self._key = prepare_key(key, self.algorithms)
        elif self.algorithms[0] in HMAC:
            raise ValueError("HMAC algorithms need key=: a JWKS publishes public keys")
        else:
            self._jwks = key_cache(
                jwks_url=jwks_url,
                issuer=issuer,
                algorithms=self.algorithms,
                refresh_interval=jwks_refresh_interval,
                refetch_cooldown=jwks_refetch_cooldown,
                timeout=jwks_timeout,
                fetcher=jwks_fetcher,
                timer=jwks_timer,
            )
        # Last, so a bad key or URL is reported first. RFC 9068 section 4, RFC 8725
        # section 3.9: a token for another API must never pass for one for this one.
        if self.audience is None and self.client_ids is None:
            raise ValueError(
                "audience is required: the aud this API accepts (or client_ids=[...] for"
                " tokens without aud, or audience=ANY_AUDIENCE to accept any audience)"
            )

    def __repr__(self) -> str:
        if self._jwks is None:
            source = "key"
        elif self._jwks.url is None:
            source = f"issuer={self.issuer!r}"
        else:
            source = f"jwks_url={self._jwks.url!r}"
        return f"JWTVerifier({source}, algorithms={list(self.algorithms)!r}, kind={self.kind!r})"

    @property
    def jwks(self) -> JWKSCache | None:
        """The JWKS key cache, when keys come from a URL or from discovery."""
        return self._jwks

    def close(self) -> None:
        """Stop the background JWKS refresh (it also stops when the verifier is freed)."""
        if self._jwks is not None:
            self._jwks.close()

    def accepts(self, token: str) -> bool:
        """True for a compact JWS, and with ``issuer`` set, one that claims it.

        The ``iss`` read here is unverified and only chooses the verifier; a token that
        lies about it fails that verifier's signature check.
        """
        if not _jws.is_compact_jws(token):
            return False
        return self.issuer is None or _jws.peek_issuer(token) == self.issuer

    def verify(self, token: str) -> Principal:
        """Verify signature and claims; the principal of a good token.

        Raises:
            UnauthenticatedError: a bad, expired or foreign token.
            ServiceUnavailableError: keys are needed and none can be fetched.
        """
        header = self._header(token)
        key = self._key if self._jwks is None else self._jwks.get(header.kid, header.alg)
        return self._decode(token, key)

    async def averify(self, token: str) -> Principal:
        """Verify on the event loop when no fetch is needed, else fetch in a worker thread.

        A held key, an early refusal and an unknown ``kid`` inside the refetch
        cooldown are all answered on the loop; only a fetch leaves it.
        """
        header = self._header(token)
        if self._jwks is None:
            return self._decode(token, self._key)
        key = self._jwks.lookup(header.kid, header.alg)
        if key is None:
            import anyio.to_thread

            key = await anyio.to_thread.run_sync(self._jwks.get, header.kid, header.alg)
        return self._decode(token, key)

    def _options(self) -> Options:
        require = ["exp", *(_claims.RFC9068_REQUIRED if self.typ else ())]
        return {
            "require": require,
            # Times are checked by _claims.check_times, against the injected clock.
            "verify_exp": False,
            "verify_nbf": False,
            "verify_iat": False,
            "verify_aud": self.audience is not ANY_AUDIENCE,
            "enforce_minimum_key_length": True,
        }

    def _header(self, token: str) -> _jws.Header:
        try:
            header = _jws.read_header(token, self.algorithms)
        except _jws.AlgorithmNotAcceptedError as exc:
            name = exc.algorithm
            # A misconfiguration shows once per name; a flood of junk stays at DEBUG.
            warn = name not in self._warned and len(self._warned) < _WARN_ALGORITHMS
            if warn:
                self._warned.add(name)
            logger.log(
                logging.WARNING if warn else logging.DEBUG,
                "JWT refused: algorithm %r is not accepted (configured: %s)",
                name,
                ", ".join(self.algorithms),
            )
            raise
        _jws.check_typ(header, access_token_only=self.typ is not None)
        return header

    def _decode(self, token: str, key: Any) -> Principal:
        audience = None if self.audience is ANY_AUDIENCE else self.audience
        try:
            decoded = self._decoder.decode_complete(
                token, key, algorithms=self.algorithms, audience=audience, issuer=self.issuer
            )
        except UnauthenticatedError:
            raise  # our payload parser's refusal
        except _HOSTILE as exc:
            description = next((d for t, d in _DESCRIPTIONS if isinstance(exc, t)), None)
            raise UnauthenticatedError(description or _jws.INVALID) from None
        claims: dict[str, Any] = decoded["payload"]
        exp = _claims.check_times(claims, self._clock(), self.leeway)
        _claims.check_access_token(claims, client_ids=self.client_ids)
        return _claims.principal(
            claims,
            _jws.payload_bytes(token),
            exp=exp,
            kind=self.kind,
            scope_claim=self.scope_claim,
            literal_scopes=not self.wildcard_scopes,
        )
