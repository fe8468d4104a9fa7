"""A token store over SQLAlchemy Core: PostgreSQL (psycopg 3) and the databases it speaks.

Needs the ``sql`` extra: ``pip install "bearerguard[sql]"``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    and_,
    bindparam,
    create_engine,
    delete,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from ..tokens._store import Row, StoreError
from ._bounded import DEFAULT_MAX_CONCURRENCY, DEFAULT_TIMEOUT, BoundedCalls, BoundedStore
from ._sql_setup import engine_options, ensure_schema, normalize_url, tables

if TYPE_CHECKING:
    from ..tokens import TokenRecord

__all__ = ["SQLTokenStore"]

_TIME_COLUMNS = ("created_at", "expires_at", "last_used_at", "revoked_at")
_AUTOCOMMIT_DIALECTS = frozenset({"postgresql", "sqlite", "mysql", "mariadb", "mssql"})


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(timezone.utc)


def _sql_row(record: TokenRecord) -> dict[str, Any]:
    row = record.to_row()
    for name in _TIME_COLUMNS:
        row[name] = _utc(row[name])
    return row


class SQLTokenStore(BoundedStore):
    """Client tokens in any database SQLAlchemy Core speaks; made for PostgreSQL.

    Tables ``bearerguard_tokens`` and ``bearerguard_schema`` are created on first use
    (in ``schema`` when given). Construction opens no connection.

    Every call answers within ``timeout``, whatever the network does: it runs on one of
    ``max_concurrency`` threads of the store's own and the caller stops waiting at the
    deadline (:class:`~bearerguard.tokens.StoreTimeoutError`, 503). At most
    ``max_concurrency`` calls are under way at once; past that a caller is refused
    within 0.05 s (:class:`~bearerguard.tokens.StoreBusyError`, 503), so a stalled
    database holds at most that many of a server's threads.

    Args:
        engine_or_url: Your existing :class:`sqlalchemy.engine.Engine` (left open by
            :meth:`close`), or a URL such as ``postgresql+psycopg://user@host/db``
            (``postgresql://`` means psycopg 3). An engine made from a URL hides SQL
            parameters in errors, and for PostgreSQL gives up connecting after
            ``connect_timeout`` and drops a connection whose peer stops answering
            (TCP keepalives, ``tcp_user_timeout``).
        schema: A database schema (namespace) that holds the tables; it must exist.
        timeout: Longest wait for one store call, in seconds (default 3).
        max_concurrency: Store calls under way at once (default 4).
        connect_timeout: Seconds libpq waits for a PostgreSQL connection (URL only;
            default: ``timeout`` rounded up, at least 2, libpq's minimum).

    Raises:
        ValueError: a bad ``timeout`` or ``max_concurrency``.
    """

    def __init__(
        self,
        engine_or_url: Engine | str,
        *,
        schema: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        connect_timeout: int | None = None,
    ) -> None:
        self._calls = BoundedCalls(
            "the SQL token store", timeout=timeout, max_concurrency=max_concurrency
        )
        self.timeout = self._calls.timeout
        self.max_concurrency = self._calls.max_concurrency
        if isinstance(engine_or_url, str):
            url = make_url(normalize_url(engine_or_url))
            # No pool_pre_ping: it would double the round trips of every cache miss.
            # After a database restart the first query fails (503 once) and SQLAlchemy
            # then replaces every pooled connection.
            self.engine = create_engine(
                url, hide_parameters=True, **engine_options(url, self.timeout, connect_timeout)
            )
            self._owns_engine = True
        else:
            self.engine = engine_or_url
            self._owns_engine = False
        # Reads are single SELECTs: in autocommit they are one round trip instead of
        # BEGIN, SELECT, ROLLBACK. Writes keep their transactions (engine.begin()).
        self._read_engine = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.engine.dialect.name in _AUTOCOMMIT_DIALECTS
            else self.engine
        )
        self.schema = schema
        self._metadata, self._version, self._tokens = tables(schema)
        self._ready = False
        self._ready_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLTokenStore({self.engine.url.render_as_string(hide_password=True)!r})"

    # -- plumbing -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            cause = exc.orig if isinstance(exc, DBAPIError) else exc
            text = str(cause).strip().splitlines()
            detail = f": {text[0]}" if text else ""
            raise StoreError(f"{type(cause).__name__}{detail}") from exc

    def _ensure_schema(self) -> None:
        if self._ready:
            return
        with self._ready_lock:
            if self._ready:
                return
            ensure_schema(self.engine, self._metadata, self._version, self._tokens)
            self._ready = True

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Connection]:
        with self._errors():
            self._ensure_schema()
            with self._read_engine.connect() as connection:
                yield connection

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self._errors():
            self._ensure_schema()
            with self.engine.begin() as connection:
                yield connection

    # -- the store protocol: each call bounded (BoundedStore) -----------------------

    def close(self) -> None:
        """Dispose of the engine if this store made it; yours stays open.

        Calls under way finish first (waiting at most ``timeout``; past that the last
        of them disposes), and calls made meanwhile raise
        :class:`~bearerguard.tokens.StoreError`. The engine reconnects on next use.
        """
        if self._owns_engine:
            self._calls.close(self.engine.dispose)

    # -- what runs on the store's threads -------------------------------------------

    def _add(self, record: TokenRecord) -> None:
        with self._writing() as connection:
            connection.execute(insert(self._tokens).values(_sql_row(record)))

    def _find_by_hash(self, token_hash: bytes) -> Row | None:
        with self._reading() as connection:
            found = connection.execute(
                select(self._tokens).where(self._tokens.c.token_hash == token_hash)
            ).first()
        return None if found is None else dict(found._mapping)

    def _get(self, token_id: str) -> Row | None:
        with self._reading() as connection:
            found = connection.execute(
                select(self._tokens).where(self._tokens.c.id == token_id)
            ).first()
        return None if found is None else dict(found._mapping)

    def _query(self, client_id: str | None, include_revoked: bool) -> list[Row]:
        tokens = self._tokens
        statement = select(tokens).order_by(tokens.c.created_at, tokens.c.id)
        if client_id is not None:
            statement = statement.where(tokens.c.client_id == client_id)
        if not include_revoked:
            statement = statement.where(tokens.c.revoked_at.is_(None))
        with self._reading() as connection:
            return [dict(found._mapping) for found in connection.execute(statement)]

    def _revoke(self, token_id: str, revoked_at: datetime) -> bool:
        tokens = self._tokens
        with self._writing() as connection:
            result = connection.execute(
                update(tokens)
                .where(and_(tokens.c.id == token_id, tokens.c.revoked_at.is_(None)))
                .values(revoked_at=_utc(revoked_at))
            )
            return result.rowcount == 1

    def _rotate(self, token_id: str, expires_at: datetime, new: TokenRecord) -> bool:
        tokens = self._tokens
        with self._writing() as connection:
            result = connection.execute(
                update(tokens)
                .where(and_(tokens.c.id == token_id, tokens.c.revoked_at.is_(None)))
                .values(expires_at=_utc(expires_at), replaced_by=new.id)
            )
            if result.rowcount != 1:
                return False  # nothing was changed: committing is a no-op
            connection.execute(insert(tokens).values(_sql_row(new)))
            return True

    def _prune(self, before: datetime, dry_run: bool) -> list[Row]:
        tokens = self._tokens
        at = _utc(before)
        ended = or_(
            and_(tokens.c.revoked_at.is_not(None), tokens.c.revoked_at <= at),
            and_(tokens.c.expires_at.is_not(None), tokens.c.expires_at <= at),
        )
        statement = select(tokens).where(ended).order_by(tokens.c.created_at, tokens.c.id)
        with self._writing() as connection:
            rows: list[Row] = [dict(found._mapping) for found in connection.execute(statement)]
            if not dry_run:
                # By id, in the same transaction: exactly the rows returned, whatever
                # commits meanwhile, and no RETURNING needed (every dialect alike).
                ids = [row["id"] for row in rows]
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    connection.execute(delete(tokens).where(tokens.c.id.in_(chunk)))
        return rows

    def _touch(self, last_used: Mapping[str, datetime]) -> None:
        tokens = self._tokens
        statement = (
            update(tokens)
            .where(
                and_(
                    tokens.c.id == bindparam("b_id"),
                    or_(
                        tokens.c.last_used_at.is_(None),
                        tokens.c.last_used_at < bindparam("b_at"),
                    ),
                )
            )
            .values(last_used_at=bindparam("b_at"))
        )
        batch = [{"b_id": token_id, "b_at": _utc(at)} for token_id, at in last_used.items()]
        with self._writing() as connection:
            connection.execute(statement, batch)
