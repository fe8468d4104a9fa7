"""JWTVerifier under ASGI: ``averify`` stays on the event loop when it holds the key
and moves only the JWKS fetch to a worker thread (A-07, K-05).
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
import anyio.to_thread
import pytest

from bearerguard import Guard, JWTVerifier
from bearerguard.exceptions import AuthError, ServiceUnavailableError, UnauthenticatedError
from bearerguard.verifiers import _fetch

pytestmark = pytest.mark.anyio


class ThreadHops:
    """Counts ``anyio.to_thread.run_sync`` calls (each one is a thread hop)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = anyio.to_thread.run_sync

        async def counting(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return await real(*args, **kwargs)

        monkeypatch.setattr(anyio.to_thread, "run_sync", counting)


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> ThreadHops:
    return ThreadHops(monkeypatch)


@pytest.fixture
def fetch_threads() -> list[int]:
    return []


@pytest.fixture
def jwks_verifier(
    make_verifier: Any, jwks_server: Any, timer: Any, fetch_threads: list[int]
) -> Any:
    def fetcher(url: str, timeout: float) -> bytes:
        fetch_threads.append(threading.get_ident())
        return _fetch.fetch_url(url, timeout)

    def make(**options: Any) -> JWTVerifier:
        options.setdefault("jwks_timer", timer)
        options.setdefault("jwks_fetcher", fetcher)
        options.setdefault("jwks_timeout", 2.0)
        verifier: JWTVerifier = make_verifier(jwks_url=jwks_server.url, **options)
        return verifier

    return make


async def test_averify_with_a_static_key_never_hops(
    keys: Any, make_verifier: Any, hops: ThreadHops
) -> None:
    verifier = make_verifier()
    assert (await verifier.averify(keys.token())).subject == "user-1"
    with pytest.raises(UnauthenticatedError):
        await verifier.averify(keys.token(key=keys.rsa2))
    assert hops.count == 0


async def test_averify_held_key_on_the_loop_miss_in_a_worker_thread(
    keys: Any, jwks_server: Any, jwks_verifier: Any, hops: ThreadHops, fetch_threads: list[int]
) -> None:
    jwks_server.publish(keys.jwk("RS256", "k1"))
    verifier = jwks_verifier()
    token = keys.token(headers={"kid": "k1"})
    loop_thread = threading.get_ident()
    assert (await verifier.averify(token)).subject == "user-1"
    assert hops.count == 1
    assert fetch_threads
    assert loop_thread not in fetch_threads
    for _ in range(10):
        assert await verifier.averify(token)
    assert hops.count == 1
    assert jwks_server.requests == 1


async def test_averify_unknown_kid_in_cooldown_answers_without_a_hop(
    keys: Any, jwks_server: Any, jwks_verifier: Any, hops: ThreadHops
) -> None:
    jwks_server.publish(keys.jwk("RS256", "k1"))
    verifier = jwks_verifier()
    await verifier.averify(keys.token(headers={"kid": "k1"}))
    with pytest.raises(UnauthenticatedError):
        await verifier.averify(keys.token(headers={"kid": "first-unknown"}))  # refetches
    assert jwks_server.requests == 2
    hops_before = hops.count
    for n in range(50):
        with pytest.raises(UnauthenticatedError):
            await verifier.averify(keys.token(headers={"kid": f"flood-{n}"}))
    assert hops.count == hops_before
    assert jwks_server.requests == 2


async def test_averify_held_key_during_a_scheduled_refresh_never_hops(
    keys: Any, jwks_server: Any, jwks_verifier: Any, hops: ThreadHops, timer: Any
) -> None:
    jwks_server.publish(keys.jwk("RS256", "k1"))
    verifier = jwks_verifier(jwks_timeout=10.0)
    await verifier.averify(keys.token(headers={"kid": "k1"}))
    timer.advance(300)
    jwks_server.delay = 10.0
    jwks_server.settle()
    jwks_server.started.clear()
    answered = jwks_server.responses
    async with anyio.create_task_group() as group:
        group.start_soon(verifier.averify, keys.token(headers={"kid": "k1"}, jti="due"))
        while not jwks_server.started.is_set():
            await anyio.sleep(0.005)
        hops_before = hops.count
        assert await verifier.averify(keys.token(headers={"kid": "k1"}, jti="meanwhile"))
        assert hops.count == hops_before
        assert jwks_server.responses == answered
        jwks_server.release()
    assert jwks_server.requests == 2


async def test_averify_early_rejection_never_hops(
    keys: Any, jwks_server: Any, jwks_verifier: Any, hops: ThreadHops
) -> None:
    verifier = jwks_verifier()
    for token in ("eyJhbGciOiJub25lIn0.e30.", "W10.e30.c2ln", keys.token("HS256")):
        with pytest.raises(UnauthenticatedError):
            await verifier.averify(token)
    assert hops.count == 0
    assert jwks_server.requests == 0


async def test_K04_averify_cold_and_down_is_503(
    keys: Any, jwks_server: Any, jwks_verifier: Any
) -> None:
    jwks_server.stop()
    with pytest.raises(ServiceUnavailableError):
        await jwks_verifier().averify(keys.token(headers={"kid": "k1"}))


async def test_L03_concurrent_tasks_cold_start_fetch_once(
    keys: Any, jwks_server: Any, jwks_verifier: Any
) -> None:
    jwks_server.publish(keys.jwk("RS256", "k1"))
    jwks_server.delay = 0.1
    verifier = jwks_verifier()
    # Distinct tokens, so the guard's single flight cannot be what coalesces them.
    tokens = [keys.token(headers={"kid": "k1"}, jti=f"t{n}") for n in range(20)]
    subjects: list[str] = []

    async def verify(token: str) -> None:
        subjects.append((await verifier.averify(token)).subject)

    async with anyio.create_task_group() as group:
        for token in tokens:
            group.start_soon(verify, token)
    assert subjects == ["user-1"] * 20
    assert jwks_server.requests == 1


async def test_A07_public_route_not_blocked_by_a_slow_jwks_fetch(
    keys: Any, jwks_server: Any, jwks_verifier: Any, wall: Any
) -> None:
    jwks_server.publish(keys.jwk("RS256", "k1"))
    jwks_server.delay = 0.5
    guard = Guard([jwks_verifier()], public_paths=["/health"], clock=wall)
    token = keys.token(headers={"kid": "k1"})
    events: list[str] = []

    async def protected() -> None:
        principal = await guard.acheck("GET", "/api/payment/1", f"Bearer {token}")
        assert principal is not None
        events.append("protected")

    async with anyio.create_task_group() as group:
        group.start_soon(protected)
        # Wait (on the loop) until the fetch is in flight in its worker thread.
        while not jwks_server.started.is_set():
            await anyio.sleep(0.005)
        assert await guard.acheck("GET", "/health", None) is None
        events.append("public")
        # The loop is free for other work too, while the fetch is still held.
        assert jwks_server.responses == 0
        events.append("loop-free")
    assert events == ["public", "loop-free", "protected"]


async def test_A07_cached_token_is_served_while_another_fetch_is_slow(
    keys: Any, jwks_server: Any, jwks_verifier: Any, wall: Any, timer: Any
) -> None:
    jwks_server.publish(keys.jwk("RS256", "k1"))
    guard = Guard([jwks_verifier()], clock=wall)
    known = keys.token(headers={"kid": "k1"})
    assert await guard.acheck("GET", "/x", f"Bearer {known}")
    jwks_server.started.clear()
    jwks_server.delay = 0.5
    new_kid = keys.token(headers={"kid": "k2"})
    events: list[str] = []

    async def unknown() -> None:
        with pytest.raises(AuthError):
            await guard.acheck("GET", "/x", f"Bearer {new_kid}")
        events.append("unknown-kid")

    async with anyio.create_task_group() as group:
        group.start_soon(unknown)
        while not jwks_server.started.is_set():
            await anyio.sleep(0.005)
        # A fresh token with a held key verifies on the loop during the refetch.
        fresh = keys.token(headers={"kid": "k1"}, jti="fresh")
        assert await guard.acheck("GET", "/x", f"Bearer {fresh}")
        events.append("held-key")
    assert events == ["held-key", "unknown-kid"]
