"""SQLite under another process's locks, and with its file deleted underneath (issue 8.4).

The bounds asserted are correctness bounds (the store's ``timeout`` plus a generous
margin for a loaded machine), not speed.
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bearerguard import ClientTokenVerifier, Guard, ServiceUnavailableError, UnauthenticatedError
from bearerguard.stores import SQLiteTokenStore, StoreError
from bearerguard.tokens import TokenManager
from bearerguard.tokens import _format as token_format

TIMEOUT = 0.5
MARGIN = 2.5  # generous: a bound on correctness, on two shared cores
BOUND = TIMEOUT + MARGIN

HOLDER = textwrap.dedent(
    """
    import sqlite3, sys
    connection = sqlite3.connect(sys.argv[1], isolation_level=None)
    if sys.argv[2] == "exclusive":
        connection.execute("PRAGMA locking_mode = EXCLUSIVE")
    connection.execute("BEGIN IMMEDIATE")
    connection.execute("UPDATE bearerguard_tokens SET label = label WHERE 0")
    if sys.argv[2] == "exclusive":
        connection.execute("COMMIT")  # exclusive mode keeps the lock after the commit
    print("held", flush=True)
    sys.stdin.read()  # until the test closes our stdin
    """
)


@contextlib.contextmanager
def lock_held(path: Path, mode: str) -> Iterator[None]:
    """Another process holds a write lock (``writer``) or the whole file (``exclusive``)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdin is not None
    assert holder.stdout is not None
    try:
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.stdin.close()
        holder.wait(10)
        holder.stdout.close()


def issued_tokens(path: Path, count: int) -> list[str]:
    manager = TokenManager(SQLiteTokenStore(path))
    tokens = [
        manager.issue(client_id="A" * 32, label=f"server {n}", scopes=["a"]).token
        for n in range(count)
    ]
    manager.close()
    manager.store.close()
    return tokens


def concurrently(guard: Guard, tokens: list[str]) -> list[tuple[str, float]]:
    """Authenticate every token at once; each outcome (200/401/503) and its duration."""
    outcomes: list[tuple[str, float]] = []
    lock = threading.Lock()

    def one(token: str) -> None:
        started = time.monotonic()
        try:
            guard.authenticate(f"Bearer {token}")
            outcome = "200"
        except UnauthenticatedError:
            outcome = "401"
        except ServiceUnavailableError:
            outcome = "503"
        with lock:
            outcomes.append((outcome, time.monotonic() - started))

    threads = [threading.Thread(target=one, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return outcomes


@pytest.fixture
def fresh_guard() -> Iterator[Callable[[Path], Guard]]:
    managers: list[TokenManager] = []

    def make(path: Path) -> Guard:
        managers.append(TokenManager(SQLiteTokenStore(path, timeout=TIMEOUT)))
        return Guard([ClientTokenVerifier(managers[-1])], cache_ttl=0)

    yield make
    for manager in managers:
        manager.close()
        manager.store.close()


def test_a_store_opening_a_current_schema_takes_no_write_lock(
    tmp_path: Path, fresh_guard: Callable[[Path], Guard]
) -> None:
    # Before: the first use ran BEGIN IMMEDIATE, so while another process wrote,
    # every request waited its timeout, then got 503 (the rest queued behind it).
    path = tmp_path / "tokens.db"
    valid = issued_tokens(path, 5)
    unknown = [token_format.generate_token() for _ in range(5)]
    with lock_held(path, "writer"):
        outcomes = concurrently(fresh_guard(path), valid + unknown)
    assert sorted(outcome for outcome, _ in outcomes) == ["200"] * 5 + ["401"] * 5
    assert all(elapsed < BOUND for _, elapsed in outcomes)


def test_a_store_started_under_an_exclusive_lock_answers_503_within_its_timeout(
    tmp_path: Path, fresh_guard: Callable[[Path], Guard]
) -> None:
    # Before: 503 after the busy timeout, 5 s by default (now the store timeout, 3 s).
    path = tmp_path / "tokens.db"
    valid = issued_tokens(path, 5)
    unknown = [token_format.generate_token() for _ in range(5)]
    guard = fresh_guard(path)
    with lock_held(path, "exclusive"):
        outcomes = concurrently(guard, valid + unknown)
        assert [outcome for outcome, _ in outcomes] == ["503"] * 10
        assert all(elapsed < BOUND for _, elapsed in outcomes)
    deadline = time.monotonic() + 15
    while True:  # the calls abandoned at their deadline drain, then all is well
        outcomes = concurrently(guard, valid[:1] + unknown[:1])
        if sorted(outcome for outcome, _ in outcomes) == ["200", "401"]:
            break
        assert time.monotonic() < deadline, outcomes
        time.sleep(0.1)


@pytest.mark.parametrize(
    "suffixes",
    [
        pytest.param(("",), id="database-file"),
        pytest.param(("", "-wal", "-shm"), id="with-wal-and-shm"),
    ],
)
def test_issue_into_a_deleted_database_file_raises_naming_the_path(
    tmp_path: Path, suffixes: tuple[str, ...]
) -> None:
    # Before: issue() reported success into the unlinked file; the token was lost.
    path = tmp_path / "tokens.db"
    manager = TokenManager(SQLiteTokenStore(path))
    guard = Guard([ClientTokenVerifier(manager)], cache_ttl=0)
    first = manager.issue(client_id="A" * 32, label="before", scopes=["a"])
    for suffix in suffixes:
        Path(f"{path}{suffix}").unlink()
    with pytest.raises(StoreError, match="deleted") as caught:
        manager.issue(client_id="A" * 32, label="after", scopes=["a"])
    assert str(path) in str(caught.value)
    assert first.token not in str(caught.value)
    assert not path.exists()  # no empty database silently put in its place
    with pytest.raises(ServiceUnavailableError):  # fail closed, never "allowed"
        guard.authenticate(f"Bearer {first.token}")
    with pytest.raises(StoreError):
        manager.revoke(first.record.id)
    manager.close()
    manager.store.close()


def test_a_database_file_replaced_while_in_use_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tokens.db"
    manager = TokenManager(SQLiteTokenStore(path))
    manager.issue(client_id="A" * 32, label="before", scopes=["a"])
    copy = tmp_path / "copy.db"
    with (
        contextlib.closing(sqlite3.connect(path)) as source,
        contextlib.closing(sqlite3.connect(copy)) as target,
    ):
        source.backup(target)
    shutil.move(copy, path)
    with pytest.raises(StoreError, match="replaced") as caught:
        manager.issue(client_id="A" * 32, label="after", scopes=["a"])
    assert str(path) in str(caught.value)
    manager.close()
    manager.store.close()
    restarted = TokenManager(SQLiteTokenStore(path))  # a new process would do this
    assert [record.label for record in restarted.list()] == ["before"]
    restarted.close()


def test_the_timeout_is_the_busy_timeout_of_a_write(tmp_path: Path) -> None:
    path = tmp_path / "tokens.db"
    issued_tokens(path, 1)
    store = SQLiteTokenStore(path, timeout=TIMEOUT)
    manager = TokenManager(store)
    with lock_held(path, "writer"):
        started = time.monotonic()
        with pytest.raises(StoreError):
            manager.issue(client_id="A" * 32, label="blocked", scopes=["a"])
        assert time.monotonic() - started < BOUND
    manager.issue(client_id="A" * 32, label="later", scopes=["a"])  # works once released
    assert "later" in {record.label for record in manager.list()}
    manager.close()
    store.close()
