"""JWT access tokens (RFC 9068 style): framed and checked here, signatures by PyJWT.

Algorithms come from the configuration, never from the token. Key material in the
token header (``jwk``, ``jku``, ``x5u``, ``x5c``) is never read: keys come from ``key``
or from the configured ``jwks_url`` only.

What is verified where:

- Framing (here): three segments of canonical base64url (no padding, no characters
  outside the alphabet, zero unused bits: security case J-11), a header and a payload
  that are JSON objects in strict UTF-8 (J-13; ``json.loads`` on bytes also accepts
  UTF-16, UTF-32 and encoded surrogates). ``jwt.decode`` would do this framing again
  with a Python loop over every character of the token, which cost more than the RSA
  signature check itself; the regular expression and ``_check_segments`` do it in C or
  on a few characters.
- Header (here, at least what PyJWT 2.15 refuses): ``alg`` must be one of the
  configured algorithms, ``kid`` a string when present, and ``crit`` and ``b64`` must
  be absent: no extension is understood (RFC 7515 section 4.1.11) and unencoded
  payloads (RFC 7797) are not supported.
- Signature (PyJWT): the algorithm objects of ``jwt.algorithms`` and their prepared
  keys, with PyJWT's minimum key lengths enforced (HMAC compares in constant time).
  Every claim is read only after the signature is good.
- Claims (here): ``exp``, ``iss``, ``aud``, ``sub`` and ``jti`` as ``jwt.decode`` checks
  them for this configuration, with the same outcome for every token; the time claims
  must also be JSON numbers (RFC 7519 section 2, NumericDate; PyJWT takes
  ``"9999999999"``) and are read from an injectable clock.
"""

from __future__ import annotations

import binascii
import ipaddress
import json
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from types import MappingProxyType
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from jwt.algorithms import Algorithm, get_default_algorithms

from ..exceptions import UnauthenticatedError
from ..principal import Principal
from ._fetch import fetch_url
from ._jwks import Fetcher, JWKSCache

__all__ = ["JWTVerifier"]

# A compact JWS: three base64url segments (RFC 7515 section 7.1).
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SEXTET = {char: index for index, char in enumerate(_BASE64URL)}
# Bits of the last character that encode nothing, by segment length mod 4 (RFC 4648
# section 3.5: canonical encoders set them to zero; decoders ignore them).
_UNUSED_BITS = {2: 0b1111, 3: 0b11}
_HMAC = frozenset({"HS256", "HS384", "HS512"})
_HMAC_MIN_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}  # RFC 7518 section 3.2
_MAX_LEEWAY = 300
_EXPIRED = "The access token expired"
_INVALID = "The access token is invalid"
_NOT_YET = "The access token is not yet valid"
_AUDIENCE = "The access token is for another audience"
_ISSUER = "The access token is from another issuer"
_CLAIMS = "The access token has malformed claims"
# PyJWT's algorithm objects by name; they keep no state between calls.
_ALGORITHMS: dict[str, Algorithm] = get_default_algorithms()
# base64url to the standard alphabet, for binascii (the segments are ASCII by then).
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# What PyJWT's algorithms and the JSON parser let escape on hostile input besides
# PyJWT's own errors (security case F-03).
_HOSTILE = (
    jwt.PyJWTError,
    TypeError,
    OverflowError,
    RecursionError,
    ValueError,
    KeyError,
    AttributeError,
    IndexError,
    UnicodeError,
)


class JWTVerifier:
    """Verify JWT access tokens with a fixed key or keys from a JWKS URL.

    Args:
        key: A public key (PEM text or bytes, a ``cryptography`` key object, or a JWK
            dict), or the shared secret for HMAC algorithms (at least the hash size).
        jwks_url: Where to fetch the issuer's keys (``https``; plain ``http`` only to a
            loopback address, for development and tests).
        algorithms: Accepted algorithms. HMAC and public-key algorithms cannot be mixed,
            HMAC needs ``key``, and ``none`` is never accepted.
        issuer: Required exact ``iss`` when given.
        audience: Required ``aud`` (exact, or a member of a list) when given; several
            accepted audiences may be given as a list.
        leeway: Clock skew allowed on ``exp``/``nbf``/``iat``, at most 300 seconds.
        scope_claim: The claim holding scopes: a space-separated string or a list of
            strings. When it is ``scope`` and absent, ``scp`` is read instead (Azure,
            Okta).
        kind: The kind of the principals produced.
        jwks_refresh_interval: Seconds between scheduled JWKS refreshes.
        jwks_refetch_cooldown: Least seconds between refetches caused by unknown kids.
        jwks_timeout: Seconds one JWKS fetch may take.
        jwks_fetcher: ``fetcher(url, timeout) -> bytes``, replacing the HTTP client.
        jwks_timer: Monotonic clock for the JWKS schedule (tests inject one).
        clock: Wall clock in UNIX seconds for ``exp``/``nbf``/``iat`` (tests inject one).

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
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(algorithms, str):
            algorithms = (algorithms,)
        self.algorithms: tuple[str, ...] = tuple(algorithms)
        _check_algorithms(self.algorithms)
        if (key is None) == (jwks_url is None):
            raise ValueError("give exactly one of key= or jwks_url=")
        if not 0 <= leeway <= _MAX_LEEWAY:
            raise ValueError(f"leeway must be between 0 and {_MAX_LEEWAY} seconds")
        for name, value in (("scope_claim", scope_claim), ("kind", kind)):
            if not isinstance(value, str) or not value:
                raise ValueError(f"{name} must be a non-empty string")
        if issuer is not None and not isinstance(issuer, str):
            raise ValueError("issuer must be a string: iss is matched exactly")
        self.kind = kind
        self.issuer = issuer
        self.audience = _check_audience(audience)
        # Any one of the configured audiences in the token's aud will do (as PyJWT).
        self._audiences: frozenset[str] | None = None
        if self.audience is not None:
            self._audiences = frozenset(
                [self.audience] if isinstance(self.audience, str) else self.audience
            )
        self.leeway = leeway
        self.scope_claim = scope_claim
        self._clock = clock
        # For a fixed key: each configured algorithm with the key prepared for it, once.
        self._signers: dict[str, tuple[Algorithm, Any]] = {}
        self._jwks: JWKSCache | None = None
        if key is not None:
            self._signers = _signers(_prepare_key(key, self.algorithms), self.algorithms)
            return
        if self.algorithms[0] in _HMAC:
            raise ValueError("HMAC algorithms need key=: a JWKS publishes public keys")
        _check_jwks_url(str(jwks_url))
        for option, seconds in (
            ("jwks_refresh_interval", jwks_refresh_interval),
            ("jwks_timeout", jwks_timeout),
        ):
            if not (math.isfinite(seconds) and seconds > 0):
                raise ValueError(f"{option} must be a positive number of seconds")
        if not (math.isfinite(jwks_refetch_cooldown) and jwks_refetch_cooldown >= 0):
            raise ValueError("jwks_refetch_cooldown must be zero or more seconds")
        extra: dict[str, Any] = {} if jwks_timer is None else {"timer": jwks_timer}
        self._jwks = JWKSCache(
            str(jwks_url),
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
        parsed = _parse(token, self.algorithms)
        if self._jwks is None:
            return self._decode(parsed, None)
        return self._decode(parsed, self._jwks.get(parsed.kid, parsed.alg))

    async def averify(self, token: str) -> Principal:
        """Verify on the event loop when no fetch is needed, else in a worker thread.

        A held key, an early refusal and an unknown ``kid`` inside the refetch
        cooldown are all answered on the loop; only a JWKS fetch leaves it.
        """
        parsed = _parse(token, self.algorithms)
        if self._jwks is None:
            return self._decode(parsed, None)
        key = self._jwks.lookup(parsed.kid, parsed.alg)
        if key is not None:
            return self._decode(parsed, key)
        import anyio.to_thread

        return await anyio.to_thread.run_sync(self._fetch_and_decode, parsed)

    def _fetch_and_decode(self, parsed: _Token) -> Principal:
        assert self._jwks is not None  # noqa: S101 - only called in JWKS mode
        return self._decode(parsed, self._jwks.get(parsed.kid, parsed.alg))

    def _decode(self, parsed: _Token, jwk: jwt.PyJWK | None) -> Principal:
        """Check the signature with PyJWT's algorithm, then the claims it signs.

        ``jwk`` is the JWKS key for the token's ``kid`` and ``alg``, or None for the
        fixed key. As in ``jwt.decode``, a JWK verifies only its own algorithm.
        """
        try:
            if jwk is None:
                algorithm, key = self._signers[parsed.alg]
            else:
                if parsed.alg != jwk.algorithm_name:
                    raise UnauthenticatedError(_INVALID)
                algorithm = jwk.Algorithm
                key = algorithm.prepare_key(jwk.key)
                if algorithm.check_key_length(key):  # enforce_minimum_key_length
                    raise UnauthenticatedError(_INVALID)
            good = algorithm.verify(parsed.signing_input, key, parsed.signature)
        except _HOSTILE:
            raise UnauthenticatedError(_INVALID) from None
        if not good:
            raise UnauthenticatedError(_INVALID)
        claims = _json_object(_b64decode(parsed.payload))
        self._check_registered(claims)
        return self._principal(claims)

    def _check_registered(self, claims: dict[str, Any]) -> None:
        """The claim checks ``jwt.decode`` made for this configuration, in its order.

        ``exp`` required (``null`` counts as missing); ``iss`` exact when configured;
        ``aud`` (a string or a list of strings) sharing one value with the configured
        audiences when configured; ``sub`` and ``jti`` strings when present. A missing
        ``iss`` or ``aud`` is ``_INVALID``, as PyJWT's MissingRequiredClaimError was.
        """
        if claims.get("exp") is None:
            raise UnauthenticatedError(_INVALID)
        if self.issuer is not None:
            if "iss" not in claims:
                raise UnauthenticatedError(_INVALID)
            issuer = claims["iss"]
            if not isinstance(issuer, str) or issuer != self.issuer:
                raise UnauthenticatedError(_ISSUER)
        if self._audiences is not None:
            audience = claims.get("aud")
            if not audience:  # absent, null, "", [], {}, 0 and false alike (PyJWT)
                raise UnauthenticatedError(_INVALID)
            if isinstance(audience, str):
                audience = [audience]
            if not isinstance(audience, list) or not all(
                isinstance(value, str) for value in audience
            ):
                raise UnauthenticatedError(_AUDIENCE)
            if self._audiences.isdisjoint(audience):
                raise UnauthenticatedError(_AUDIENCE)
        for name in ("sub", "jti"):
            if name in claims and not isinstance(claims[name], str):
                raise UnauthenticatedError(_INVALID)

    def _principal(self, claims: Mapping[str, Any]) -> Principal:
        exp = self._check_times(claims)
        subject = _text_claim(claims, "sub")
        client_id = _text_claim(claims, "client_id")
        authorized_party = _text_claim(claims, "azp")
        token_id = _text_claim(claims, "jti")
        if client_id is None:
            client_id = authorized_party
        try:
            expires_at = datetime.fromtimestamp(exp, timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise UnauthenticatedError(_CLAIMS) from None
        return Principal(
            kind=self.kind,
            subject=subject or client_id or "",
            scopes=self._scopes(claims),
            client_id=client_id,
            token_id=token_id,
            expires_at=expires_at,
            # A read-only view of the dict json.loads just made, which nothing else
            # holds: Principal copies any other mapping.
            claims=MappingProxyType(claims) if type(claims) is dict else claims,
        )

    def _check_times(self, claims: Mapping[str, Any]) -> float:
        """Check ``exp`` (required), ``nbf`` and ``iat``; return ``exp``.

        RFC 7519 section 4.1.4: the current time must be before ``exp``; section
        4.1.5: on or after ``nbf``. An ``iat`` in the future is refused as PyJWT does.
        """
        exp = _numeric_date(claims, "exp")
        nbf = _numeric_date(claims, "nbf")
        iat = _numeric_date(claims, "iat")
        if exp is None:
            raise UnauthenticatedError(_INVALID)
        now = self._clock()
        if exp <= now - self.leeway:
            raise UnauthenticatedError(_EXPIRED)
        if (nbf is not None and nbf > now + self.leeway) or (
            iat is not None and iat > now + self.leeway
        ):
            raise UnauthenticatedError(_NOT_YET)
        return exp

    def _scopes(self, claims: Mapping[str, Any]) -> frozenset[str]:
        name = self.scope_claim
        if name == "scope" and name not in claims:
            name = "scp"
        if name not in claims:
            return frozenset()
        value = claims[name]
        if _is_text(value):
            return frozenset(value.split())
        if isinstance(value, list) and all(_is_text(item) for item in value):
            return frozenset(value)
        raise UnauthenticatedError(_CLAIMS)


def _numeric_date(claims: Mapping[str, Any], name: str) -> float | None:
    """A NumericDate claim: absent, or a finite JSON number (not a bool or a string)."""
    if name not in claims:
        return None
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UnauthenticatedError(_CLAIMS)
    if isinstance(value, float) and not math.isfinite(value):
        raise UnauthenticatedError(_CLAIMS)  # 1e400 parses as inf, NaN as nan
    return value


def _text_claim(claims: Mapping[str, Any], name: str) -> str | None:
    """A string claim: absent, or text (security cases CL-08, J-14)."""
    if name not in claims:
        return None
    value = claims[name]
    if not _is_text(value):
        raise UnauthenticatedError(_CLAIMS)
    return str(value)


def _is_text(value: object) -> bool:
    """A string that can be encoded (no lone surrogates, security case J-14)."""
    if not isinstance(value, str):
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


class _Token(NamedTuple):
    """A compact JWS whose framing and header passed; nothing in it is trusted yet."""

    alg: str
    kid: str | None
    signing_input: bytes
    payload: str  # still base64url: decoded only once the signature is good
    signature: bytes


def _parse(token: str, algorithms: tuple[str, ...]) -> _Token:
    """Frame a compact JWS and check its header; refuse anything else with ``_INVALID``.

    Refuses at least what ``jwt.decode`` refuses before the signature check (PyJWT
    2.15 ``PyJWS._load`` and ``_validate_headers``), and also padding, ``crit`` at all
    (PyJWT understands ``b64``; we understand no extension) and ``b64`` at all.
    """
    if _COMPACT_JWS.fullmatch(token) is None:
        raise UnauthenticatedError(_INVALID)
    header_segment, payload_segment, signature_segment = _check_segments(token)
    header = _json_object(_b64decode(header_segment))
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise UnauthenticatedError(_INVALID)
    kid = header.get("kid")
    if "kid" in header and not isinstance(kid, str):
        raise UnauthenticatedError(_INVALID)
    if "crit" in header or "b64" in header:
        raise UnauthenticatedError(_INVALID)
    # The regular expression allowed only ASCII, so the encoding cannot fail.
    signing_input = token[: len(header_segment) + 1 + len(payload_segment)].encode("ascii")
    return _Token(alg, kid, signing_input, payload_segment, _b64decode(signature_segment))


def _b64decode(segment: str) -> bytes:
    """Decode a segment already known to be canonical base64url (see _check_segments)."""
    data = segment.encode("ascii").translate(_TO_STANDARD) + b"=" * (-len(segment) % 4)
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        raise UnauthenticatedError(_INVALID) from None


def _json_object(data: bytes) -> dict[str, Any]:
    """A JSON object in strict UTF-8 (J-13), whatever the bytes hold (J-12, F-03)."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise UnauthenticatedError(_INVALID) from None
    if not isinstance(document, dict):
        raise UnauthenticatedError(_INVALID)
    return document


def _check_segments(token: str) -> list[str]:
    """Refuse non-canonical base64url (J-11) and JSON that is not UTF-8 (J-13).

    Both are cheap: the last character of each segment, and the first two bytes of
    the header and the payload. A UTF-8 JSON text starts with two ASCII characters
    (whitespace, ``{``, ``"``, ``}``); UTF-16 and UTF-32 put a zero byte in the first
    two, and a byte order mark starts with a byte of 0xEF or more. Returns the three
    segments.
    """
    segments = token.split(".")
    if len(segments) != 3:
        raise UnauthenticatedError(_INVALID)
    for segment in segments:
        rest = len(segment) % 4
        if rest == 1:
            raise UnauthenticatedError(_INVALID)
        if rest and _SEXTET.get(segment[-1], 0) & _UNUSED_BITS[rest]:
            raise UnauthenticatedError(_INVALID)
    for segment in segments[:2]:
        # The first two bytes are in the first three characters: decode just those.
        sextets = [_SEXTET.get(char, -1) for char in segment[:3]]
        if len(sextets) < 3 or min(sextets) < 0:
            raise UnauthenticatedError(_INVALID)
        first = sextets[0] << 2 | sextets[1] >> 4
        second = (sextets[1] & 0b1111) << 4 | sextets[2] >> 2
        if not (0 < first < 0x80 and 0 < second < 0x80):
            raise UnauthenticatedError(_INVALID)
    return segments


def _check_algorithms(algorithms: tuple[str, ...]) -> None:
    if not algorithms:
        raise ValueError("algorithms must not be empty")
    supported = set(get_default_algorithms()) - {"none"}
    for algorithm in algorithms:
        if not isinstance(algorithm, str):
            raise ValueError(f"unsupported algorithm: {algorithm!r}")
        if algorithm.lower() == "none":
            raise ValueError("the 'none' algorithm is never accepted")
        if algorithm not in supported:
            raise ValueError(f"unsupported algorithm: {algorithm!r}")
    hmac_algorithms = _HMAC.intersection(algorithms)
    if hmac_algorithms and len(hmac_algorithms) != len(set(algorithms)):
        raise ValueError("HMAC and public-key algorithms cannot be mixed (key confusion)")


def _check_audience(audience: str | Iterable[str] | None) -> str | list[str] | None:
    if audience is None:
        return None
    values = [audience] if isinstance(audience, str) else list(audience)
    if not values or not all(isinstance(value, str) and value for value in values):
        raise ValueError("audience must be a non-empty string or list of strings")
    return values[0] if isinstance(audience, str) else values


def _prepare_key(key: Any, algorithms: tuple[str, ...]) -> Any:
    """Parse the key once, so no request pays for it, and refuse unsafe pairings."""
    if isinstance(key, Mapping):
        if key.get("kty") == "oct" and algorithms[0] not in _HMAC:
            raise ValueError("a symmetric JWK cannot verify public-key algorithms")
        try:
            key = jwt.PyJWK(dict(key), algorithms[0]).key
        except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"invalid JWK: {type(exc).__name__}") from None
    if algorithms[0] in _HMAC:
        return _hmac_secret(key, algorithms)
    algorithm = get_default_algorithms()[algorithms[0]]
    try:
        prepared = algorithm.prepare_key(key)
    except Exception as exc:
        raise ValueError(f"invalid key for {algorithms[0]}: {type(exc).__name__}") from None
    return prepared  # _signers checks it against every configured algorithm


def _signers(key: Any, algorithms: tuple[str, ...]) -> dict[str, tuple[Algorithm, Any]]:
    """Each algorithm with the key as its PyJWT ``prepare_key`` returns it.

    ``jwt.decode`` prepared the key and checked its length on every call; doing it once
    here is the same check, and a key that fails it fails at configuration rather than
    on every token (``enforce_minimum_key_length``).
    """
    signers: dict[str, tuple[Algorithm, Any]] = {}
    for name in algorithms:
        algorithm = _ALGORITHMS[name]
        try:
            prepared = algorithm.prepare_key(key)
        except Exception:
            raise ValueError(f"the key does not fit algorithm {name}") from None
        if algorithm.check_key_length(prepared):
            raise ValueError(f"the key is too small for {name} (RFC 7518 minimum bits)")
        signers[name] = (algorithm, prepared)
    return signers


def _hmac_secret(key: Any, algorithms: tuple[str, ...]) -> bytes:
    """A shared secret that is long enough and is not somebody's public key (J-02)."""
    if not isinstance(key, (str, bytes)):
        raise ValueError("HMAC algorithms need a shared secret (str or bytes)")
    secret = key.encode() if isinstance(key, str) else key
    if _looks_like_public_key(secret):
        raise ValueError("an HMAC algorithm must never be verified with a public key")
    shortest = max(_HMAC_MIN_BYTES[name] for name in algorithms)
    if len(secret) < shortest:
        raise ValueError(f"the HMAC secret must be at least {shortest} bytes")
    return secret


def _looks_like_public_key(secret: bytes) -> bool:
    """PEM, OpenSSH, DER or JWK text: every form CVE-2022-29217 and its kin used."""
    stripped = secret.strip()
    if b"-----BEGIN" in stripped or stripped.startswith((b"ssh-", b"ecdsa-sha2-")):
        return True
    if stripped.startswith(b"{"):
        try:
            document = json.loads(stripped)
        except ValueError:
            return False
        return isinstance(document, dict) and "kty" in document
    for load in (serialization.load_der_public_key, x509.load_der_x509_certificate):
        try:
            load(secret)
        except Exception:  # noqa: S112 - not that format: try the next one
            continue
        return True
    return False


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
