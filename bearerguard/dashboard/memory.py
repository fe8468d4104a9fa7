"""An in-memory application store, for tests and throwaway demos."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from ..tokens._store import Row
from ._records import Application
from ._store import check_update

__all__ = ["MemoryApplicationStore"]


class MemoryApplicationStore:
    """Application rows in a dict, guarded by a lock; gone when the process ends.

    Rows are copied in and out, so nothing a caller holds can change the store.
    """

    def __init__(self) -> None:
        self._rows: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryApplicationStore(<{len(self._rows)} applications>)"

    def add(self, application: Application) -> None:
        """Insert a new application."""
        row = application.to_row()
        with self._lock:
            if row["client_id"] in self._rows:
                raise ValueError("an application with this Client ID already exists")
            self._rows[row["client_id"]] = row

    def get(self, client_id: str) -> Row | None:
        """The row with this Client ID, or None."""
        with self._lock:
            row = self._rows.get(client_id)
            return None if row is None else dict(row)

    def query(self, *, owner: str | None, include_revoked: bool) -> list[Row]:
        """Rows of one owner (or all), oldest first."""
        with self._lock:
            rows: list[Row] = [
                dict(row)
                for row in self._rows.values()
                if (owner is None or row["owner"] == owner)
                and (include_revoked or row["revoked_at"] is None)
            ]
        rows.sort(key=lambda row: (row["created_at"], row["client_id"]))
        return rows

    def update(self, client_id: str, values: Mapping[str, Any]) -> bool:
        """Change columns of an unrevoked application."""
        check_update(values)
        with self._lock:
            row = self._rows.get(client_id)
            if row is None or row["revoked_at"] is not None:
                return False
            row.update(values)
            return True

    def close(self) -> None:
        """Nothing to release."""
