"""The embedded default store: one SQLite file, stdlib :mod:`sqlite3`, no server."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .base import Row, StoreError

if TYPE_CHECKING:
    from ..tokens import TokenRecord

__all__ = ["SCHEMA_VERSION", "SQLiteTokenStore"]

SCHEMA_VERSION = 1
"""The schema version this bearerguard writes, kept in ``bearerguard_schema``."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS bearerguard_schema (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bearerguard_tokens (
    id TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    client_id TEXT NOT NULL,
    label TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    last_used_at TEXT,
    revoked_at TEXT
);
CREATE INDEX IF NOT EXISTS bearerguard_tokens_client
    ON bearerguard_tokens (client_id, created_at);
"""
_COLUMNS = (
    "id, token_hash, client_id, label, scopes, created_at, expires_at, last_used_at, revoked_at"
)
_INSERT = (
    "INSERT INTO bearerguard_tokens (id, token_hash, client_id, label, scopes, created_at, "
    "expires_at, last_used_at, revoked_at) VALUES (:id, :token_hash, :client_id, :label, "
    ":scopes, :created_at, :expires_at, :last_used_at, :revoked_at)"
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


class _Connection:
    """One thread's connection; closed when the thread's local storage is dropped."""

    __slots__ = ("__weakref__", "closer", "connection", "pid")

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection
        self.pid = os.getpid()
        self.closer = weakref.finalize(self, connection.close)


class SQLiteTokenStore:
    """Client tokens in a SQLite file: the embedded default.

    The schema is created on first use and its version recorded. Each thread gets its
    own connection (and each process: a forked child opens new ones); the database
    runs in WAL mode so readers never wait for a writer, and a busy timeout makes
    writers from several threads or processes queue instead of failing. Construction
    touches nothing on disk.

    Args:
        path: The database file. Its directory must exist.
        timeout: Longest wait for a lock held by another writer, in seconds.
    """

    def __init__(self, path: str | os.PathLike[str], *, timeout: float = 5.0) -> None:
        self.path = os.fspath(path)
        if self.path == ":memory:" or self.path.startswith("file:"):
            raise ValueError("give SQLiteTokenStore a file path; use MemoryTokenStore for tests")
        self.timeout = timeout
        self._local = threading.local()
        self._connections: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._inherited: list[_Connection] = []
        self._ready = False
        self._ready_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLiteTokenStore({self.path!r})"

    # -- connections --------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        connection = self._thread_connection()
        if not self._ready:
            self._create_schema(connection)
        return connection

    def _thread_connection(self) -> sqlite3.Connection:
        held: _Connection | None = getattr(self._local, "held", None)
        if held is not None:
            if held.pid == os.getpid():
                return held.connection
            # Inherited through fork: SQLite forbids using (or closing) it here.
            held.closer.detach()
            self._inherited.append(held)
        # check_same_thread=False only so close() may close it from another thread;
        # each connection is used by the one thread that opened it.
        connection = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            _enable_wal(connection.execute, self.timeout)
            connection.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            connection.close()
            raise
        held = _Connection(connection)
        self._local.held = held
        self._connections.add(held)
        return connection

    def _create_schema(self, connection: sqlite3.Connection) -> None:
        with self._ready_lock:
            if self._ready:
                return
            connection.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute(
                    "INSERT OR IGNORE INTO bearerguard_schema (id, version) VALUES (1, ?)",
                    (SCHEMA_VERSION,),
                )
                (version,) = connection.execute(
                    "SELECT version FROM bearerguard_schema WHERE id = 1"
                ).fetchone()
                connection.execute("COMMIT")
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the database schema is version {version}; this bearerguard "
                    f"knows version {SCHEMA_VERSION} at most"
                )
            self._ready = True

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

    # -- the store protocol ---------------------------------------------------------

    def add(self, record: TokenRecord) -> None:
        """Insert a new token."""
        with self._transaction() as connection:
            connection.execute(_INSERT, _sqlite_row(record))

    def find_by_hash(self, token_hash: bytes) -> Row | None:
        """The row with this SHA-256 digest (unique index), or None."""
        return self._one(f"{_SELECT} WHERE token_hash = ?", token_hash)

    def get(self, token_id: str) -> Row | None:
        """The row with this id, or None."""
        return self._one(f"{_SELECT} WHERE id = ?", token_id)

    def query(self, *, client_id: str | None, include_revoked: bool) -> list[Row]:
        """Rows of one client (or all), oldest first."""
        sql = f"{_SELECT} WHERE (? IS NULL OR client_id = ?)"
        if not include_revoked:
            sql += " AND revoked_at IS NULL"
        with self._errors():
            cursor = self._connect().execute(sql + " ORDER BY created_at, id", (client_id,) * 2)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, found, strict=True)) for found in cursor.fetchall()]

    def revoke(self, token_id: str, revoked_at: datetime) -> bool:
        """Mark a token revoked."""
        with self._transaction() as connection:
            cursor = connection.execute(
                "UPDATE bearerguard_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (_text_time(revoked_at), token_id),
            )
            return cursor.rowcount == 1

    def rotate(self, token_id: str, expires_at: datetime, new: TokenRecord) -> bool:
        """Shorten the old token's life and add the new one, in one transaction."""
        with self._transaction() as connection:
            cursor = connection.execute(
                "UPDATE bearerguard_tokens SET expires_at = ? WHERE id = ? AND revoked_at IS NULL",
                (_text_time(expires_at), token_id),
            )
            if cursor.rowcount != 1:
                return False
            connection.execute(_INSERT, _sqlite_row(new))
            return True

    def touch(self, last_used: Mapping[str, datetime]) -> None:
        """Move ``last_used_at`` forward, one transaction for the batch."""
        updates = [(_text_time(at), token_id, _text_time(at)) for token_id, at in last_used.items()]
        with self._transaction() as connection:
            connection.executemany(
                "UPDATE bearerguard_tokens SET last_used_at = ? WHERE id = ? "
                "AND (last_used_at IS NULL OR last_used_at < ?)",
                updates,
            )

    def close(self) -> None:
        """Close every connection this store opened (threads reopen on next use)."""
        for held in list(self._connections):
            with contextlib.suppress(sqlite3.Error):
                held.connection.close()
        self._local = threading.local()


# SQLITE_BUSY and SQLITE_LOCKED (sqlite3.h), the answers worth waiting out.
_BUSY_CODES = (5, 6)


def _enable_wal(execute: Callable[[str], object], timeout: float) -> None:
    """Switch the file to WAL, waiting up to ``timeout`` seconds for other processes.

    The switch needs the file to itself, and SQLite may answer "database is locked"
    at once, without its busy handler, while another process opens or switches the
    same new file: so wait and retry here. Once a file is in WAL, the pragma is a
    no-op that takes no lock.
    """
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        try:
            execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            busy = getattr(exc, "sqlite_errorcode", None) in _BUSY_CODES
            if not busy or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
