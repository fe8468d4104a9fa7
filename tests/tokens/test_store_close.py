"""Closing a store never closes a connection under a call still running on its threads.

A call the caller stopped waiting for (or one still awaited) keeps running on the
store's own thread; SQLite may crash, not only raise, when its connection is closed
mid-statement.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from bearerguard.stores import SQLiteTokenStore, StoreBusyError, StoreError
from bearerguard.tokens import TokenManager

BOUND = 10.0  # a correctness bound on two shared cores, not a speed


def test_close_waits_for_the_call_under_way_and_refuses_new_ones(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    store = SQLiteTokenStore(path, timeout=BOUND, max_concurrency=1)
    manager = TokenManager(store)
    manager.issue(client_id="A" * 32, label="before", scopes=["a"])
    # Another connection holds the write lock: the next write waits inside SQLite.
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    errors: list[BaseException] = []

    def issue() -> None:
        try:
            manager.issue(client_id="A" * 32, label="during", scopes=["a"])
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    issuing = threading.Thread(target=issue)
    issuing.start()
    try:
        # The one slot is taken once the write is under way on the store's thread.
        while True:
            try:
                store.get("unknown")
            except StoreBusyError:
                break
        closing = threading.Thread(target=store.close)
        closing.start()
        closing.join(0.5)
        assert closing.is_alive()  # close waits for the write still inside SQLite
        with pytest.raises(StoreError, match="is closing"):
            store.get("unknown")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        issuing.join(BOUND)
    closing.join(BOUND)
    assert not closing.is_alive()
    assert errors == []  # the write finished on an open connection
    # Closed, then reopened on next use: both writes are there.
    assert sorted(record.label for record in manager.list()) == ["before", "during"]
    manager.close()
    store.close()
