"""The client-token format: ``<prefix><secret><checksum>``, checkable offline.

GitHub's token format is the model ("Behind GitHub's new authentication token
formats", 2021): a readable prefix that secret scanners can search for, a random
base62 secret, and a CRC32 checksum in base62 that rejects typos and garbage without
a database round trip. The checksum is public, not a MAC: it filters noise, and a
token with a valid checksum still has to be found in the store.
"""

from __future__ import annotations

import re
import secrets
import zlib
from functools import lru_cache
from typing import Final

__all__ = [
    "ALPHABET",
    "CHECKSUM_LENGTH",
    "DEFAULT_PREFIX",
    "SECRET_LENGTH",
    "TOKEN_PATTERN",
    "checksum",
    "generate_token",
    "is_well_formed",
    "new_client_id",
    "new_token_id",
    "token_pattern",
    "validate_prefix",
]

ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
"""Base62: digits, then upper case, then lower case."""

DEFAULT_PREFIX: Final = "bg_live_"
"""The prefix of tokens issued by a :class:`~bearerguard.tokens.TokenManager` by default."""

SECRET_LENGTH: Final = 30
"""Base62 characters of secret: 30 x log2(62) = 178.6 bits (at least 160 are required)."""

CHECKSUM_LENGTH: Final = 6
"""Base62 characters of CRC32 checksum (62**6 > 2**32)."""

CLIENT_ID_LENGTH: Final = 32
TOKEN_ID_PREFIX: Final = "tok_"  # noqa: S105 - a public id prefix
_TOKEN_ID_LENGTH: Final = 20

# Lower-case words joined by single underscores, ending in one: "bg_live_", "pay_live_".
_PREFIX: Final = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*_")
_MAX_PREFIX: Final = 32
_BASE62: Final = frozenset(ALPHABET)
_CLIENT_ID: Final = re.compile(r"[0-9A-Za-z]{32}")
_TOKEN_ID: Final = re.compile(r"tok_[0-9A-Za-z]{20}")


def validate_prefix(prefix: str) -> str:
    """Check a token prefix and return it.

    Raises:
        ValueError: the prefix is not lower-case words joined by underscores and
            ending in ``_`` (for example ``pay_live_``), or is longer than 32.
    """
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ValueError(
            "a token prefix is lower-case letters and digits in words joined by '_', "
            "starting with a letter and ending in '_' (for example 'pay_live_')"
        )
    if len(prefix) > _MAX_PREFIX:
        raise ValueError(f"a token prefix has at most {_MAX_PREFIX} characters")
    return prefix


def _base62(value: int, width: int) -> str:
    digits = []
    while value:
        value, digit = divmod(value, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(body: str) -> str:
    """The 6-character base62 CRC32 of ``body`` (prefix and secret)."""
    return _base62(zlib.crc32(body.encode()), CHECKSUM_LENGTH)


def _random_base62(length: int) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def generate_token(prefix: str = DEFAULT_PREFIX) -> str:
    """A new token: prefix, 30 base62 characters from :mod:`secrets`, checksum."""
    body = validate_prefix(prefix) + _random_base62(SECRET_LENGTH)
    return body + checksum(body)


def is_well_formed(token: str, prefix: str = DEFAULT_PREFIX) -> bool:
    """True when ``token`` has the prefix, length, alphabet and checksum of a token.

    Offline and cheap: no store is asked. A well-formed token is not necessarily a
    real one.
    """
    if not isinstance(token, str):
        return False
    if len(token) != len(prefix) + SECRET_LENGTH + CHECKSUM_LENGTH:
        return False
    if not token.startswith(prefix):
        return False
    rest = token[len(prefix) :]
    if not _BASE62.issuperset(rest):
        return False
    body = token[:-CHECKSUM_LENGTH]
    return checksum(body) == token[-CHECKSUM_LENGTH:]


def token_pattern(prefix: str = DEFAULT_PREFIX) -> re.Pattern[str]:
    r"""The compiled regular expression matching every token with ``prefix``.

    ``\b<prefix>[0-9A-Za-z]{36}\b``: use ``search``/``finditer`` to find tokens in
    text (secret scanning), ``fullmatch`` to test one string. A match is only a
    candidate; :func:`is_well_formed` also checks the checksum. The default prefix
    gives :data:`TOKEN_PATTERN` itself, however many other prefixes were asked for.
    """
    if prefix == DEFAULT_PREFIX:
        return TOKEN_PATTERN
    return _compiled(prefix)


@lru_cache(maxsize=32)
def _compiled(prefix: str) -> re.Pattern[str]:
    validate_prefix(prefix)
    return re.compile(rf"\b{re.escape(prefix)}[0-9A-Za-z]{{{SECRET_LENGTH + CHECKSUM_LENGTH}}}\b")


TOKEN_PATTERN: Final = _compiled(DEFAULT_PREFIX)
r"""``\bbg_live_[0-9A-Za-z]{36}\b``: the pattern of tokens with the default prefix."""


def new_client_id() -> str:
    """A new Client ID: 32 alphanumeric characters from :mod:`secrets`."""
    return _random_base62(CLIENT_ID_LENGTH)


def is_client_id(value: object) -> bool:
    """True for a string of 32 ASCII letters and digits."""
    return isinstance(value, str) and _CLIENT_ID.fullmatch(value) is not None


def new_token_id() -> str:
    """A new public token id, ``tok_`` and 20 random base62 characters (safe to log)."""
    return TOKEN_ID_PREFIX + _random_base62(_TOKEN_ID_LENGTH)


def is_token_id(value: object) -> bool:
    """True for a string shaped like a token id."""
    return isinstance(value, str) and _TOKEN_ID.fullmatch(value) is not None
