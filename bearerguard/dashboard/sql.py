"""Payment applications over SQLAlchemy Core: PostgreSQL (psycopg 3) and the rest.

Needs the ``sql`` extra. The store shares its machinery with
:class:`~bearerguard.stores.SQLTokenStore`: bounded calls, autocommit reads,
transactional writes, errors as :class:`~bearerguard.tokens.StoreError`.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    and_,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.engine import Engine

from ..stores._bounded import DEFAULT_MAX_CONCURRENCY, DEFAULT_TIMEOUT
from ..stores.sql import SQLTokenStore
from ..tokens._store import Row
from ._records import Application
from ._store import check_update

__all__ = ["SQLApplicationStore"]


def _table(schema: str | None) -> tuple[MetaData, Table]:
    metadata = MetaData(schema=schema)
    table = Table(
        "bearerguard_applications",
        metadata,
        Column("client_id", String(64), primary_key=True),
        Column("name", String(100), nullable=False),
        Column("owner", String(255), nullable=False),
        Column("webhook_secret", LargeBinary, nullable=False),
        Column("previous_webhook_secret", LargeBinary),
        Column("previous_secret_expires_at", DateTime(timezone=True)),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        Column("revoked_at", DateTime(timezone=True)),
        Index("bearerguard_applications_owner", "owner", "created_at"),
    )
    return metadata, table


def _utc(values: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: value.astimezone(timezone.utc) if isinstance(value, datetime) else value
        for name, value in values.items()
    }


class SQLApplicationStore:
    """Payment applications in any database SQLAlchemy Core speaks; made for PostgreSQL.

    The table ``bearerguard_applications`` is created on first use (in ``schema`` when
    given), beside the token store's tables. Construction opens no connection.

    Args:
        engine_or_url: Your :class:`sqlalchemy.engine.Engine` (left open by
            :meth:`close`), or a URL as :class:`~bearerguard.stores.SQLTokenStore` takes.
        schema: A database schema that holds the table; it must exist.
        timeout: Longest wait for one store call, in seconds (default 3).
        max_concurrency: Store calls under way at once (default 4).
    """

    def __init__(
        self,
        engine_or_url: Engine | str,
        *,
        schema: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ) -> None:
        self._db = SQLTokenStore(
            engine_or_url, schema=schema, timeout=timeout, max_concurrency=max_concurrency
        )
        self.engine = self._db.engine
        self.schema = schema
        self.timeout = self._db.timeout
        self._metadata, self._table = _table(schema)
        self._ready = False
        self._ready_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLApplicationStore({self.engine.url.render_as_string(hide_password=True)!r})"

    def _ensure_table(self) -> None:
        if self._ready:
            return
        with self._ready_lock, self._db._errors():
            if not self._ready:
                try:
                    self._metadata.create_all(self.engine, checkfirst=True)
                except Exception:
                    # Created concurrently by another process between check and create.
                    self._metadata.create_all(self.engine, checkfirst=True)
                self._ready = True

    # -- the store protocol ---------------------------------------------------------

    def add(self, application: Application) -> None:
        """Insert a new application."""
        self._db._calls.call(self._add, application)

    def get(self, client_id: str) -> Row | None:
        """The row with this Client ID, or None."""
        table = self._table
        rows = self._db._calls.call(self._select, table.c.client_id == client_id)
        return rows[0] if rows else None

    def query(self, *, owner: str | None, include_revoked: bool) -> list[Row]:
        """Rows of one owner (or all), oldest first."""
        table = self._table
        conditions = []
        if owner is not None:
            conditions.append(table.c.owner == owner)
        if not include_revoked:
            conditions.append(table.c.revoked_at.is_(None))
        rows: list[Row] = self._db._calls.call(self._select, and_(true(), *conditions))
        return rows

    def update(self, client_id: str, values: Mapping[str, Any]) -> bool:
        """Change columns of an unrevoked application, in one transaction."""
        check_update(values)
        done: bool = self._db._calls.call(self._update, client_id, _utc(values))
        return done

    def close(self) -> None:
        """Dispose of the engine if this store made it; yours stays open.

        As :meth:`SQLTokenStore.close <bearerguard.stores.SQLTokenStore.close>`: calls
        under way finish first.
        """
        self._db.close()

    # -- what runs on the store's threads -------------------------------------------

    def _add(self, application: Application) -> None:
        self._ensure_table()
        with self._db._writing() as connection:
            connection.execute(insert(self._table).values(_utc(application.to_row())))

    def _select(self, condition: Any) -> list[Row]:
        self._ensure_table()
        table = self._table
        statement = select(table).where(condition).order_by(table.c.created_at, table.c.client_id)
        with self._db._reading() as connection:
            return [dict(found._mapping) for found in connection.execute(statement)]

    def _update(self, client_id: str, values: dict[str, Any]) -> bool:
        self._ensure_table()
        table = self._table
        with self._db._writing() as connection:
            result = connection.execute(
                update(table)
                .where(and_(table.c.client_id == client_id, table.c.revoked_at.is_(None)))
                .values(values)
            )
            return result.rowcount == 1
