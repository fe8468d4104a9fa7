"""The SQLite store's schema: created on first use, upgraded from older versions."""

from __future__ import annotations

import sqlite3

from ..tokens._store import SCHEMA_VERSION, StoreError

__all__ = ["create_schema"]

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
    revoked_at TEXT,
    replaced_by TEXT
);
CREATE INDEX IF NOT EXISTS bearerguard_tokens_client
    ON bearerguard_tokens (client_id, created_at);
"""
# What takes a database from each older schema version to the next.
_UPGRADES = {1: ("ALTER TABLE bearerguard_tokens ADD COLUMN replaced_by TEXT",)}


def create_schema(connection: sqlite3.Connection) -> None:
    """Create the schema, or upgrade an older one, unless the file has the current one.

    Raises:
        StoreError: the file's schema is newer than this bearerguard knows.
    """
    # A plain read first: a file that already has the current schema needs no
    # write lock, so a store starts while another process holds one.
    version = _schema_version(connection)
    if version is None or version < SCHEMA_VERSION:
        # BEGIN IMMEDIATE serialises creators and upgraders across threads and
        # processes; the version is read again under the lock, so only one acts.
        connection.execute("BEGIN IMMEDIATE")
        try:
            version = _schema_version(connection)
            if version is None:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        connection.execute(statement)
                connection.execute(
                    "INSERT OR IGNORE INTO bearerguard_schema (id, version) VALUES (1, ?)",
                    (SCHEMA_VERSION,),
                )
            while version is not None and version in _UPGRADES:
                for statement in _UPGRADES[version]:
                    connection.execute(statement)
                version += 1
                connection.execute(
                    "UPDATE bearerguard_schema SET version = ? WHERE id = 1", (version,)
                )
            version = _schema_version(connection)
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise
    if version is None or version > SCHEMA_VERSION:
        raise StoreError(
            f"the database schema is version {version}; this bearerguard "
            f"knows version {SCHEMA_VERSION} at most"
        )


def _schema_version(connection: sqlite3.Connection) -> int | None:
    """The recorded schema version, by plain reads; None before the schema exists."""
    found = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'bearerguard_schema'"
    ).fetchone()
    if found is None:
        return None
    row = connection.execute("SELECT version FROM bearerguard_schema WHERE id = 1").fetchone()
    return None if row is None else int(row[0])
