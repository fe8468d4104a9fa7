"""The token store protocol: what a :class:`~bearerguard.tokens.TokenManager` needs.

A store keeps rows: mappings with the columns ``id``, ``token_hash``, ``client_id``,
``label``, ``scopes``, ``created_at``, ``expires_at``, ``last_used_at`` and
``revoked_at`` (see :meth:`TokenRecord.to_row <bearerguard.tokens.TokenRecord.to_row>`).
Stores hand rows back as they read them; the manager parses them strictly, so a
corrupt row refuses its token instead of failing the request (F-02). A store never
sees a plaintext token, only its SHA-256 digest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..tokens import TokenRecord

__all__ = ["Row", "StoreError", "TokenStore"]

Row = Mapping[str, Any]
"""One stored token: column name to value."""


class StoreError(Exception):
    """The token store failed (unreachable, locked, schema too new, ...).

    The message never carries a token. Verification turns any store failure into
    503; the CLI into exit code 1.
    """


@runtime_checkable
class TokenStore(Protocol):
    """Where client tokens live. Any object with these methods will do (duck typing).

    Every method may raise on a backend failure; the bundled stores raise
    :class:`StoreError`.
    """

    def add(self, record: TokenRecord) -> None:
        """Insert a new token (``record.to_row()``); ids and hashes are unique."""
        ...

    def find_by_hash(self, token_hash: bytes) -> Row | None:
        """The row whose ``token_hash`` is this SHA-256 digest (an indexed lookup)."""
        ...

    def get(self, token_id: str) -> Row | None:
        """The row with this token id, or None."""
        ...

    def query(self, *, client_id: str | None, include_revoked: bool) -> Sequence[Row]:
        """Rows, oldest first, of one client (or all), without revoked ones unless asked."""
        ...

    def revoke(self, token_id: str, revoked_at: datetime) -> bool:
        """Mark a token revoked; False when there is no such unrevoked token."""
        ...

    def rotate(self, token_id: str, expires_at: datetime, new: TokenRecord) -> bool:
        """In one transaction: set the old token's ``expires_at`` and add ``new``.

        False (and nothing written) when there is no such unrevoked token.
        """
        ...

    def touch(self, last_used: Mapping[str, datetime]) -> None:
        """Move ``last_used_at`` forward for each token id (never backward)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
