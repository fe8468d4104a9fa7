"""The one place where ``Authorization`` is parsed, for both adapters.

RFC 6750 section 2.1: ``credentials = "Bearer" 1*SP b64token`` with
``b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="``.
The scheme is case-insensitive (RFC 9110 section 11.1) and surrounding whitespace is
not part of the field value (RFC 9110 section 5.5). Werkzeug's ``Authorization.token``
is not used: it turns ``Bearer a=b`` into parameters.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .exceptions import InvalidRequestError, UnauthenticatedError

__all__ = [
    "MAX_TOKEN_LENGTH",
    "find_authorization",
    "find_raw_authorization",
    "parse_authorization",
]

MAX_TOKEN_LENGTH = 4096
"""Longer tokens are refused (401 ``invalid_token``) before any other parsing."""

# The whole well-formed case in one match: the hot path.
_BEARER = re.compile(r"[ \t]*[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)[ \t]*")
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
# A tchar (RFC 9110 section 5.6.2) continues a scheme name, so "Bearer-x" and
# "Bearerx" are other schemes; anything else glued to "Bearer" is a broken separator.
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

_TOO_LONG = "The access token is too long"
_EMPTY = "The bearer token is empty"
_BAD_CHARS = "The bearer token has characters outside RFC 6750 b64token"
_DUPLICATE = "More than one Authorization header"


def parse_authorization(value: str | None) -> str | None:
    """Extract the bearer token from an ``Authorization`` value.

    Returns:
        The token, or None when there is no header or it carries another scheme.

    Raises:
        UnauthenticatedError: the token is over :data:`MAX_TOKEN_LENGTH` characters.
        InvalidRequestError: ``Bearer`` with no token, a bad separator, or characters
            outside b64token (a comma from two joined headers lands here).
    """
    if value is None:
        return None
    match = _BEARER.fullmatch(value)
    if match is not None:
        token = match.group(1)
        if len(token) > MAX_TOKEN_LENGTH:
            raise UnauthenticatedError(_TOO_LONG)
        return token
    return _parse_slow(value)


def _parse_slow(value: str) -> str | None:
    stripped = value.strip(" \t")
    if len(stripped) < 6 or stripped[:6].lower() != "bearer":
        return None
    if len(stripped) == 6:
        raise InvalidRequestError(_EMPTY)
    separator = stripped[6]
    if separator != " ":
        if separator in _TCHAR:
            return None
        raise InvalidRequestError(_BAD_CHARS)
    token = stripped[7:].lstrip(" ")
    if len(token) > MAX_TOKEN_LENGTH:
        raise UnauthenticatedError(_TOO_LONG)
    if not token:
        raise InvalidRequestError(_EMPTY)
    if not _B64TOKEN.fullmatch(token):
        raise InvalidRequestError(_BAD_CHARS)
    return token  # pragma: no cover - the fast path accepts every valid token


def find_raw_authorization(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """Find the raw ``Authorization`` value in ``(name, value)`` byte pairs.

    Header names are matched case-insensitively (an ASGI server should lower-case
    them but need not).

    Raises:
        InvalidRequestError: the header appears more than once (RFC 9110 section 5.3).
    """
    found: bytes | None = None
    for name, value in headers:
        if len(name) == 13 and (name == b"authorization" or name.lower() == b"authorization"):
            if found is not None:
                raise InvalidRequestError(_DUPLICATE)
            found = value
    return found


def find_authorization(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """:func:`find_raw_authorization`, decoded as latin-1.

    Latin-1 cannot fail; bytes outside ASCII then fail the b64token check.

    Raises:
        InvalidRequestError: the header appears more than once (RFC 9110 section 5.3).
    """
    found = find_raw_authorization(headers)
    return None if found is None else found.decode("latin-1")
