"""SQLiteTokenStore specifics, open_store, and two processes on one file (C-08, F-01)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bearerguard import ClientTokenVerifier, Guard, ServiceUnavailableError
from bearerguard.stores import (
    SCHEMA_VERSION,
    MemoryTokenStore,
    SQLiteTokenStore,
    StoreError,
    open_store,
)
from bearerguard.tokens import TokenManager, is_well_formed, new_client_id


def manager_for(path: Path) -> TokenManager:
    return TokenManager(SQLiteTokenStore(path))


def test_C08_the_plaintext_is_nowhere_in_the_database_files(tmp_path: Path) -> None:
    path = tmp_path / "tokens.db"
    manager = manager_for(path)
    issued = [
        manager.issue(client_id="A" * 32, label=f"server {n}", scopes=["payments.get"])
        for n in range(5)
    ]
    issued.append(manager.rotate(issued[0].record.id))
    guard = Guard([ClientTokenVerifier(manager)])
    for each in issued:
        guard.authenticate(f"Bearer {each.token}")
    manager.flush()
    files = sorted(tmp_path.glob("tokens.db*"))
    assert {file.name for file in files} >= {"tokens.db", "tokens.db-wal"}
    content = b"".join(file.read_bytes() for file in files)
    assert issued[1].record.token_hash in content  # the lookup key is there...
    for each in issued:
        for secret in (each.token, each.token[8:-6], each.token[8:]):
            assert secret.encode() not in content  # ...and no form of the token
            assert secret.encode("utf-16-le") not in content
    manager.close()


def test_construction_touches_nothing_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "lazy.db"
    manager = manager_for(path)
    Guard([ClientTokenVerifier(manager)])
    assert not path.exists()
    assert manager.list() == []
    assert path.exists()


def test_schema_version_wal_and_index(tmp_path: Path) -> None:
    path = tmp_path / "tokens.db"
    store = SQLiteTokenStore(path)
    assert store.query(client_id=None, include_revoked=True) == []
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version FROM bearerguard_schema").fetchall() == [
            (SCHEMA_VERSION,)
        ]
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        plan = connection.execute(
            "EXPLAIN QUERY PLAN SELECT * FROM bearerguard_tokens WHERE token_hash = ?", (b"x",)
        ).fetchall()
    connection.close()
    assert "USING INDEX" in str(plan)  # the lookup is indexed, never a scan
    store.close()


def test_a_newer_schema_is_refused_and_verification_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "tokens.db"
    SQLiteTokenStore(path).query(client_id=None, include_revoked=True)
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE bearerguard_schema SET version = 99")
    connection.close()
    store = SQLiteTokenStore(path)
    with pytest.raises(StoreError, match="version 99"):
        store.get("tok_" + "0" * 20)
    manager = TokenManager(store)
    guard = Guard([ClientTokenVerifier(manager)])
    token = "bg_live_" + "0" * 30
    from bearerguard.tokens._format import checksum

    with pytest.raises(ServiceUnavailableError):
        guard.authenticate(f"Bearer {token}{checksum(token)}")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_opens_its_own_connections_and_leaves_the_parents_alone(
    tmp_path: Path,
) -> None:
    # What a pre-forking server (gunicorn --preload) does: use the store, then fork.
    manager = manager_for(tmp_path / "t.db")
    parents = manager.issue(client_id="A" * 32, label="parent", scopes=["a"])
    guard = Guard([ClientTokenVerifier(manager)], cache_ttl=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12: fork with threads
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        code = 1
        try:
            guard.authenticate(f"Bearer {parents.token}")
            manager.issue(client_id="B" * 32, label="child", scopes=["a"])
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    # The parent's connections were neither used nor closed by the child.
    assert guard.authenticate(f"Bearer {parents.token}").token_id == parents.record.id
    assert sorted(record.label for record in manager.list()) == ["child", "parent"]
    manager.store.close()
    assert len(manager.list()) == 2  # reopens after close
    manager.close()


def test_a_failed_commit_is_rolled_back_not_left_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SQLiteTokenStore(tmp_path / "t.db")
    manager = TokenManager(store)
    issued = manager.issue(client_id=new_client_id(), label="x", scopes=["a"])
    real = store._connect()

    class FailingCommit:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def execute(self, sql: str, *args: Any) -> Any:
            if sql == "COMMIT":
                raise sqlite3.OperationalError("disk I/O error")
            return real.execute(sql, *args)

    monkeypatch.setattr(store, "_connect", FailingCommit)
    with pytest.raises(StoreError):
        store.revoke(issued.record.id, manager.now())
    monkeypatch.undo()
    assert not real.in_transaction  # the write lock is not held for ever
    assert manager.revoke(issued.record.id).revoked_at is not None
    manager.close()
    store.close()


@pytest.mark.parametrize("path", [":memory:", "file:x?mode=memory"])
def test_in_memory_sqlite_is_refused(path: str) -> None:
    with pytest.raises(ValueError, match="MemoryTokenStore"):
        SQLiteTokenStore(path)


def test_open_store_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bearerguard.stores import SQLTokenStore

    monkeypatch.chdir(tmp_path)
    assert isinstance(open_store("memory://"), MemoryTokenStore)
    relative = open_store("sqlite:///relative.db")
    assert isinstance(relative, SQLiteTokenStore)
    assert relative.path == "relative.db"
    absolute = open_store(f"sqlite:///{tmp_path}/abs.db")
    assert isinstance(absolute, SQLiteTokenStore)
    assert absolute.path == f"{tmp_path}/abs.db"
    for url in ("postgresql://u@127.0.0.1/db", "postgres://u@127.0.0.1/db"):
        sql = open_store(url)
        assert isinstance(sql, SQLTokenStore)
        assert sql.engine.url.drivername == "postgresql+psycopg"
        sql.close()
    sql = open_store(f"sqlite+pysqlite:///{tmp_path}/sa.db")
    assert isinstance(sql, SQLTokenStore)
    sql.close()


@pytest.mark.parametrize(
    "url",
    [
        "bearerguard.db",
        "sqlite://",
        "sqlite:///",
        "sqlite:///:memory:",
        "sqlite://host/x.db",
        "nosuchdb://x",
        "mysql+nosuchdriver://u@h/db",
    ],
)
def test_open_store_refuses_bad_urls(url: str) -> None:
    with pytest.raises(ValueError, match="store URL"):
        open_store(url)


CHILD = textwrap.dedent(
    """
    import json, sys
    from bearerguard import ClientTokenVerifier, Guard
    from bearerguard.stores import SQLiteTokenStore
    from bearerguard.tokens import TokenManager

    path, name = sys.argv[1], sys.argv[2]
    manager = TokenManager(SQLiteTokenStore(path))
    guard = Guard([ClientTokenVerifier(manager)], cache_ttl=0)
    tokens = []
    for n in range(25):
        issued = manager.issue(client_id="A" * 32, label=f"{name} {n}", scopes=["payments.get"])
        tokens.append(issued.token)
        for token in tokens[-3:]:
            assert guard.authenticate("Bearer " + token).client_id == "A" * 32
        if n % 5 == 0:
            manager.list()
    manager.close()
    print(json.dumps(tokens))
    """
)


def test_two_processes_issue_and_verify_on_one_file(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("left", "right")
    ]
    outputs: list[Any] = []
    for child in children:
        out, err = child.communicate(timeout=60)
        assert child.returncode == 0, err
        outputs.append(json.loads(out))
    manager = manager_for(path)
    guard = Guard([ClientTokenVerifier(manager)])
    every = outputs[0] + outputs[1]
    assert len(set(every)) == 50
    assert all(is_well_formed(token) for token in every)
    for token in every:  # each process's tokens verify in a third
        guard.authenticate(f"Bearer {token}")
    labels = {record.label.split()[0] for record in manager.list()}
    assert labels == {"left", "right"}
    assert len(manager.list()) == 50
    manager.rotate(manager.list()[0].id, grace=timedelta(0))
    manager.close()


def _locked() -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = 5  # type: ignore[attr-defined]  # SQLITE_BUSY, as SQLite sets it
    return error


def test_switching_to_wal_waits_out_a_lock_another_process_holds() -> None:
    from bearerguard.stores._sqlite_files import enable_wal

    answers: list[sqlite3.OperationalError | None] = [_locked(), _locked(), None]
    statements: list[str] = []

    def execute(statement: str) -> None:
        statements.append(statement)
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    enable_wal(execute, timeout=5.0)
    assert statements == ["PRAGMA journal_mode = WAL"] * 3


def test_switching_to_wal_gives_up_at_the_timeout_and_never_retries_other_errors() -> None:
    from bearerguard.stores._sqlite_files import enable_wal

    calls = 0

    def always_locked(statement: str) -> None:
        nonlocal calls
        calls += 1
        raise _locked()

    with pytest.raises(sqlite3.OperationalError, match="locked"):
        enable_wal(always_locked, timeout=0.05)
    assert 1 < calls < 50

    def broken(statement: str) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    with pytest.raises(sqlite3.OperationalError, match="disk"):
        enable_wal(broken, timeout=5.0)


def test_open_store_passes_the_limits_to_every_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for url in ("memory://", "sqlite:///limits.db", f"sqlite+pysqlite:///{tmp_path}/sa.db"):
        store = open_store(url, timeout=1.5, max_concurrency=2)
        assert (store.timeout, store.max_concurrency) == (1.5, 2), url  # type: ignore[attr-defined]
        store.close()
        default = open_store(url)
        assert (default.timeout, default.max_concurrency) == (3.0, 4), url  # type: ignore[attr-defined]
        default.close()
    for bad in ({"timeout": 0}, {"timeout": float("inf")}, {"max_concurrency": 0}):
        for url in ("memory://", "sqlite:///limits.db", "postgresql://u@127.0.0.1/db"):
            with pytest.raises(ValueError, match=r"timeout|max_concurrency"):
                open_store(url, **bad)  # type: ignore[arg-type]
