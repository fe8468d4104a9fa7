"""The verified caller attached to a request."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from .scopes import has_all, has_any

__all__ = ["Principal"]


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

    def __post_init__(self) -> None:
        if not isinstance(self.scopes, frozenset):
            scopes: Iterable[str] = self.scopes
            if isinstance(scopes, str):
                raise TypeError("scopes must be a collection of strings, not a string")
            object.__setattr__(self, "scopes", frozenset(scopes))
        if not isinstance(self.claims, MappingProxyType):
            object.__setattr__(self, "claims", MappingProxyType(dict(self.claims)))
        if self.expires_at is not None and self.expires_at.utcoffset() is None:
            raise ValueError("expires_at must be a timezone-aware datetime")

    def has_scopes(self, *needed: str) -> bool:
        """True when the granted scopes cover every scope in ``needed``.

        ``*`` covers everything and ``prefix.*`` covers ``prefix.`` at any depth.
        """
        return has_all(self.scopes, needed)

    def has_any_scope(self, *needed: str) -> bool:
        """True when the granted scopes cover at least one scope in ``needed``."""
        return has_any(self.scopes, needed)
