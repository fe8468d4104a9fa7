"""Scope algebra: what a set of granted scopes satisfies.

A granted ``*`` satisfies everything. A granted ``prefix.*`` satisfies every scope that
begins with ``prefix.`` at any depth (``payments.*`` covers ``payments.create`` and
``payments.user-instructions.get``), never ``prefix`` itself nor ``prefixx.y``.
Matching is otherwise exact and case-sensitive (RFC 6749 section 3.3).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Set

__all__ = ["has_all", "has_any", "satisfies", "validate_scopes"]

# RFC 6749 section 3.3 scope-token: %x21 / %x23-5B / %x5D-7E, at least one character.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")


def satisfies(granted: Set[str], needed: str) -> bool:
    """True when ``granted`` covers the single scope ``needed``."""
    if needed in granted or "*" in granted:
        return True
    dot = needed.find(".")
    while dot != -1:
        if needed[: dot + 1] + "*" in granted:
            return True
        dot = needed.find(".", dot + 1)
    return False


def has_all(granted: Set[str], needed: Iterable[str]) -> bool:
    """True when every scope in ``needed`` is covered."""
    return all(satisfies(granted, scope) for scope in needed)


def has_any(granted: Set[str], needed: Iterable[str]) -> bool:
    """True when at least one scope in ``needed`` is covered (False for none)."""
    return any(satisfies(granted, scope) for scope in needed)


def validate_scopes(scopes: str | Iterable[str], *, what: str = "scope") -> tuple[str, ...]:
    """Check required scope names at configuration time and return them as a tuple.

    Raises:
        ValueError: a name is empty or has a space, quote, backslash or non-ASCII
            character (it could not be written in a ``WWW-Authenticate`` header).
    """
    if isinstance(scopes, str):
        scopes = (scopes,)
    result = tuple(scopes)
    for scope in result:
        if not isinstance(scope, str) or not _SCOPE_TOKEN.fullmatch(scope):
            raise ValueError(f"invalid {what} name: {scope!r}")
    return result
