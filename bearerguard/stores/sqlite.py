"""The embedded default store: one SQLite file, stdlib :mod:`sqlite3`, no server."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..tokens._store import SCHEMA_VERSION, Row, StoreError
from ._bounded import DEFAULT_MAX_CONCURRENCY, DEFAULT_TIMEOUT, BoundedCalls, BoundedStore
from ._sqlite_files import FileId, Held, file_id
from ._sqlite_schema import create_schema

if TYPE_CHECKING:
    from ..tokens import TokenRecord

__all__ = ["SCHEMA_VERSION", "SQLiteTokenStore"]

_COLUMNS = (
    "id, token_hash, client_id, label, scopes, created_at, expires_at, last_used_at, "
    "revoked_at, replaced_by"
)
_INSERT = (
    "INSERT INTO bearerguard_tokens (id, token_hash, client_id, label, scopes, created_at, "
    "expires_at, last_used_at, revoked_at, replaced_by) VALUES (:id, :token_hash, "
    ":client_id, :label, :scopes, :created_at, :expires_at, :last_used_at, :revoked_at, "
    ":replaced_by)"
)
_SELECT = f"SELECT {_COLUMNS} FROM bearerguard_tokens"  # noqa: S608 - constants only


def _text_time(value: datetime | None) -> str | None:
    # One fixed-width UTC form, so text order is time order (list, touch).
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _sqlite_row(record: TokenRecord) -> dict[str, Any]:
    row = record.to_row()
    for name in ("created_at", "expires_at", "last_used_at", "revoked_at"):
        row[name] = _text_time(row[name])
    return row


class SQLiteTokenStore(BoundedStore):
    """Client tokens in a SQLite file: the embedded default.

    The schema is created on first use and its version recorded; opening a file that
    has the current schema only reads it, so a store starts while another process
    writes. The database runs in WAL mode, so readers never wait for a writer, and
    writers from several threads or processes queue for up to ``timeout`` (SQLite's
    busy timeout) instead of failing. Construction touches nothing on disk.

    Every call answers within ``timeout``: it runs on one of ``max_concurrency``
    threads of the store's own, each with its own connection (a forked child opens
    new ones), and the caller stops waiting at the deadline
    (:class:`~bearerguard.tokens.StoreTimeoutError`, 503). Past ``max_concurrency``
    calls at once a caller is refused within 0.05 s
    (:class:`~bearerguard.tokens.StoreBusyError`, 503). A database file deleted or
    replaced under the running process is noticed: calls then fail with a
    :class:`~bearerguard.tokens.StoreError` naming the path, rather than report a
    write into an unlinked file as done.

    Args:
        path: The database file. Its directory must exist.
        timeout: Longest wait for one store call, in seconds (default 3).
        max_concurrency: Store calls under way at once (default 4).

    Raises:
        ValueError: an in-memory path, or a bad ``timeout`` or ``max_concurrency``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ) -> None:
        self.path = os.fspath(path)
        if self.path == ":memory:" or self.path.startswith("file:"):
            raise ValueError("give SQLiteTokenStore a file path; use MemoryTokenStore for tests")
        self._calls = BoundedCalls(
            f"the SQLite token store {self.path}", timeout=timeout, max_concurrency=max_concurrency
        )
        self.timeout = self._calls.timeout
        self.max_concurrency = self._calls.max_concurrency
        self._local = threading.local()
        self._connections: weakref.WeakSet[Held] = weakref.WeakSet()
        self._file: FileId | None = None  # the file the first connection opened
        self._ready = False  # its schema is checked

    def __repr__(self) -> str:
        return f"SQLiteTokenStore({self.path!r})"

    # -- connections --------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        connection = self._thread_connection()
        if not self._ready:
            create_schema(connection)
            self._ready = True
        return connection

    def _thread_connection(self) -> sqlite3.Connection:
        held: Held | None = getattr(self._local, "held", None)
        if held is not None and held.pid == os.getpid():
            self._check_file()
            return held.connection
        # (A connection inherited through fork is dropped here: its finalizer keeps
        # it unclosed in this process.)
        self._check_file()  # never open a new, empty file in place of ours
        held = Held.open(self.path, self.timeout)
        if self._file is None:
            self._file = held.file
        self._local.held = held
        self._connections.add(held)
        self._check_file()
        return held.connection

    def _check_file(self) -> None:
        """Check that the path still names the file this store opened first.

        A file deleted while open lives on, unlinked, until its last connection
        closes: a write there would report success and be lost with it, and opening
        the path again would silently start an empty database. A file put in its
        place is refused too: this store's WAL belongs to the old one.

        Raises:
            StoreError: the database file was deleted or replaced while in use.
        """
        if self._file is not None and file_id(self.path) != self._file:
            raise StoreError(
                f"the SQLite database file {self.path} was deleted or replaced while in "
                "use; it is neither read nor written until the process restarts"
            )

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite: {type(exc).__name__}: {exc}") from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._errors():
            connection = self._connect()
            # IMMEDIATE takes the write lock up front: no upgrade deadlock between
            # two readers that both want to write.
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                self._check_file()  # deleted meanwhile: roll back rather than lose it
                connection.execute("COMMIT")
            except BaseException:
                # A failed COMMIT leaves the transaction open (it would hold the write
                # lock and wedge this thread's connection); an error SQLite rolled back
                # itself leaves none, and ROLLBACK would then hide the real error.
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    def _one(self, sql: str, *args: Any) -> Row | None:
        with self._errors():
            cursor = self._connect().execute(sql, args)
            found = cursor.fetchone()
            if found is None:
                return None
            names = [column[0] for column in cursor.description]
            return dict(zip(names, found, strict=True))

    # -- the store protocol: each call bounded (BoundedStore) -----------------------

    def close(self) -> None:
        """Close every connection this store opened (they reopen on next use).

        Calls under way finish first (waiting at most ``timeout``; past that the last
        of them closes), and calls made meanwhile raise
        :class:`~bearerguard.tokens.StoreError`: SQLite must not lose a connection
        under a running statement.
        """
        self._calls.close(self._close_connections)

    def _close_connections(self) -> None:
        for held in list(self._connections):
            with contextlib.suppress(sqlite3.Error):
                held.closer()
        self._local = threading.local()

    # -- what runs on the store's threads -------------------------------------------

    def _add(self, record: TokenRecord) -> None:
        with self._transaction() as connection:
            connection.execute(_INSERT, _sqlite_row(record))

    def _find_by_hash(self, token_hash: bytes) -> Row | None:
        return self._one(f"{_SELECT} WHERE token_hash = ?", token_hash)

    def _get(self, token_id: str) -> Row | None:
        return self._one(f"{_SELECT} WHERE id = ?", token_id)

    def _query(self, client_id: str | None, include_revoked: bool) -> list[Row]:
        sql = f"{_SELECT} WHERE (? IS NULL OR client_id = ?)"
        if not include_revoked:
            sql += " AND revoked_at IS NULL"
        with self._errors():
            cursor = self._connect().execute(sql + " ORDER BY created_at, id", (client_id,) * 2)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, found, strict=True)) for found in cursor.fetchall()]

    def _revoke(self, token_id: str, revoked_at: datetime) -> bool:
        with self._transaction() as connection:
            cursor = connection.execute(
                "UPDATE bearerguard_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (_text_time(revoked_at), token_id),
            )
            return cursor.rowcount == 1

    def _rotate(self, token_id: str, expires_at: datetime, new: TokenRecord) -> bool:
        with self._transaction() as connection:
            cursor = connection.execute(
                "UPDATE bearerguard_tokens SET expires_at = ?, replaced_by = ? "
                "WHERE id = ? AND revoked_at IS NULL",
                (_text_time(expires_at), new.id, token_id),
            )
            if cursor.rowcount != 1:
                return False
            connection.execute(_INSERT, _sqlite_row(new))
            return True

    def _prune(self, before: datetime, dry_run: bool) -> list[Row]:
        at = _text_time(before)
        with self._transaction() as connection:
            cursor = connection.execute(
                f"{_SELECT} WHERE {_ENDED} ORDER BY created_at, id",
                (at, at),
            )
            names = [column[0] for column in cursor.description]
            rows: list[Row] = [dict(zip(names, found, strict=True)) for found in cursor]
            if not dry_run:
                # The same predicate in the same write transaction: the same rows.
                connection.execute(_DELETE_ENDED, (at, at))
            return rows

    def _touch(self, last_used: Mapping[str, datetime]) -> None:
        updates = [(_text_time(at), token_id, _text_time(at)) for token_id, at in last_used.items()]
        with self._transaction() as connection:
            connection.executemany(
                "UPDATE bearerguard_tokens SET last_used_at = ? WHERE id = ? "
                "AND (last_used_at IS NULL OR last_used_at < ?)",
                updates,
            )


_ENDED = (
    "(revoked_at IS NOT NULL AND revoked_at <= ?) OR (expires_at IS NOT NULL AND expires_at <= ?)"
)

_DELETE_ENDED = f"DELETE FROM bearerguard_tokens WHERE {_ENDED}"  # noqa: S608 - constants only
