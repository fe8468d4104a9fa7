"""The one place where ``Authorization`` is parsed, for both adapters.

RFC 6750 section 2.1: ``credentials = "Bearer" 1*SP b64token`` with
``b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="``.
The scheme is case-insensitive (RFC 9110 section 11.1) and surrounding whitespace is
not part of the field value (RFC 9110 section 5.5). Werkzeug's ``Authorization.token``
is not used: it turns ``Bearer a=b`` into parameters.
"""

from __future__ import annotations

import re

from .exceptions import InvalidRequestError, UnauthenticatedError

__all__ = ["MAX_TOKEN_LENGTH", "canonical_token", "has_query_token", "parse_authorization"]

MAX_TOKEN_LENGTH = 4096
"""Longer tokens are refused (401 ``invalid_token``) before any other parsing."""

# The whole well-formed case in one match: the hot path.
_BEARER = re.compile(r"[ \t]*[Bb][Ee][Aa][Rr][Ee][Rr] +([A-Za-z0-9\-._~+/]+=*)[ \t]*")
# A tchar (RFC 9110 section 5.6.2) continues a scheme name, so "Bearer-x" and
# "Bearerx" are other schemes; anything else glued to "Bearer" is a broken separator.
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

_TOO_LONG = "The access token is too long"
_EMPTY = "The bearer token is empty"
_BAD_CHARS = "The bearer token has characters outside RFC 6750 b64token"
# RFC 6750 section 2.3: the URI query parameter that carries a token.
_QUERY_TOKEN = re.compile(r"(?:^|&)access_token=")


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
    # Every well-formed value matched _BEARER: what reaches here is not a b64token.
    raise InvalidRequestError(_BAD_CHARS)


def canonical_token(value: str | None) -> str | None:
    """What follows ``Bearer `` (or ``bearer ``) in the usual spelling, unchecked.

    The cache-hit path looks this string's key up before parsing: only tokens that
    parsed are ever cached, and ``Bearer <token>`` parses to exactly ``<token>``, so a
    hit proves the value well-formed and the b64token scan (a regular expression over
    the whole token, the costliest step of a hit) can be skipped. A miss parses in full.
    None for anything else, and for text that is not ASCII (no token is).
    """
    if value is not None and value.startswith(("Bearer ", "bearer ")) and value.isascii():
        return value[7:]
    return None


def has_query_token(query: str) -> bool:
    """True when a query string carries an ``access_token`` parameter (RFC 6750 2.3)."""
    return "access_token=" in query and _QUERY_TOKEN.search(query) is not None
