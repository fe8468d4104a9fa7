"""An in-memory token store, for tests and throwaway demos."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..tokens._store import Row
from ._bounded import DEFAULT_MAX_CONCURRENCY, DEFAULT_TIMEOUT, check_limits

if TYPE_CHECKING:
    from ..tokens import TokenRecord

__all__ = ["MemoryTokenStore"]


class MemoryTokenStore:
    """Token rows in a dict, guarded by a lock; gone when the process ends.

    Rows are copied in and out, so nothing a caller holds can change the store.

    Args:
        timeout: Accepted (and checked) like the other stores' for symmetry; every
            call here is a few dict operations and never waits on I/O.
        max_concurrency: Likewise accepted and checked, not needed.

    Raises:
        ValueError: a bad ``timeout`` or ``max_concurrency``.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ) -> None:
        self.timeout, self.max_concurrency = check_limits(timeout, max_concurrency)
        self._rows: dict[str, dict[str, Any]] = {}
        self._by_hash: dict[bytes, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryTokenStore(<{len(self._rows)} tokens>)"

    def add(self, record: TokenRecord) -> None:
        """Insert a new token."""
        row = record.to_row()
        with self._lock:
            self._insert(row)

    def _insert(self, row: dict[str, Any]) -> None:
        if row["id"] in self._rows or row["token_hash"] in self._by_hash:
            raise ValueError("a token with this id or hash already exists")
        self._rows[row["id"]] = row
        self._by_hash[row["token_hash"]] = row["id"]

    def find_by_hash(self, token_hash: bytes) -> Row | None:
        """The row with this SHA-256 digest, or None."""
        with self._lock:
            token_id = self._by_hash.get(token_hash)
            row = None if token_id is None else self._rows.get(token_id)
            return None if row is None else dict(row)

    def get(self, token_id: str) -> Row | None:
        """The row with this id, or None."""
        with self._lock:
            row = self._rows.get(token_id)
            return None if row is None else dict(row)

    def query(self, *, client_id: str | None, include_revoked: bool) -> list[Row]:
        """Rows of one client (or all), oldest first."""
        with self._lock:
            rows: list[Row] = [
                dict(row)
                for row in self._rows.values()
                if (client_id is None or row["client_id"] == client_id)
                and (include_revoked or row["revoked_at"] is None)
            ]
        rows.sort(key=lambda row: (row["created_at"], row["id"]))
        return rows

    def revoke(self, token_id: str, revoked_at: datetime) -> bool:
        """Mark a token revoked."""
        with self._lock:
            row = self._rows.get(token_id)
            if row is None or row["revoked_at"] is not None:
                return False
            row["revoked_at"] = revoked_at
            return True

    def rotate(self, token_id: str, expires_at: datetime, new: TokenRecord) -> bool:
        """Shorten the old token's life and add the new one, atomically."""
        new_row = new.to_row()
        with self._lock:
            row = self._rows.get(token_id)
            if row is None or row["revoked_at"] is not None:
                return False
            self._insert(new_row)
            row["expires_at"] = expires_at
            row["replaced_by"] = new.id
            return True

    def touch(self, last_used: Mapping[str, datetime]) -> None:
        """Move ``last_used_at`` forward."""
        with self._lock:
            for token_id, used_at in last_used.items():
                row = self._rows.get(token_id)
                if row is None:
                    continue
                previous = row["last_used_at"]
                if previous is None or previous < used_at:
                    row["last_used_at"] = used_at

    def prune(self, before: datetime, *, dry_run: bool = False) -> list[Row]:
        """Delete the tokens revoked or expired at or before ``before``; their rows."""

        def ended(row: dict[str, Any]) -> bool:
            revoked, expires = row["revoked_at"], row["expires_at"]
            return (revoked is not None and revoked <= before) or (
                expires is not None and expires <= before
            )

        with self._lock:
            rows: list[Row] = [dict(row) for row in self._rows.values() if ended(row)]
            if not dry_run:
                for row in rows:
                    del self._rows[row["id"]]
                    del self._by_hash[row["token_hash"]]
        rows.sort(key=lambda row: (row["created_at"], row["id"]))
        return rows

    def close(self) -> None:
        """Nothing to release."""
