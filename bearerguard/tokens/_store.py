"""The store port: what a :class:`~bearerguard.tokens.TokenManager` needs from a store.

It lives here, with the code that consumes it, so imports run one way: the bundled
stores (:mod:`bearerguard.stores`) import this module, and nothing in
:mod:`bearerguard.tokens` imports a store.

A store keeps rows: mappings with the columns ``id``, ``token_hash``, ``client_id``,
``label``, ``scopes``, ``created_at``, ``expires_at``, ``last_used_at``,
``revoked_at`` and ``replaced_by`` (see :meth:`TokenRecord.to_row
<bearerguard.tokens.TokenRecord.to_row>`). Stores hand rows back as they read them;
the manager parses them strictly, so a corrupt row refuses its token instead of
failing the request (F-02). A store never sees a plaintext token, only its SHA-256
digest.

```
StoreError                 the store failed: verification answers 503, the CLI exits 1
├── StoreTimeoutError      no answer within the store's timeout
└── StoreBusyError         max_concurrency calls already waiting on this store
```
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from ._records import TokenRecord

__all__ = [
    "SCHEMA_VERSION",
    "Row",
    "StoreBusyError",
    "StoreError",
    "StoreTimeoutError",
    "TokenStore",
]

SCHEMA_VERSION = 2
"""The schema version the bundled stores write, kept in ``bearerguard_schema``.

Version 2 added ``replaced_by``; the bundled stores upgrade a version 1 database on
first use.
"""

Row = Mapping[str, Any]
"""One stored token: column name to value."""


class StoreError(Exception):
    """The token store failed (unreachable, locked, schema too new, ...).

    The message never carries a token. Verification turns any store failure into
    503; the CLI into exit code 1.
    """


class StoreTimeoutError(StoreError):
    """The store did not answer within its ``timeout``.

    The call may still complete in the background (a write may land): retrying is
    safe, as revoking twice changes nothing and a token issued unseen is never shown.
    """


class StoreBusyError(StoreError):
    """``max_concurrency`` calls were already waiting on the store: refused at once."""


@runtime_checkable
class TokenStore(Protocol):
    """Where client tokens live. Any object with these methods will do (duck typing).

    Every method may raise on a backend failure; the bundled stores raise
    :class:`StoreError`, and finish every call within their ``timeout``.
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
        """In one transaction: set the old token's ``expires_at``, add ``new``.

        The old row's ``replaced_by`` becomes ``new.id``.

        False (and nothing written) when there is no such unrevoked token.
        """
        ...

    def touch(self, last_used: Mapping[str, datetime]) -> None:
        """Move ``last_used_at`` forward for each token id (never backward)."""
        ...

    def prune(self, before: datetime, *, dry_run: bool = False) -> Sequence[Row]:
        """Delete the tokens revoked or expired at or before ``before``; their rows.

        Oldest first. With ``dry_run`` nothing is deleted: the rows that would be.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...
