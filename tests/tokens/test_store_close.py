"""Closing a store never closes a connection under a call still running on its threads.

A call the caller stopped waiting for (or one still awaited) keeps running on the
store's own thread; SQLite may crash, not only raise, when its connection is closed
mid-statement.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bearerguard.stores import (
    SQLiteTokenStore,
    SQLTokenStore,
    StoreBusyError,
    StoreError,
    StoreTimeoutError,
)
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
        while True:
            try:
                manager.issue(client_id="A" * 32, label="during", scopes=["a"])
                return
            except StoreBusyError:
                continue  # the probe below held the one slot: try again
            except BaseException as exc:  # reported by the assertion below
                errors.append(exc)
                return

    issuing = threading.Thread(target=issue, daemon=True)
    issuing.start()
    try:
        # The one slot is taken once the write is under way on the store's thread.
        deadline = time.monotonic() + 10
        while True:
            assert time.monotonic() < deadline, f"the write never took the slot: {errors}"
            try:
                store.get("unknown")
            except StoreBusyError:
                break
        closing = threading.Thread(target=store.close, daemon=True)
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


def test_a_call_stuck_past_the_close_wait_closes_the_store_when_it_finishes(
    pg_url: str, pg_schema: str, stall_proxy: Any
) -> None:
    timeout = 0.5
    store = SQLTokenStore(stall_proxy.url(pg_url), schema=pg_schema, timeout=timeout)
    try:
        assert store.get("unknown") is None  # the schema and a pooled connection
        stall_proxy.stall()
        with pytest.raises(StoreTimeoutError):
            store.get("unknown")  # abandoned: still waiting on the stalled socket
        started = time.monotonic()
        store.close()
        assert time.monotonic() - started < BOUND  # bounded, never a hang
        # The engine is disposed only once the stuck call is out; until then calls
        # are refused at once.
        with pytest.raises(StoreError, match="is closing"):
            store.get("unknown")
        stall_proxy.restore()
        deadline = time.monotonic() + BOUND
        while True:
            try:
                assert store.get("unknown") is None  # closed, then reopened
                break
            except StoreError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
    finally:
        stall_proxy.restore()
        store.close()
