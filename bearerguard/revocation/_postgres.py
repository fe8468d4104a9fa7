"""PostgresRevocationBus: ``LISTEN``/``NOTIFY`` for the messages, a table for the list."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from typing import Any

from ._message import Revocation
from ._shared import SharedBus
from ._subscriber import Deliver

__all__ = ["PostgresRevocationBus"]

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# One row per revoked id; ``value`` is a subject revocation's "before" (else 0),
# ``expires_at`` the UNIX time after which the row may go (NULL: kept for good).
_CREATE = """
CREATE TABLE IF NOT EXISTS {table} (
    id text PRIMARY KEY,
    value double precision NOT NULL,
    expires_at double precision
)
"""
_RECORD = """
INSERT INTO {table} (id, value, expires_at) VALUES (%s, %s, %s)
ON CONFLICT (id) DO UPDATE SET
    value = GREATEST({table}.value, EXCLUDED.value),
    expires_at = CASE
        WHEN {table}.expires_at IS NULL OR EXCLUDED.expires_at IS NULL THEN NULL
        ELSE GREATEST({table}.expires_at, EXCLUDED.expires_at)
    END
"""
_PRUNE = "DELETE FROM {table} WHERE expires_at < %s"
_LOOKUP = (
    "SELECT id, value FROM {table} WHERE id = ANY(%s) AND (expires_at IS NULL OR expires_at > %s)"
)


def libpq_dsn(url: str) -> str:
    """A libpq connection string from a SQLAlchemy-style URL, a libpq URI or a DSN.

    Raises:
        ValueError: a URL of another driver or database.
    """
    if not isinstance(url, str) or not url.strip():
        raise ValueError("give a PostgreSQL URL or a libpq DSN")
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url  # key=value DSN
    if scheme in ("postgresql+psycopg", "postgresql", "postgres"):
        return "postgresql://" + rest
    raise ValueError("PostgresRevocationBus needs a postgresql+psycopg:// URL or a libpq DSN")


def _describe(dsn: str) -> str:
    import psycopg.conninfo

    try:
        info = psycopg.conninfo.conninfo_to_dict(dsn)
    except psycopg.Error:
        return "postgresql"
    return f"postgresql {info.get('host', '')}:{info.get('port', 5432)}/{info.get('dbname', '')}"


class PostgresRevocationBus(SharedBus):
    """A revocation bus on PostgreSQL alone, through psycopg 3.

    Messages go out with ``pg_notify(channel, message)``; each process ``LISTEN``\\ s
    on one asyncio connection, in its own thread. Revocations are rows of ``table``
    (created on first use), pruned by expiry whenever one is recorded, read with one
    ``SELECT`` per verification miss.

    Every call answers within ``timeout`` whatever the network does: calls run on a
    few daemon threads of the bus's own and the caller stops waiting at the deadline
    (psycopg's sync calls have no deadline of their own; see
    ``bearerguard.stores._bounded``).

    Args:
        url: ``postgresql+psycopg://user:password@host/db``, ``postgresql://...`` or
            a libpq DSN (``host=... dbname=...``).
        channel: The ``NOTIFY`` channel (lower-case letters, digits, ``_``).
        table: The revocation-list table (same rule).
        timeout: Longest wait for one call or a heartbeat's answer, in seconds.
        heartbeat: Seconds between the listener's ``SELECT 1`` round trips.
        revocation_list: Keep the shared revocation list and have guards read it on
            every verification miss (a miss that cannot read it is a 503). False: the
            bus only carries evictions, so an outage never fails a request, and
            ``guard.revoke`` is not available.
        max_concurrency: Calls (and connections) under way at once for this process.

    Raises:
        ImportError: psycopg is not installed (the ``sql`` extra).
        ValueError: a bad URL, name, timeout or heartbeat.
    """

    def __init__(
        self,
        url: str,
        *,
        channel: str = "bearerguard_revocations",
        table: str = "bearerguard_revocations",
        timeout: float = 1.0,
        heartbeat: float = 1.0,
        revocation_list: bool = True,
        max_concurrency: int = 4,
    ) -> None:
        import psycopg  # noqa: F401  # fail here, not in a thread, without the extra

        for name, value in (("channel", channel), ("table", table)):
            if not isinstance(value, str) or not _NAME.fullmatch(value):
                raise ValueError(f"{name} must be a lower-case SQL name (letters, digits, _)")
        self._dsn = libpq_dsn(url)
        self._share(
            _describe(self._dsn),
            self._listener,
            timeout=timeout,
            heartbeat=heartbeat,
            revocation_list=revocation_list,
            max_concurrency=max_concurrency,
        )
        self.channel = channel
        self.table = table
        seconds = max(2, math.ceil(self.timeout))  # libpq's whole seconds, 2 at least
        # Bounds what an abandoned thread waits for (see stores._sql_setup).
        self._connect_options: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": seconds,
            "keepalives": 1,
            "keepalives_idle": seconds,
            "keepalives_interval": 1,
            "keepalives_count": 3,
            "tcp_user_timeout": math.ceil(self.timeout * 1000),
        }
        self._local = threading.local()  # one connection per call thread
        self._opened: list[Any] = []  # ... all of them, for close()
        self._opened_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PostgresRevocationBus({self._what!r})"

    def publish(self, revocation: Revocation) -> None:
        """``NOTIFY`` every listening process."""
        try:
            message = (self.channel, revocation.encode())
            self._calls.call(self._execute, "SELECT pg_notify(%s, %s)", message)
        except Exception as exc:
            raise self._failure("publish", exc) from None

    async def apublish(self, revocation: Revocation) -> None:
        """Async twin of :meth:`publish` (the bounded call runs in a worker thread)."""
        import anyio.to_thread

        await anyio.to_thread.run_sync(self.publish, revocation)

    def record(self, revocation: Revocation, expires_at: float | None) -> None:
        """Upsert one row per id and prune the rows that expired."""
        try:
            self._calls.call(self._record, revocation, expires_at)
        except Exception as exc:
            raise self._failure("record", exc) from None

    def lookup(self, ids: Sequence[str], now: float) -> dict[str, float]:
        """One ``SELECT`` of the ids still in force."""
        try:
            rows = self._calls.call(self._execute, _LOOKUP, (list(ids), now))
        except Exception as exc:
            raise self._failure("lookup", exc) from None
        return {record_id: float(value) for record_id, value in rows}

    def close(self) -> None:
        """Stop the listener and close the call threads' connections."""
        self._subscriber.close()
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()

    # -- on a call thread ---------------------------------------------------------------

    def _connection(self) -> Any:
        import psycopg

        connection = getattr(self._local, "connection", None)
        if connection is None or connection.closed:
            connection = psycopg.connect(self._dsn, **self._connect_options)
            with self._opened_lock:
                self._opened = [c for c in self._opened if not c.closed] + [connection]
            try:
                connection.execute(_CREATE.format(table=self.table))
            except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable):
                pass  # another process created it at the same moment (IF NOT EXISTS races)
            except BaseException:
                connection.close()
                raise
            self._local.connection = connection
        return connection

    def _execute(self, query: str, params: tuple[Any, ...]) -> list[Any]:
        import psycopg

        kept = getattr(self._local, "connection", None)
        reused = kept is not None and not kept.closed
        try:
            return self._run(query, params)
        except psycopg.OperationalError:
            if not reused:
                raise
            # A kept connection may have died in an outage since its last use (psycopg
            # cannot tell before it is used; psycopg_pool checks one before lending it):
            # once more on a new one, so the first call after an outage does not fail.
            return self._run(query, params)

    def _run(self, query: str, params: tuple[Any, ...]) -> list[Any]:
        connection = self._connection()
        try:
            cursor = connection.execute(query.format(table=self.table), params)
            return cursor.fetchall() if cursor.description else []
        except BaseException:
            connection.close()  # a broken connection is not reused
            raise

    def _record(self, revocation: Revocation, expires_at: float | None) -> None:
        import time

        value = float(revocation.before or 0.0)
        for record_id in revocation.ids:
            self._execute(_RECORD, (record_id, value, expires_at))
        self._execute(_PRUNE, (time.time(),))

    def _listener(self, deliver: Deliver) -> _PostgresListener:
        options = {**self._connect_options}
        return _PostgresListener(self._dsn, self.channel, options, deliver)


class _PostgresListener:
    def __init__(self, dsn: str, channel: str, options: dict[str, Any], deliver: Deliver) -> None:
        self._dsn = dsn
        self._channel = channel
        self._options = options
        self._deliver = deliver
        self._connection: Any = None

    async def open(self) -> None:
        import psycopg
        from psycopg import sql

        self._connection = await psycopg.AsyncConnection.connect(self._dsn, **self._options)
        await self._connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))

    async def receive(self, wait: float) -> None:
        async for notify in self._connection.notifies(timeout=wait):
            self._deliver(notify.payload)

    async def ping(self) -> None:
        # Notifications that arrive meanwhile wait in psycopg's backlog for notifies().
        await self._connection.execute("SELECT 1")

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
