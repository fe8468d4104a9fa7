"""What :class:`~bearerguard.stores.SQLTokenStore` sets up: its tables, its engine."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    and_,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..tokens._store import SCHEMA_VERSION, StoreError

__all__ = ["engine_options", "ensure_schema", "normalize_url", "tables"]


def tables(schema: str | None) -> tuple[MetaData, Table, Table]:
    """The metadata, the ``bearerguard_schema`` table and the ``bearerguard_tokens`` one."""
    metadata = MetaData(schema=schema)
    version = Table(
        "bearerguard_schema",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("version", Integer, nullable=False),
    )
    tokens = Table(
        "bearerguard_tokens",
        metadata,
        Column("id", String(64), primary_key=True),
        Column("token_hash", LargeBinary(32), nullable=False, unique=True),
        Column("client_id", String(64), nullable=False),
        Column("label", String(100), nullable=False),
        Column("scopes", Text, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True)),
        Column("last_used_at", DateTime(timezone=True)),
        Column("revoked_at", DateTime(timezone=True)),
        Column("replaced_by", String(64)),  # schema version 2
        Index("bearerguard_tokens_client", "client_id", "created_at"),
    )
    return metadata, version, tokens


def ensure_schema(engine: Engine, metadata: MetaData, version: Table, tokens: Table) -> None:
    """Create the tables, or upgrade older ones, and check the recorded version.

    Raises:
        StoreError: the database's schema is newer than this bearerguard knows.
        SQLAlchemyError: the database failed.
    """
    try:
        metadata.create_all(engine, checkfirst=True)
    except SQLAlchemyError:
        # Another process may have created the tables between check and create:
        # check again, and fail for real if they are still missing.
        metadata.create_all(engine, checkfirst=True)
    found = _read_version(engine, version)
    if found is None:
        try:
            with engine.begin() as connection:
                connection.execute(insert(version).values(id=1, version=SCHEMA_VERSION))
        except IntegrityError:
            pass  # recorded concurrently by another process
        found = _read_version(engine, version)
    if found == 1:
        _upgrade_from_1(engine, version, tokens)
        found = _read_version(engine, version)
    if found is None or found > SCHEMA_VERSION:
        raise StoreError(
            f"the database schema is version {found}; this bearerguard "
            f"knows version {SCHEMA_VERSION} at most"
        )


def _read_version(engine: Engine, version: Table) -> int | None:
    with engine.connect() as connection:
        value = connection.execute(select(version.c.version).where(version.c.id == 1)).scalar()
    return None if value is None else int(value)


def _upgrade_from_1(engine: Engine, version: Table, tokens: Table) -> None:
    # Version 2 added replaced_by. Claiming the version row first serialises
    # concurrent upgraders (the loser's UPDATE waits, then matches nothing); the
    # column comes in the same transaction (PostgreSQL's DDL is transactional).
    column = tokens.c.replaced_by
    dialect = engine.dialect
    table = dialect.identifier_preparer.format_table(tokens)
    with engine.begin() as connection:
        claimed = connection.execute(
            update(version).where(and_(version.c.id == 1, version.c.version == 1)).values(version=2)
        )
        if claimed.rowcount == 1:
            kind = column.type.compile(dialect=dialect)
            connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {column.name} {kind}"))


def normalize_url(url: str) -> str:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 (the ``sql`` extra's driver)."""
    for bare in ("postgresql://", "postgres://"):
        if url.startswith(bare):
            return "postgresql+psycopg://" + url[len(bare) :]
    return url


def engine_options(url: Any, timeout: float, connect_timeout: int | None) -> dict[str, Any]:
    """What bounds the driver's own waits, for an engine made from a URL.

    None of it bounds a call (a stalled peer that ACKs every byte defeats TCP
    timeouts, see ``_bounded``): the point is that a thread abandoned at the deadline
    is freed once the network gives up, not after Linux's ~15 min of retransmissions
    (``tcp_user_timeout``) or 2 h before the first keepalive probe. No server-side
    ``statement_timeout``: as a startup option it breaks connections through
    PgBouncer, and a ``SET`` per call would cost a round trip per cache miss.
    """
    backend = url.get_backend_name()
    if backend == "sqlite":
        return {"connect_args": {"timeout": timeout}}  # pysqlite's busy timeout
    if backend != "postgresql":
        return {}
    seconds = max(2, math.ceil(timeout))  # libpq takes whole seconds, 2 at least
    return {
        "pool_timeout": timeout,
        "connect_args": {
            "connect_timeout": seconds if connect_timeout is None else connect_timeout,
            "keepalives": 1,
            "keepalives_idle": seconds,
            "keepalives_interval": 1,
            "keepalives_count": 3,
            "tcp_user_timeout": math.ceil(timeout * 1000),
        },
    }
