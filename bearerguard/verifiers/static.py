"""A fixed table of tokens, for development and tests."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from ..exceptions import UnauthenticatedError
from ..principal import Principal

__all__ = ["StaticTokenVerifier"]


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()


class StaticTokenVerifier:
    """Accept exactly the tokens of a table, each mapped to scopes or a Principal.

    Tokens are kept only as SHA-256 digests. ``accepts`` looks the digest up in a dict;
    ``verify`` compares it with :func:`hmac.compare_digest` against every entry of the
    table, so its time says nothing about which token matched (linear in the table: a
    development table is small, and a cache hit never gets here).

    Args:
        tokens: ``{token: scopes}`` or ``{token: Principal}``. A principal built from
            scopes has this verifier's ``kind`` and a ``token_id``/``subject`` derived
            from the token's digest (safe to log).
        kind: The kind of principal built from scopes.
    """

    def __init__(
        self, tokens: Mapping[str, Iterable[str] | Principal], kind: str = "client"
    ) -> None:
        self.kind = kind
        self._table: dict[bytes, Principal] = {}
        for token, value in tokens.items():
            if not token or not isinstance(token, str):
                raise ValueError("static tokens must be non-empty strings")
            digest = _digest(token)
            if isinstance(value, Principal):
                principal = value
            else:
                if isinstance(value, str):
                    raise TypeError("give scopes as a list, not a string")
                token_id = "static_" + digest.hex()[:12]
                principal = Principal(
                    kind=kind, subject=token_id, scopes=frozenset(value), token_id=token_id
                )
            self._table[digest] = principal
        # The tokens' lengths, so that a token of another length (a JWT given to a
        # guard that also has a static table) is turned away without hashing it. A
        # length is all it tells, and a development table's lengths are no secret.
        self._lengths = frozenset(len(token) for token in tokens)

    def __repr__(self) -> str:
        return f"StaticTokenVerifier(<{len(self._table)} tokens>, kind={self.kind!r})"

    def accepts(self, token: str) -> bool:
        """True for a token in the table."""
        return len(token) in self._lengths and _digest(token) in self._table

    def verify(self, token: str) -> Principal:
        """The principal of a token in the table."""
        digest = _digest(token)
        found: Principal | None = None
        # Compare against every entry, so the time taken says nothing about which one.
        for known, principal in self._table.items():
            if hmac.compare_digest(known, digest):
                found = principal
        if found is None:
            raise UnauthenticatedError()
        return found
