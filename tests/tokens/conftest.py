"""Fixtures for the client-token tests: a fake clock, a counting store, every real store.

With ``--import-mode=importlib`` a test module cannot import this file, so helpers are
handed out through fixtures. PostgreSQL lives at 127.0.0.1:5432 (trust auth, database
``test``, user ``postgres`` or the current user; ``BEARERGUARD_TEST_POSTGRES_URL``
overrides): with ``CI=true`` its tests must run, so an unreachable server fails them;
without CI they skip with the reason.
"""

from __future__ import annotations

import getpass
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from bearerguard import ClientTokenVerifier, Guard
from bearerguard.stores import MemoryTokenStore, SQLiteTokenStore
from bearerguard.tokens import TokenManager

START = 1_700_000_000.0
PG_HOST = "127.0.0.1:5432"


class FakeTime:
    """One settable time source, injected as the guard's timer and clock and the manager's."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def at(self, offset: float = 0.0) -> datetime:
        return datetime.fromtimestamp(self.now + offset, tz=timezone.utc)


class CountingStore:
    """Wraps a store; records every call (method, args, thread) and can be made to fail."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: list[tuple[str, tuple[Any, ...], int]] = []
        self.failing: BaseException | None = None
        self._lock = threading.Lock()

    def count(self, name: str | None = None) -> int:
        with self._lock:
            return sum(1 for call in self.calls if name is None or call[0] == name)

    def threads(self, name: str) -> set[int]:
        with self._lock:
            return {thread for method, _, thread in self.calls if method == name}

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.calls.append((name, (*args, *kwargs.values()), threading.get_ident()))
            if self.failing is not None and name != "close":
                raise self.failing
            return target(*args, **kwargs)

        return call


@dataclass
class Kit:
    """A manager over a counting memory store, and a guard that uses it; shared fake time."""

    time: FakeTime
    store: CountingStore
    manager: TokenManager
    guard: Guard

    def issue(self, **overrides: Any) -> Any:
        arguments: dict[str, Any] = {
            "client_id": "A" * 32,
            "label": "Checkout server",
            "scopes": ["payments.create", "payments.get"],
        }
        arguments.update(overrides)
        return self.manager.issue(**arguments)


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def make_kit(fake_time: FakeTime) -> Iterator[Callable[..., Kit]]:
    managers: list[TokenManager] = []

    def make(
        inner: Any = None,
        *,
        cache_ttl: float = 60.0,
        guard_kwargs: Any = None,
        **manager_kwargs: Any,
    ) -> Kit:
        store = CountingStore(MemoryTokenStore() if inner is None else inner)
        manager_kwargs.setdefault("clock", fake_time)
        manager = TokenManager(store, **manager_kwargs)
        managers.append(manager)
        guard = Guard(
            [ClientTokenVerifier(manager)],
            cache_ttl=cache_ttl,
            timer=fake_time,
            clock=fake_time,
            **(guard_kwargs or {}),
        )
        return Kit(fake_time, store, manager, guard)

    yield make
    for manager in managers:
        manager.close()


@pytest.fixture
def kit(make_kit: Callable[..., Kit]) -> Kit:
    return make_kit()


# -- PostgreSQL -------------------------------------------------------------------------


def _pg_candidates() -> list[str]:
    explicit = os.environ.get("BEARERGUARD_TEST_POSTGRES_URL")
    if explicit:
        return [explicit]
    users = ["postgres", getpass.getuser()]
    return [f"postgresql+psycopg://{user}@{PG_HOST}/test" for user in dict.fromkeys(users)]


@pytest.fixture(scope="session")
def pg_url() -> str:
    """A working PostgreSQL URL; fails in CI and skips locally when there is none."""
    import psycopg

    problems = []
    for url in _pg_candidates():
        try:
            with psycopg.connect(
                url.replace("postgresql+psycopg", "postgresql"), connect_timeout=3
            ) as connection:
                connection.execute("SELECT 1")
            return url
        except psycopg.Error as exc:
            problems.append(f"{url}: {type(exc).__name__}")
    reason = f"PostgreSQL at {PG_HOST} (database test, trust auth) is unreachable: " + "; ".join(
        problems
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " (CI=true: the PostgreSQL tests must run)")
    pytest.skip(reason + " (set CI=true to make this a failure)")


@pytest.fixture(scope="session")
def pg_engine(pg_url: str) -> Iterator[Any]:
    from sqlalchemy import create_engine

    engine = create_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_schema(pg_engine: Any) -> Iterator[str]:
    """A fresh schema for one test, dropped afterwards."""
    from sqlalchemy import text

    name = "bg_test_" + secrets.token_hex(6)
    with pg_engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{name}"'))
    yield name
    with pg_engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{name}" CASCADE'))


# -- every store, for the contract suite ---------------------------------------------


@dataclass
class StoreUnderTest:
    """A store plus a back door that writes raw column values (to corrupt rows)."""

    name: str
    store: Any
    write_raw: Callable[[str, str, Any], None]


def _memory() -> StoreUnderTest:
    store = MemoryTokenStore()

    def write_raw(token_id: str, column: str, value: Any) -> None:
        store._rows[token_id][column] = value

    return StoreUnderTest("memory", store, write_raw)


def _sqlite(path: Path) -> StoreUnderTest:
    store = SQLiteTokenStore(path)

    def write_raw(token_id: str, column: str, value: Any) -> None:
        with sqlite3.connect(path) as connection:
            connection.execute(
                f"UPDATE bearerguard_tokens SET {column} = ? WHERE id = ?",  # noqa: S608
                (value, token_id),
            )
        connection.close()

    return StoreUnderTest("sqlite", store, write_raw)


def _sql(engine: Any, schema: str | None) -> StoreUnderTest:
    from sqlalchemy import text

    from bearerguard.stores import SQLTokenStore

    store = SQLTokenStore(engine, schema=schema)
    table = "bearerguard_tokens" if schema is None else f'"{schema}".bearerguard_tokens'

    def write_raw(token_id: str, column: str, value: Any) -> None:
        with engine.begin() as connection:
            connection.execute(
                text(f"UPDATE {table} SET {column} = :value WHERE id = :id"),  # noqa: S608
                {"value": value, "id": token_id},
            )

    return StoreUnderTest("sql", store, write_raw)


STORE_KINDS = ["memory", "sqlite", "sqlalchemy-sqlite", "postgresql"]


@pytest.fixture(params=STORE_KINDS)
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreUnderTest]:
    """Each store kind in turn; PostgreSQL in a schema of its own."""
    kind = request.param
    engine = None
    if kind == "memory":
        under_test = _memory()
    elif kind == "sqlite":
        under_test = _sqlite(tmp_path / "tokens.db")
    elif kind == "sqlalchemy-sqlite":
        from sqlalchemy import create_engine

        engine = create_engine(f"sqlite:///{tmp_path / 'sa.db'}")
        under_test = _sql(engine, None)
    else:
        schema = request.getfixturevalue("pg_schema")
        under_test = _sql(request.getfixturevalue("pg_engine"), schema)
    under_test.name = kind
    yield under_test
    under_test.store.close()
    if engine is not None:
        engine.dispose()


# -- a stalling TCP proxy in front of PostgreSQL ------------------------------------


class StallProxy:
    """A TCP proxy of the test's own: forwards, or stalls, or forwards again.

    Stalled, it keeps accepting connections and holding them open while it forwards
    nothing in either direction, as a hung middlebox does; the kernel still ACKs
    every byte, so no TCP-level timeout fires. ``restore()`` lets the held bytes go.
    The machine's PostgreSQL itself is never touched.
    """

    def __init__(self, target: tuple[str, int]) -> None:
        import asyncio

        self.target = target
        self.loop = asyncio.new_event_loop()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._tasks: set[Any] = set()
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", 0)
        )
        self.port: int = self.server.sockets[0].getsockname()[1]
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def url(self, pg_url: str) -> str:
        """``pg_url`` with the proxy in place of the server."""
        from sqlalchemy.engine import make_url

        proxied = make_url(pg_url).set(host="127.0.0.1", port=self.port)
        return proxied.render_as_string(hide_password=False)

    def stall(self) -> None:
        self.loop.call_soon_threadsafe(self._flowing.clear)

    def restore(self) -> None:
        self.loop.call_soon_threadsafe(self._flowing.set)

    async def _pipe(self, reader: Any, writer: Any) -> None:
        try:
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        finally:
            writer.close()

    async def _accept(self, reader: Any, writer: Any) -> None:
        import asyncio

        await self._flowing.wait()
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            await asyncio.gather(
                self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
            )
        finally:
            self._tasks.discard(task)

    def close(self) -> None:
        import asyncio

        async def shut() -> None:
            self.server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.sleep(0)

        self.restore()
        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@pytest.fixture
def stall_proxy(pg_url: str) -> Iterator[StallProxy]:
    """A proxy to the real PostgreSQL that the test can stall and restore."""
    from sqlalchemy.engine import make_url

    server = make_url(pg_url)
    proxy = StallProxy((server.host or "127.0.0.1", server.port or 5432))
    yield proxy
    proxy.close()
