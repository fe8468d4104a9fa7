"""Payment applications in a SQLite file, beside (or apart from) the client tokens.

The store shares its machinery with :class:`~bearerguard.stores.SQLiteTokenStore`:
one connection per store thread, WAL, bounded calls, a file deleted under the
process noticed. Give both stores the same path to keep one file.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from ..stores._bounded import DEFAULT_MAX_CONCURRENCY, DEFAULT_TIMEOUT
from ..stores.sqlite import SQLiteTokenStore
from ..tokens._store import Row
from ._records import COLUMNS, Application
from ._store import check_update

__all__ = ["SQLiteApplicationStore"]

_TABLE = """
CREATE TABLE IF NOT EXISTS bearerguard_applications (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    owner TEXT NOT NULL,
    webhook_secret BLOB NOT NULL,
    previous_webhook_secret BLOB,
    previous_secret_expires_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    revoked_at TEXT
)
"""
_INDEX = (
    "CREATE INDEX IF NOT EXISTS bearerguard_applications_owner "
    "ON bearerguard_applications (owner, created_at)"
)
_SELECT = f"SELECT {', '.join(COLUMNS)} FROM bearerguard_applications"  # noqa: S608
_INSERT = (
    f"INSERT INTO bearerguard_applications ({', '.join(COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(':' + name for name in COLUMNS)})"
)


def _text_time(value: Any) -> Any:
    # One fixed-width UTC form, so text order is time order (as the token store).
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="microseconds")
    return value


class SQLiteApplicationStore:
    """Payment applications in a SQLite file (table ``bearerguard_applications``).

    Every call answers within ``timeout`` and at most ``max_concurrency`` wait at once,
    as with :class:`~bearerguard.stores.SQLiteTokenStore`; construction touches
    nothing on disk.

    Args:
        path: The database file (the token store's file will do). Its directory must exist.
        timeout: Longest wait for one store call, in seconds (default 3).
        max_concurrency: Store calls under way at once (default 4).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ) -> None:
        self._db = SQLiteTokenStore(path, timeout=timeout, max_concurrency=max_concurrency)
        self.path = self._db.path
        self.timeout = self._db.timeout
        self.max_concurrency = self._db.max_concurrency
        self._ready = False
        self._ready_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLiteApplicationStore({self.path!r})"

    def _call(self, fn: Any, *args: Any) -> Any:
        return self._db._calls.call(fn, *args)

    def _ensure_table(self) -> None:
        if self._ready:
            return
        with self._ready_lock, self._db._transaction() as connection:
            connection.execute(_TABLE)
            connection.execute(_INDEX)
        self._ready = True

    def _rows(self, sql: str, *args: Any) -> list[Row]:
        self._ensure_table()
        with self._db._errors():
            cursor = self._db._connect().execute(sql, args)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, found, strict=True)) for found in cursor.fetchall()]

    # -- the store protocol ---------------------------------------------------------

    def add(self, application: Application) -> None:
        """Insert a new application."""
        self._call(self._add, application)

    def get(self, client_id: str) -> Row | None:
        """The row with this Client ID, or None."""
        rows = self._call(self._rows, f"{_SELECT} WHERE client_id = ?", client_id)
        return rows[0] if rows else None

    def query(self, *, owner: str | None, include_revoked: bool) -> list[Row]:
        """Rows of one owner (or all), oldest first."""
        sql = f"{_SELECT} WHERE (? IS NULL OR owner = ?)"
        if not include_revoked:
            sql += " AND revoked_at IS NULL"
        result: list[Row] = self._call(
            self._rows, sql + " ORDER BY created_at, client_id", owner, owner
        )
        return result

    def update(self, client_id: str, values: Mapping[str, Any]) -> bool:
        """Change columns of an unrevoked application, in one transaction."""
        check_update(values)
        done: bool = self._call(self._update, client_id, dict(values))
        return done

    def close(self) -> None:
        """Close every connection this store opened (they reopen on next use).

        As :meth:`SQLiteTokenStore.close <bearerguard.stores.SQLiteTokenStore.close>`:
        calls under way finish first.
        """
        self._db.close()

    # -- what runs on the store's threads -------------------------------------------

    def _add(self, application: Application) -> None:
        self._ensure_table()
        row = {name: _text_time(value) for name, value in application.to_row().items()}
        with self._db._transaction() as connection:
            connection.execute(_INSERT, row)

    def _update(self, client_id: str, values: dict[str, Any]) -> bool:
        self._ensure_table()
        # Column names come from MUTABLE_COLUMNS only (check_update), never from input.
        assignments = ", ".join(f"{name} = :{name}" for name in values)
        parameters = {name: _text_time(value) for name, value in values.items()}
        parameters["client_id_"] = client_id
        with self._db._transaction() as connection:
            cursor = connection.execute(
                f"UPDATE bearerguard_applications SET {assignments} "  # noqa: S608
                "WHERE client_id = :client_id_ AND revoked_at IS NULL",
                parameters,
            )
            return cursor.rowcount == 1
