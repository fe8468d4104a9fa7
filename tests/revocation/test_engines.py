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

from ._support import ISSUER, jwt_verifier, mint, wait_for

KEY = token_key("dev-token")


def refused(guard: Guard, token: str) -> bool:
    try:
        guard.check("GET", "/x", f"Bearer {token}")
    except Exception as exc:
        return type(exc).__name__ == "UnauthenticatedError"
    return False


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
