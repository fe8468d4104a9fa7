"""A database written by bearerguard 0.1 (schema version 1) is upgraded on first use."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bearerguard import ClientTokenVerifier, Guard
from bearerguard.stores import SCHEMA_VERSION, SQLiteTokenStore
from bearerguard.tokens import TokenManager

CREATED = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
# The tables exactly as schema version 1 made them.
V1_SQLITE = """
CREATE TABLE bearerguard_schema (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
CREATE TABLE bearerguard_tokens (
    id TEXT PRIMARY KEY, token_hash BLOB NOT NULL UNIQUE, client_id TEXT NOT NULL,
    label TEXT NOT NULL, scopes TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT,
    last_used_at TEXT, revoked_at TEXT
);
INSERT INTO bearerguard_schema VALUES (1, 1);
"""


def _v1_sqlalchemy(engine: Any, schema: str | None) -> None:
    from sqlalchemy import Column, DateTime, Integer, LargeBinary, MetaData, String, Table, Text

    metadata = MetaData(schema=schema)
    version = Table(
        "bearerguard_schema",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("version", Integer, nullable=False),
    )
    Table(
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
    )
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(version.insert().values(id=1, version=1))


@pytest.fixture(params=["sqlite", "sqlalchemy-sqlite", "postgresql"])
def v1_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    """A version 1 database with no rows, the store over it, and a way to read the version."""
    if request.param == "sqlite":
        path = tmp_path / "v1.db"
        with sqlite3.connect(path) as connection:
            connection.executescript(V1_SQLITE)
        connection.close()

        def version() -> int:
            with sqlite3.connect(path) as connection:
                found = connection.execute("SELECT version FROM bearerguard_schema").fetchone()
            connection.close()
            return int(found[0])

        store: Any = SQLiteTokenStore(path)
        yield store, version
        store.close()
        return
    from sqlalchemy import create_engine, text

    from bearerguard.stores import SQLTokenStore

    if request.param == "postgresql":
        engine, schema = request.getfixturevalue("pg_engine"), request.getfixturevalue("pg_schema")
        owned = False
    else:
        engine, schema, owned = create_engine(f"sqlite:///{tmp_path / 'v1sa.db'}"), None, True
    _v1_sqlalchemy(engine, schema)
    table = "bearerguard_schema" if schema is None else f'"{schema}".bearerguard_schema'

    def sql_version() -> int:
        with engine.connect() as connection:
            return int(connection.execute(text(f"SELECT version FROM {table}")).scalar_one())  # noqa: S608

    store = SQLTokenStore(engine, schema=schema)
    yield store, sql_version
    store.close()
    if owned:
        engine.dispose()


def test_a_version_1_database_is_upgraded_and_keeps_its_tokens(v1_store: Any) -> None:
    store, version = v1_store
    old = TokenManager(store, clock=CREATED.timestamp)
    assert version() == 1  # building the manager touched nothing
    issued = old.issue(client_id="A" * 32, label="Checkout server", scopes=["payments.get"])
    assert version() == SCHEMA_VERSION == 2
    assert old.get(issued.record.id) == issued.record
    successor = old.rotate(issued.record.id, grace=timedelta(hours=1))
    assert old.get(issued.record.id).replaced_by == successor.record.id  # type: ignore[union-attr]
    guard = Guard([ClientTokenVerifier(old)])
    assert guard.authenticate(f"Bearer {successor.token}").token_id == successor.record.id
    old.close()


def test_rows_written_before_the_upgrade_read_as_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(V1_SQLITE)
        connection.execute(
            "INSERT INTO bearerguard_tokens VALUES (?, ?, ?, ?, ?, ?, NULL, NULL, NULL)",
            (
                "tok_" + "a" * 20,
                bytes(32),
                "A" * 32,
                "Old server",
                '["payments.get"]',
                CREATED.isoformat(timespec="microseconds"),
            ),
        )
    connection.close()
    manager = TokenManager(SQLiteTokenStore(path))
    record = manager.get("tok_" + "a" * 20)
    assert record is not None
    assert record.label == "Old server"
    assert record.replaced_by is None
    manager.close()
    manager.store.close()
