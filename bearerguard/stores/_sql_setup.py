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
)

__all__ = ["engine_options", "normalize_url", "tables"]


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
        Index("bearerguard_tokens_client", "client_id", "created_at"),
    )
    return metadata, version, tokens


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
