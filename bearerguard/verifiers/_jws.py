"""Cheap checks on a compact JWS, made before PyJWT sees it.

PyJWT verifies the signature and the registered claims; these checks only refuse
what it would take and this library does not, and they cost microseconds:

- Framing: three segments of canonical base64url (no padding, nothing outside the
  alphabet, zero unused bits: security case J-11), so one token has one spelling.
- JSON: the header and the payload are JSON objects in strict UTF-8 (J-13;
  ``json.loads`` on bytes also takes UTF-16, UTF-32 and encoded surrogates), and no
  string in the payload is a lone surrogate (J-14), which would reach
  ``Principal.claims`` and fail later in a log line or a database driver.
- Header: ``alg`` one of the configured algorithms, ``kid`` a string when present, no
  ``crit`` at all (no extension is understood, RFC 7515 section 4.1.11) and no ``b64``
  (RFC 7797 unencoded payloads are not supported). ``typ`` names a JWT access token or
  nothing (RFC 8725 section 3.11). Key material in the header (``jwk``, ``jku``,
  ``x5u``, ``x5c``) is never read.
"""

from __future__ import annotations

import binascii
import json
import re
from typing import Any, NamedTuple

from ..exceptions import UnauthenticatedError

__all__ = [
    "ALGORITHM_NOT_ACCEPTED",
    "INVALID",
    "NOT_ACCESS_TOKEN",
    "AlgorithmNotAcceptedError",
    "Header",
    "check_typ",
    "is_compact_jws",
    "json_object",
    "payload_bytes",
    "peek_issuer",
    "read_header",
]

INVALID = "The access token is invalid"
ALGORITHM_NOT_ACCEPTED = "The access token's algorithm is not accepted"
NOT_ACCESS_TOKEN = "The token is not an access token"  # noqa: S105 - a description
# A compact JWS: three base64url segments (RFC 7515 section 7.1).
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_SEXTET = {char: index for index, char in enumerate(_BASE64URL)}
# Bits of the last character that encode nothing, by segment length mod 4 (RFC 4648
# section 3.5: canonical encoders set them to zero; decoders ignore them).
_UNUSED_BITS = {2: 0b1111, 3: 0b11}
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
# A JSON escape of a UTF-16 surrogate; a pair is fine, a lone one is not (RFC 8259 8.2).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
# The payload read by ``accepts`` to find ``iss``: 6 KB decoded is plenty for an access
# token's claims and bounds the unverified parse.
_MAX_PEEK_SEGMENT = 8192
# RFC 7515 section 4.1.9: the typ media type, compared case-insensitively, may omit
# "application/". Absent or "JWT" (RFC 7519 section 5.1) says nothing about the kind.
_ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
_UNTYPED = frozenset({"jwt", "application/jwt"})


class AlgorithmNotAcceptedError(UnauthenticatedError):
    """The token names an algorithm the verifier is not configured for.

    Attributes:
        algorithm: The header's ``alg``, shortened and made printable for a log line.
    """

    def __init__(self, algorithm: object) -> None:
        super().__init__(ALGORITHM_NOT_ACCEPTED)
        text = algorithm if isinstance(algorithm, str) else type(algorithm).__name__
        self.algorithm = "".join(c if c.isprintable() else "?" for c in text[:32])


class Header(NamedTuple):
    """What the verifier needs from a header that passed the checks; still unverified."""

    alg: str
    kid: str | None
    typ: str | None  # lower-cased


def is_compact_jws(token: str) -> bool:
    """True for anything shaped like a compact JWS (three base64url segments)."""
    return _COMPACT_JWS.fullmatch(token) is not None


def read_header(token: str, algorithms: tuple[str, ...]) -> Header:
    """Check the framing of ``token`` and its header; refuse anything else.

    Raises:
        AlgorithmNotAcceptedError: ``alg`` is a string outside ``algorithms``.
        UnauthenticatedError: anything else (``INVALID``).
    """
    if _COMPACT_JWS.fullmatch(token) is None:
        raise UnauthenticatedError(INVALID)
    segments = token.split(".")
    for segment in segments:
        rest = len(segment) % 4
        if rest == 1 or (rest and _SEXTET[segment[-1]] & _UNUSED_BITS[rest]):
            raise UnauthenticatedError(INVALID)
    header = json_object(_b64decode(segments[0]))
    alg = header.get("alg")
    if not isinstance(alg, str) or not alg:
        raise UnauthenticatedError(INVALID)
    if alg not in algorithms:
        raise AlgorithmNotAcceptedError(alg)
    kid = header.get("kid")
    if "kid" in header and not isinstance(kid, str):
        raise UnauthenticatedError(INVALID)
    if "crit" in header or "b64" in header:
        raise UnauthenticatedError(INVALID)
    typ = header.get("typ")
    if "typ" in header and not isinstance(typ, str):
        raise UnauthenticatedError(INVALID)
    return Header(alg, kid, None if typ is None else typ.lower())


def check_typ(header: Header, *, access_token_only: bool) -> None:
    """Refuse a ``typ`` naming another kind of JWT, or any but at+jwt when required.

    RFC 9068 section 4 and RFC 8725 section 3.11: explicit typing keeps an ID token,
    a logout token or a DPoP proof from passing for an access token.

    Raises:
        UnauthenticatedError: the header's ``typ`` is not acceptable.
    """
    if header.typ in _ACCESS_TOKEN_TYPES:
        return
    if access_token_only or (header.typ is not None and header.typ not in _UNTYPED):
        raise UnauthenticatedError(NOT_ACCESS_TOKEN)


def json_object(data: bytes) -> dict[str, Any]:
    """A JSON object in strict UTF-8 with no lone surrogate (J-12, J-13, J-14).

    Raises:
        UnauthenticatedError: anything else.
    """
    try:
        document = json.loads(data.decode("utf-8"))
        if _SURROGATE_ESCAPE.search(data) is not None:
            # Rare (an escaped emoji, say): a lone surrogate anywhere fails to encode.
            json.dumps(document, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):  # UnicodeError is a ValueError
        raise UnauthenticatedError(INVALID) from None
    if not isinstance(document, dict):
        raise UnauthenticatedError(INVALID)
    return document


def peek_issuer(token: str) -> str | None:
    """The unverified ``iss`` of a compact JWS, or None when it cannot be read cheaply.

    Used only to choose which verifier owns a token, never to accept one.
    """
    if _COMPACT_JWS.fullmatch(token) is None:
        return None
    first = token.find(".")
    second = token.find(".", first + 1)
    if first < 0 or second < 0 or second - first - 1 > _MAX_PEEK_SEGMENT:
        return None
    try:
        claims = json.loads(_b64decode(token[first + 1 : second]).decode("utf-8"))
    except (ValueError, RecursionError, UnauthenticatedError):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None


def payload_bytes(token: str) -> bytes:
    """The decoded payload segment of a token ``read_header`` passed."""
    return _b64decode(token.split(".", 2)[1])


def _b64decode(segment: str) -> bytes:
    """Decode a segment the regular expression passed (canonical form: ``read_header``)."""
    data = segment.encode("ascii").translate(_TO_STANDARD)
    try:
        return binascii.a2b_base64(data + b"=" * (-len(segment) % 4))
    except binascii.Error:
        raise UnauthenticatedError(INVALID) from None
