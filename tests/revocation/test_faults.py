"""Outages between a guard and its bus, made by a TCP proxy of the test's own.

The machine's Redis and PostgreSQL keep running; only the proxy in front of them is
cut (connections dropped, new ones refused), stalled (open, forwarding nothing) or
restored.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from bearerguard import (
    ClientTokenVerifier,
    Guard,
    ServiceUnavailableError,
    StaticTokenVerifier,
    UnauthenticatedError,
)
from bearerguard.stores import MemoryTokenStore
from bearerguard.tokens import TokenManager, new_client_id

from ._support import wait_for

CACHE_TTL = 1.5
FAST = {"timeout": 0.3, "heartbeat": 0.2}


class CountingVerifier(ClientTokenVerifier):
    verified = 0

    def verify(self, token: str) -> Any:
        self.verified += 1
        return super().verify(token)


def allowed(guard: Guard, token: str) -> bool:
    """A request: True when allowed, False when refused; anything else fails the test."""
    try:
        return guard.check("GET", "/x", f"Bearer {token}") is not None
    except UnauthenticatedError:
        return False


@pytest.fixture
def setup(make_bus: Any, proxy: Any) -> Any:
    store = MemoryTokenStore()
    verifier = CountingVerifier(TokenManager(store))
    bus = make_bus(proxy.url, revocation_list=False, **FAST)
    guard = Guard([verifier], revocation_bus=bus, cache_ttl=CACHE_TTL)
    admin = TokenManager(store, revocation_bus=make_bus())  # straight to the server
    wait_for(lambda: bus.stats().connected, timeout=5)

    def issue() -> Any:
        return admin.issue(client_id=new_client_id(), label="t", scopes=["payments.get"])

    return guard, bus, admin, verifier, issue


def test_a_cut_fails_no_request_and_no_revoked_token_outlives_cache_ttl(
    setup: Any, proxy: Any, caplog: pytest.LogCaptureFixture
) -> None:
    guard, bus, admin, _, issue = setup
    kept, revoked = issue(), issue()
    assert allowed(guard, kept.token)
    assert allowed(guard, revoked.token)
    with caplog.at_level(logging.WARNING, logger="bearerguard"):
        proxy.cut()
        wait_for(lambda: not bus.stats().connected, timeout=3)
        admin.revoke(revoked.record.id)  # published while this guard cannot hear it
        revoked_at = time.monotonic()
        while allowed(guard, revoked.token):  # cached: honoured until cache_ttl at most
            assert allowed(guard, kept.token)
            time.sleep(0.02)
        # The entry was cached before the revoke: it is gone within cache_ttl of that
        # (the slack is this loop's own polling on a loaded machine).
        assert time.monotonic() - revoked_at <= CACHE_TTL + 0.3
        assert allowed(guard, kept.token)  # re-verified from the store, bus still down
        assert allowed(guard, issue().token)
        proxy.restore()
        wait_for(lambda: bus.stats().connected, timeout=5)
    stats = bus.stats()
    assert stats.gaps == 1
    assert stats.gap_seconds > 0.5
    assert "subscription lost" in caplog.text
    assert "subscribed again after" in caplog.text
    assert kept.token not in caplog.text


def test_a_stall_is_noticed_and_the_cache_is_dropped_at_reconnect(
    setup: Any, proxy: Any, caplog: pytest.LogCaptureFixture
) -> None:
    guard, bus, _, verifier, issue = setup
    token = issue().token
    assert allowed(guard, token)
    assert verifier.verified == 1
    with caplog.at_level(logging.WARNING, logger="bearerguard"):
        proxy.stall()
        # Noticed by the heartbeat, whose answer never comes: no socket error here.
        noticed = wait_for(lambda: not bus.stats().connected, timeout=3)
        assert noticed < FAST["heartbeat"] + FAST["timeout"] + 1.5
        assert allowed(guard, token)  # still a cache hit: nothing waits on the bus
        assert verifier.verified == 1
        proxy.restore()
        wait_for(lambda: bus.stats().connected, timeout=5)
    assert allowed(guard, token)
    assert verifier.verified == 2  # dropped at reconnect: it may have missed a revoke
    assert bus.stats().gaps == 1
    assert "subscription lost (TimeoutError)" in caplog.text


def test_a_bus_down_at_start_fails_no_request(make_bus: Any, proxy: Any) -> None:
    proxy.cut()
    bus = make_bus(proxy.url, revocation_list=False, **FAST)
    guard = Guard([StaticTokenVerifier({"dev-token": ["a"]})], revocation_bus=bus)
    wait_for(lambda: bus.stats().gaps == 1, timeout=3)
    assert allowed(guard, "dev-token")
    proxy.restore()
    wait_for(lambda: bus.stats().connected, timeout=5)
    assert allowed(guard, "dev-token")


def test_with_the_list_out_of_reach_a_miss_is_503_in_time_and_a_hit_still_passes(
    make_bus: Any, proxy: Any
) -> None:
    bus = make_bus(proxy.url, **FAST)
    guard = Guard([StaticTokenVerifier({"cached": ["a"], "fresh": ["a"]})], revocation_bus=bus)
    wait_for(lambda: bus.stats().connected, timeout=5)
    assert allowed(guard, "cached")
    for outage in (proxy.cut, proxy.stall):
        outage()
        assert allowed(guard, "cached")
        started = time.monotonic()
        with pytest.raises(ServiceUnavailableError):
            guard.check("GET", "/x", "Bearer fresh")
        assert time.monotonic() - started < FAST["timeout"] + 1.0  # bounded, never a hang
        proxy.restore()
    wait_for(lambda: bus.stats().connected, timeout=5)
    assert allowed(guard, "fresh")


def test_the_first_miss_after_an_outage_is_decided_not_refused(make_bus: Any, proxy: Any) -> None:
    # The list's connection, opened by the first miss, dies in the cut without being
    # used; the first miss after the outage must not pay for it with a 503.
    bus = make_bus(proxy.url, max_concurrency=1, **FAST)
    tokens = {f"t{i}": ["a"] for i in range(3)}
    guard = Guard([StaticTokenVerifier(tokens)], revocation_bus=bus)
    wait_for(lambda: bus.stats().connected, timeout=5)
    assert allowed(guard, "t0")
    proxy.cut()
    wait_for(lambda: not bus.stats().connected, timeout=3)
    proxy.restore()
    wait_for(lambda: bus.stats().connected, timeout=5)
    assert allowed(guard, "t1")
    assert allowed(guard, "t2")
