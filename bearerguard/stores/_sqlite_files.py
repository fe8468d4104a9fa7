"""One thread's SQLite connection: opened in WAL mode, fork-safe, tied to its file."""

from __future__ import annotations

import os
import sqlite3
import time
import weakref
from collections.abc import Callable

from ..tokens._store import StoreError

__all__ = ["FileId", "Held", "enable_wal", "file_id"]

# Connections a forked child inherited: SQLite forbids using or closing them there
# (closing may checkpoint and delete the parent's WAL), so they are kept, unused.
_INHERITED: list[sqlite3.Connection] = []


def _close(connection: sqlite3.Connection, pid: int) -> None:
    if os.getpid() == pid:
        connection.close()
    else:
        _INHERITED.append(connection)


FileId = tuple[int, int]


def file_id(path: str) -> FileId | None:
    """``(st_dev, st_ino)`` of the file at ``path``, or None when there is none."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


class Held:
    """One thread's connection and the file it opened; closed with the thread's locals."""

    __slots__ = ("__weakref__", "closer", "connection", "file", "pid")

    def __init__(self, connection: sqlite3.Connection, file: FileId | None) -> None:
        self.connection = connection
        self.file = file
        self.pid = os.getpid()
        # Also run in a forked child when the parent's thread-locals are dropped.
        self.closer = weakref.finalize(self, _close, connection, self.pid)

    @classmethod
    def open(cls, path: str, timeout: float) -> Held:
        """Open ``path`` in WAL mode with a busy timeout of ``timeout`` seconds.

        Raises:
            StoreError: the file cannot be opened (the message names the path).
        """
        # check_same_thread=False only so close() may close it from another thread;
        # each connection is used by the one thread that opened it.
        try:
            connection = sqlite3.connect(
                path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            # SQLite's own message ("unable to open database file") names no path.
            folder = os.path.dirname(os.path.abspath(path))
            reason = f"the folder {folder} does not exist" if not os.path.isdir(folder) else exc
            raise StoreError(f"cannot open the SQLite database {path}: {reason}") from exc
        try:
            connection.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            enable_wal(connection.execute, timeout)
            connection.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            connection.close()
            raise
        return cls(connection, file_id(path))


# SQLITE_BUSY and SQLITE_LOCKED (sqlite3.h), the answers worth waiting out.
_BUSY_CODES = (5, 6)


def enable_wal(execute: Callable[[str], object], timeout: float) -> None:
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
