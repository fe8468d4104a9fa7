"""Fixtures for the revocation tests: the real Redis and PostgreSQL, one bus per engine.

Redis at 127.0.0.1:6379 and PostgreSQL at 127.0.0.1:5432 (trust auth, database
``test``). Under ``CI=true`` an unreachable server fails its tests; otherwise they
skip with the reason. Every test gets its own channel, key prefix and table, so tests
never see each other's revocations, and its keys and table are removed afterwards.
"""

from __future__ import annotations

import getpass
import os
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

REDIS_URL = os.environ.get("BEARERGUARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
PG_URLS = [
    f"postgresql+psycopg://{user}@127.0.0.1:5432/test"
    for user in dict.fromkeys(["postgres", getpass.getuser()])
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " (CI=true: these tests must run)")
    pytest.skip(reason + " (set CI=true to make this a failure)")


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=2).ping()
    except redis.RedisError as exc:
        _unavailable(f"Redis at {REDIS_URL} is unreachable: {type(exc).__name__}")
    return REDIS_URL


@pytest.fixture(scope="session")
def pg_url() -> str:
    import psycopg

    problems = []
    for url in PG_URLS:
        try:
            with psycopg.connect(url.replace("+psycopg", ""), connect_timeout=3) as connection:
                connection.execute("SELECT 1")
            return url
        except psycopg.Error as exc:
            problems.append(type(exc).__name__)
    _unavailable(f"PostgreSQL at 127.0.0.1:5432 is unreachable: {problems}")
    raise AssertionError("unreachable")


@pytest.fixture
def names() -> str:
    """A name unique to the test, for channels, key prefixes and tables."""
    return "bgtest_" + secrets.token_hex(4)


@pytest.fixture(params=["redis", "postgres"])
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_bus(
    engine: str, names: str, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Any]]:
    """``make_bus(url=None, **options)``: a bus of the test's engine, closed afterwards.

    ``url`` replaces the server's address (a proxy's, say); every bus of one test
    shares its channel and list.
    """
    from bearerguard.revocation import PostgresRevocationBus, RedisRevocationBus

    made: list[Any] = []
    if engine == "redis":
        server = request.getfixturevalue("redis_url")

        def make(url: str | None = None, **options: Any) -> Any:
            options = {"channel": names, "key_prefix": names + ":", **options}
            made.append(RedisRevocationBus(url or server, **options))
            return made[-1]
    else:
        server = request.getfixturevalue("pg_url")

        def make(url: str | None = None, **options: Any) -> Any:
            options = {"channel": names, "table": names, **options}
            made.append(PostgresRevocationBus(url or server, **options))
            return made[-1]

    make.server = server  # type: ignore[attr-defined]
    yield make
    for bus in made:
        bus.close()
    if engine == "redis":
        import redis

        client = redis.Redis.from_url(server)
        keys = list(client.scan_iter(f"{names}:*"))
        if keys:
            client.delete(*keys)
        client.close()
    else:
        import psycopg

        with psycopg.connect(server.replace("+psycopg", ""), autocommit=True) as connection:
            connection.execute(f"DROP TABLE IF EXISTS {names}")


@pytest.fixture
def server_address(make_bus: Any) -> tuple[str, int]:
    return ("127.0.0.1", 6379) if make_bus.server.startswith("redis") else ("127.0.0.1", 5432)


def proxied(url: str, port: int) -> str:
    """``url`` with its port replaced by ``port`` (a proxy's)."""
    return url.replace(":6379", f":{port}").replace(":5432", f":{port}")


@pytest.fixture
def proxy(make_bus: Any, server_address: tuple[str, int]) -> Iterator[Any]:
    """A :class:`Proxy` in front of the engine's server, with ``.url`` through it."""
    from ._support import Proxy

    proxy = Proxy(server_address)
    proxy.url = proxied(make_bus.server, proxy.port)  # type: ignore[attr-defined]
    yield proxy
    proxy.close()
