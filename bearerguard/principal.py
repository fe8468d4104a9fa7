"""The verified caller attached to a request."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from .scopes import has_all, has_any

__all__ = ["JSONClaims", "Principal"]


class JSONClaims(Mapping[str, Any]):
    """Read-only claims kept as the JSON bytes they came in, decoded on first read.

    A cached principal lives for ``cache_ttl`` and most apps never read its claims:
    the bytes of a JWT payload take a fraction of the memory of the dict ``json.loads``
    makes of them (a cached JWT principal went from about 2.5 KB to under 1 KB).

    Args:
        data: A UTF-8 JSON object, already validated by whoever built the principal.
    """

    __slots__ = ("_data", "_decoded")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._decoded: dict[str, Any] | None = None

    def _claims(self) -> dict[str, Any]:
        decoded = self._decoded
        if decoded is None:
            decoded = self._decoded = json.loads(self._data)
        return decoded

    def __getitem__(self, name: str) -> Any:
        return self._claims()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._claims())

    def __len__(self) -> int:
        return len(self._claims())

    def __repr__(self) -> str:
        return f"JSONClaims({self._claims()!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who presented a token, and what the token grants.

    Attributes:
        kind: The verifier's kind: ``"oauth"``, ``"client"``, or a custom one.
        subject: The caller's identity (a JWT ``sub``, a client token's id).
        scopes: The granted scopes.
        client_id: The OAuth client or payment application, when known.
        token_id: A public identifier of the token (safe to log), when known.
        expires_at: When the token stops being valid (timezone-aware), or None.
        claims: Read-only claims as the verifier saw them.
        literal_scopes: Scopes are plain strings: ``*`` and ``prefix.*`` grant only
            themselves. The wildcards are bearerguard's convention for the tokens it
            issues; an identity provider does not mean them, so the JWT and
            introspection verifiers set this unless told to honour wildcards.
    """

    kind: str
    subject: str
    scopes: frozenset[str] = frozenset()
    client_id: str | None = None
    token_id: str | None = None
    expires_at: datetime | None = None
    # Left out of the hash (a mapping is unhashable) but not out of equality, so a
    # frozen value can still be put in a set or used as a key.
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, hash=False)
    literal_scopes: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.scopes, frozenset):
            scopes: Iterable[str] = self.scopes
            if isinstance(scopes, str):
                raise TypeError("scopes must be a collection of strings, not a string")
            object.__setattr__(self, "scopes", frozenset(scopes))
        if not isinstance(self.claims, (MappingProxyType, JSONClaims)):
            object.__setattr__(self, "claims", MappingProxyType(dict(self.claims)))
        if self.expires_at is not None and self.expires_at.utcoffset() is None:
            raise ValueError("expires_at must be a timezone-aware datetime")

    def has_scopes(self, *needed: str) -> bool:
        """True when the granted scopes cover every scope in ``needed``.

        ``*`` covers everything and ``prefix.*`` covers ``prefix.`` at any depth,
        unless :attr:`literal_scopes` is set.
        """
        if self.literal_scopes:
            return self.scopes.issuperset(needed)
        return has_all(self.scopes, needed)

    def has_any_scope(self, *needed: str) -> bool:
        """True when the granted scopes cover at least one scope in ``needed``."""
        if self.literal_scopes:
            return not self.scopes.isdisjoint(needed)
        return has_any(self.scopes, needed)
