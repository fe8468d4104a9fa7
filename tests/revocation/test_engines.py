"""Both shared buses against the real Redis and PostgreSQL: publish, list, CLI, workers."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bearerguard import ClientTokenVerifier, Guard, StaticTokenVerifier
from bearerguard.cache import token_key
from bearerguard.cli import main
from bearerguard.revocation import Revocation, RevocationError, open_bus
from bearerguard.stores import open_store
from bearerguard.tokens import TokenManager, new_client_id

from ._support import ISSUER, crosses, jwt_verifier, mint, refused, wait_for

KEY = token_key("dev-token")


def subscribed(bus: Any) -> None:
    wait_for(lambda: bus.stats().connected, timeout=5)


def test_a_revocation_reaches_a_guard_on_another_connection(make_bus: Any) -> None:
    listener, publisher = make_bus(), make_bus()
    guard = Guard([StaticTokenVerifier({"dev-token": ["a"]})], revocation_bus=listener)
    subscribed(listener)
    assert guard.check("GET", "/x", "Bearer dev-token") is not None
    Guard([StaticTokenVerifier({"dev-token": ["a"]})], revocation_bus=publisher).revoke("dev-token")
    wait_for(lambda: refused(guard, "dev-token"), timeout=2)
    assert listener.stats().messages == 1
    assert listener.stats().gaps == 0


def test_the_list_keeps_revocations_until_they_expire(make_bus: Any) -> None:
    bus = make_bus()
    now = time.time()
    bus.record(Revocation(key=KEY), now + 60)
    bus.record(Revocation(issuer=ISSUER, jti="j1"), now + 1)
    ids = Revocation(key=KEY).ids + Revocation(issuer=ISSUER, jti="j1").ids
    assert bus.lookup(ids, now) == dict.fromkeys(ids, 0.0)
    assert bus.lookup(ids, now + 2) == {ids[0]: 0.0} or time.time() < now + 1  # Redis: TTL
    assert bus.lookup(Revocation(key=token_key("other")).ids, now) == {}


def test_a_subject_keeps_its_latest_before_and_longest_life(make_bus: Any) -> None:
    bus = make_bus()
    now = time.time()
    late = Revocation(issuer=ISSUER, subject="alice", before=now)
    early = Revocation(issuer=ISSUER, subject="alice", before=now - 100)
    bus.record(late, now + 600)
    bus.record(early, now + 60)  # an older logout changes nothing
    assert bus.lookup(late.ids, now) == {late.ids[0]: pytest.approx(now)}


def test_revoked_jwts_are_refused_by_a_new_process(make_bus: Any) -> None:
    token, other = mint(), mint()
    Guard([jwt_verifier()], revocation_bus=make_bus()).revoke(token)
    fresh = Guard([jwt_verifier()], revocation_bus=make_bus())
    assert refused(fresh, token)
    assert not refused(fresh, other)


def test_token_manager_and_cli_publish(make_bus: Any, tmp_path: Path, engine: str) -> None:
    listener = make_bus()
    store_url = f"sqlite:///{tmp_path / 'tokens.db'}"
    server = TokenManager(open_store(store_url))
    guard = Guard([ClientTokenVerifier(server)], revocation_bus=listener)
    subscribed(listener)
    admin = TokenManager(open_store(store_url), revocation_bus=make_bus())
    first = admin.issue(client_id=new_client_id(), label="a", scopes=["payments.get"])
    second = admin.issue(client_id=new_client_id(), label="b", scopes=["payments.get"])
    for issued in (first, second):
        assert guard.check("GET", "/x", f"Bearer {issued.token}") is not None
    admin.revoke(first.record.id)
    wait_for(lambda: refused(guard, first.token), timeout=2)
    # The command line publishes on the default channel: listen there too.
    bus_url = make_bus.server
    default = open_bus(bus_url)
    default_guard = Guard([ClientTokenVerifier(server)], revocation_bus=default)
    subscribed(default)
    assert default_guard.check("GET", "/x", f"Bearer {second.token}") is not None
    code = main(["tokens", "revoke", second.record.id, "--store", store_url, "--bus", bus_url])
    assert code == 0
    wait_for(lambda: refused(default_guard, second.token), timeout=2)
    default.close()


def test_the_cli_reports_a_bus_that_failed(tmp_path: Path, capsys: Any) -> None:
    store_url = f"sqlite:///{tmp_path / 'tokens.db'}"
    issued = TokenManager(open_store(store_url)).issue(
        client_id=new_client_id(), label="a", scopes=["payments.get"]
    )
    code = main(
        ["tokens", "revoke", issued.record.id, "--store", store_url, "--bus", "redis://127.0.0.1:1"]
    )
    assert code == 1
    assert "revocation bus failed" in capsys.readouterr().err
    assert TokenManager(open_store(store_url)).get(issued.record.id).revoked_at is not None  # type: ignore[union-attr]


def test_the_cli_refuses_an_unknown_bus(capsys: Any) -> None:
    assert main(["tokens", "list", "--store", "memory://", "--bus", "kafka://x"]) == 2
    assert "unknown bus URL" in capsys.readouterr().err


def test_an_unreachable_bus_fails_publish_and_lookup_in_time(engine: str) -> None:
    url = "redis://127.0.0.1:1/0" if engine == "redis" else "postgresql://postgres@127.0.0.1:1/x"
    bus = open_bus(url, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(RevocationError):
        bus.publish(Revocation(key=KEY))
    with pytest.raises(RevocationError):
        bus.lookup(Revocation(key=KEY).ids, time.time())
    assert time.monotonic() - started < 3
    assert bus.stats().publish_failures == 1
    bus.close()


_FORKED = """
import os, sys, time
from bearerguard import Guard, StaticTokenVerifier
from bearerguard.revocation import open_bus
bus = open_bus(sys.argv[1], channel=sys.argv[2], **({"key_prefix": sys.argv[2] + ":"}
      if sys.argv[1].startswith("redis") else {"table": sys.argv[2]}))
guard = Guard([StaticTokenVerifier({"dev-token": ["a"]})], revocation_bus=bus)
time.sleep(0.3)  # the parent's listener is up before fork, as under gunicorn --preload
pid = os.fork()
if pid == 0:
    deadline = time.time() + 5
    while not bus.stats().connected and time.time() < deadline:
        time.sleep(0.01)
    guard.check("GET", "/x", "Bearer dev-token")
    print("ready", flush=True)
    while time.time() < deadline:
        try:
            guard.check("GET", "/x", "Bearer dev-token")
        except Exception:
            print("refused", flush=True)
            os._exit(0)
        time.sleep(0.01)
    os._exit(1)
os.waitpid(pid, 0)
"""


def test_a_forked_child_listens_on_its_own(make_bus: Any, names: str) -> None:
    publisher = make_bus()
    with subprocess.Popen(
        [sys.executable, "-c", _FORKED, make_bus.server, names], stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        revoker = Guard([StaticTokenVerifier({"dev-token": ["a"]})], revocation_bus=publisher)
        revoker.revoke("dev-token")
        assert child.stdout.readline().strip() == "refused"
        assert child.wait(10) == 0


def test_rotate_publishes_and_the_grace_ends_by_each_guards_clock(make_bus: Any) -> None:
    listener = make_bus()
    store = open_store("memory://")
    guard = Guard([ClientTokenVerifier(TokenManager(store))], revocation_bus=listener)
    subscribed(listener)
    admin = TokenManager(store, revocation_bus=make_bus())
    issued = admin.issue(client_id=new_client_id(), label="a", scopes=["payments.get"])
    assert guard.check("GET", "/x", f"Bearer {issued.token}") is not None
    admin.rotate(issued.record.id, grace=timedelta(seconds=1))
    wait_for(lambda: listener.stats().messages == 1, timeout=2)
    assert not refused(guard, issued.token)  # re-verified, with the shortened life
    wait_for(lambda: refused(guard, issued.token), timeout=3)


def test_client_jwt_and_opaque_tokens_revoked_anywhere_are_refused_everywhere(
    make_bus: Any,
) -> None:
    from ._support import Introspection

    idp = Introspection()
    store = open_store("memory://")
    manager = TokenManager(store, revocation_bus=make_bus())

    def worker() -> tuple[Guard, Any]:
        bus = make_bus()
        verifiers = [ClientTokenVerifier(TokenManager(store)), jwt_verifier(), idp.verifier()]
        return Guard(verifiers, revocation_bus=bus), bus

    try:
        workers = [worker() for _ in range(3)]
        for _, bus in workers:
            subscribed(bus)
        client = manager.issue(client_id=new_client_id(), label="a", scopes=["payments.get"])
        tokens = [client.token, mint(), idp.issue()]
        for guard, _ in workers:
            for token in tokens:
                assert not refused(guard, token)
        manager.revoke(client.record.id)
        workers[0][0].revoke(tokens[1])
        workers[1][0].revoke(tokens[2])
        for guard, _ in workers:
            for token in tokens:
                wait_for(lambda: refused(guard, token), timeout=2)  # noqa: B023
        latecomer, _ = worker()  # started after: the list refuses the JWT and opaque token
        assert all(refused(latecomer, token) for token in tokens)
        for guard, _ in workers:
            guard.close()
        latecomer.close()
    finally:
        idp.stop()


def test_postgres_takes_a_libpq_dsn(pg_url: str, names: str) -> None:
    from bearerguard.revocation import PostgresRevocationBus

    user = pg_url.split("//", 1)[1].split("@", 1)[0]
    dsn = f"host=127.0.0.1 port=5432 dbname=test user={user}"
    listener = PostgresRevocationBus(dsn, channel=names, table=names)
    publisher = PostgresRevocationBus(pg_url, channel=names, table=names)
    try:
        crosses(listener, publisher)
    finally:
        listener.close()
        publisher.close()
        import psycopg

        with psycopg.connect(dsn, autocommit=True) as connection:
            connection.execute(f"DROP TABLE IF EXISTS {names}")


@pytest.mark.parametrize(
    "url", ["mysql://x", "postgresql+asyncpg://x/y", "sqlite:///x.db", "", "redis"]
)
def test_open_bus_refuses_other_urls(url: str) -> None:
    with pytest.raises(ValueError, match=r"unknown bus URL|PostgresRevocationBus needs"):
        open_bus(url)


def test_the_cli_reads_the_bus_from_the_environment(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_url = f"sqlite:///{tmp_path / 'tokens.db'}"
    server = TokenManager(open_store(store_url))
    listener = open_bus(redis_url)
    guard = Guard([ClientTokenVerifier(server)], revocation_bus=listener)
    subscribed(listener)
    issued = server.issue(client_id=new_client_id(), label="a", scopes=["payments.get"])
    assert guard.check("GET", "/x", f"Bearer {issued.token}") is not None
    monkeypatch.setenv("BEARERGUARD_BUS", redis_url)
    assert main(["tokens", "revoke", issued.record.id, "--store", store_url]) == 0
    wait_for(lambda: refused(guard, issued.token), timeout=2)
    listener.close()


@pytest.fixture
def sentinel(redis_url: str, tmp_path: Path) -> Any:
    """A Redis Sentinel on a free port, watching the machine's Redis as ``mymaster``."""
    import shutil
    import socket

    import redis

    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (it runs the sentinel)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = tmp_path / "sentinel.conf"  # the sentinel rewrites it: a file of its own
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\nsentinel monitor mymaster 127.0.0.1 6379 1\n"
    )
    with subprocess.Popen(
        [server, str(config), "--sentinel"], stdout=subprocess.DEVNULL
    ) as process:
        client = redis.Redis(port=port, socket_timeout=1)

        def ready() -> bool:
            try:
                return client.sentinel_get_master_addr_by_name("mymaster") is not None
            except redis.RedisError:
                return False

        wait_for(ready, timeout=10)
        client.close()
        yield f"redis+sentinel://127.0.0.1:{port}/mymaster/0"
        process.terminate()


def test_redis_through_sentinel(sentinel: str, names: str) -> None:
    from bearerguard.revocation import RedisRevocationBus

    listener = RedisRevocationBus(sentinel, channel=names, key_prefix=names + ":")
    publisher = RedisRevocationBus(sentinel, channel=names, key_prefix=names + ":")
    try:
        crosses(listener, publisher)
        assert "127.0.0.1" in repr(publisher)
    finally:
        listener.close()
        publisher.close()
        import redis

        client = redis.Redis()
        client.delete(*client.keys(f"{names}:*"))
        client.close()


@pytest.mark.parametrize(
    "url",
    [
        "redis+sentinel://127.0.0.1:26379",
        "redis+sentinel://127.0.0.1:26379/mymaster/zero",
        "redis+sentinel://127.0.0.1:port/mymaster",
    ],
)
def test_bad_sentinel_urls_are_refused(url: str) -> None:
    from bearerguard.revocation import RedisRevocationBus

    with pytest.raises(ValueError, match="sentinel URL"):
        RedisRevocationBus(url)


def test_apublish_reaches_the_listeners(make_bus: Any) -> None:
    import asyncio

    listener, publisher = make_bus(), make_bus()
    guard = Guard([StaticTokenVerifier({"dev-token": ["a"]})], revocation_bus=listener)
    subscribed(listener)
    assert guard.check("GET", "/x", "Bearer dev-token") is not None
    publisher.record(Revocation(key=KEY), time.time() + 60)
    asyncio.run(publisher.apublish(Revocation(key=KEY)))
    wait_for(lambda: refused(guard, "dev-token"), timeout=2)
