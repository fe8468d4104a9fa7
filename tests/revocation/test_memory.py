"""The guard's side of revocation, through MemoryRevocationBus and real apps."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bearerguard import ClientTokenVerifier, Guard, StaticTokenVerifier
from bearerguard.cache import token_key
from bearerguard.revocation import (
    MemoryRevocationBus,
    Revocation,
    RevocationBus,
    RevocationError,
)
from bearerguard.starlette import BearerGuardMiddleware
from bearerguard.stores import MemoryTokenStore
from bearerguard.tokens import TokenManager, new_client_id

from ._support import ISSUER, jwt_verifier, mint, refused

CLIENT = new_client_id()


class CountingBus(MemoryRevocationBus):
    """A memory bus that counts lookups and can be made to fail them."""

    def __init__(self) -> None:
        super().__init__()
        self.lookups = 0
        self.failing = False

    def lookup(self, ids: Any, now: float) -> dict[str, float]:
        self.lookups += 1
        if self.failing:
            raise RevocationError("down")
        return super().lookup(ids, now)


def test_revoke_a_static_token_reaches_every_guard_on_the_bus() -> None:
    bus = MemoryRevocationBus()
    table = {"dev-token": ["payments.get"]}
    first = Guard([StaticTokenVerifier(table)], revocation_bus=bus)
    second = Guard([StaticTokenVerifier(table)], revocation_bus=bus)
    for guard in (first, second):
        assert guard.check("GET", "/x", "Bearer dev-token") is not None  # cached now
    assert first.revoke("dev-token") is True
    assert refused(first, "dev-token")
    assert refused(second, "dev-token")
    assert first.revoke("dev-token") is False  # refused already: nothing to do
    assert bus.published == [Revocation(key=token_key("dev-token"))]


def test_messages_carry_the_hash_and_ids_never_the_token() -> None:
    bus = MemoryRevocationBus()
    guard = Guard([jwt_verifier()], revocation_bus=bus)
    token = mint()
    guard.revoke(token)
    [message] = bus.published
    assert message.key == token_key(token)
    assert message.issuer == ISSUER
    assert message.jti is not None
    assert token not in message.encode()
    assert Revocation.decode(message.encode()) == message


def test_a_revoked_jwt_is_refused_by_a_guard_that_missed_the_message() -> None:
    # The revocation list, not the message, is what a new process sees.
    bus = MemoryRevocationBus()
    token = mint()
    Guard([jwt_verifier()], revocation_bus=bus).revoke(token)
    latecomer = Guard([jwt_verifier()], revocation_bus=bus)
    assert refused(latecomer, token)
    assert not refused(latecomer, mint())


def test_revoke_jti_evicts_cached_tokens_and_refuses_them() -> None:
    bus = MemoryRevocationBus()
    guard = Guard([jwt_verifier()], revocation_bus=bus)
    token = mint()
    principal = guard.check("GET", "/x", f"Bearer {token}")
    assert principal is not None
    assert principal.token_id is not None
    guard.revoke_jti(ISSUER, principal.token_id, expires_at=principal.expires_at)  # type: ignore[arg-type]
    assert refused(guard, token)


def test_revoke_subject_refuses_tokens_issued_before_and_admits_later_ones() -> None:
    bus = MemoryRevocationBus()
    guard = Guard([jwt_verifier()], revocation_bus=bus)
    old = mint("alice", iat=time.time() - 60)
    other = mint("bob", iat=time.time() - 60)
    assert guard.check("GET", "/x", f"Bearer {old}") is not None
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    guard.revoke_subject(ISSUER, "alice", expires_at=later)
    assert refused(guard, old)
    assert not refused(guard, other)
    assert not refused(guard, mint("alice", iat=time.time() + 1))  # logged in again


def test_token_manager_publishes_revoke_and_rotate_to_other_processes_guards() -> None:
    bus = MemoryRevocationBus()
    store = MemoryTokenStore()
    # Two managers over one store stand for two processes; only the bus links them.
    server = TokenManager(store, known_scopes=["payments.get"])
    admin = TokenManager(store, revocation_bus=bus)
    guard = Guard([ClientTokenVerifier(server)], revocation_bus=bus)
    issued = admin.issue(client_id=CLIENT, label="checkout", scopes=["payments.get"])
    rotated = admin.issue(client_id=CLIENT, label="reports", scopes=["payments.get"])
    for token in (issued.token, rotated.token):
        assert guard.check("GET", "/x", f"Bearer {token}") is not None
    admin.revoke(issued.record.id)
    assert refused(guard, issued.token)
    admin.rotate(rotated.record.id, grace=timedelta(0))
    assert refused(guard, rotated.token)
    assert [m.key for m in bus.published] == [issued.record.token_hash, rotated.record.token_hash]
    admin.revoke(issued.record.id)  # again: published again, for a rerun after a failure
    assert len(bus.published) == 3


def test_a_failed_publish_is_logged_and_the_revoke_still_holds(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(MemoryRevocationBus):
        def publish(self, revocation: Revocation) -> None:
            raise RevocationError("unreachable")

    manager = TokenManager(MemoryTokenStore(), revocation_bus=Broken())
    issued = manager.issue(client_id=CLIENT, label="checkout", scopes=["payments.get"])
    with caplog.at_level(logging.WARNING, logger="bearerguard"):
        record = manager.revoke(issued.record.id)
    assert record.revoked_at is not None
    assert "not published" in caplog.text
    assert issued.token not in caplog.text


def test_a_cache_hit_does_no_lookup_and_a_miss_does_one() -> None:
    bus = CountingBus()
    guard = Guard([StaticTokenVerifier({"dev-token": ["a"]})], revocation_bus=bus)
    for _ in range(5):
        guard.check("GET", "/x", "Bearer dev-token")
    assert bus.lookups == 1


def _app(guard: Guard) -> Starlette:
    async def logout(request: Request) -> JSONResponse:
        token = request.headers["authorization"].split(" ", 1)[1]
        return JSONResponse({"revoked": await guard.arevoke(token)})

    async def me(request: Request) -> JSONResponse:
        return JSONResponse({"sub": request.scope["bearerguard.principal"].subject})

    app = Starlette(routes=[Route("/logout", logout, methods=["POST"]), Route("/me", me)])
    app.add_middleware(BearerGuardMiddleware, guard=guard)
    return app


def test_an_unreadable_revocation_list_is_503_on_a_miss_and_never_on_a_hit() -> None:
    bus = CountingBus()
    guard = Guard([jwt_verifier()], revocation_bus=bus)
    cached, fresh = mint(), mint()
    with TestClient(_app(guard)) as client:
        assert client.get("/me", headers={"Authorization": f"Bearer {cached}"}).status_code == 200
        bus.failing = True
        assert client.get("/me", headers={"Authorization": f"Bearer {cached}"}).status_code == 200
        answer = client.get("/me", headers={"Authorization": f"Bearer {fresh}"})
        assert answer.status_code == 503
        assert answer.json()["error"] == "temporarily_unavailable"
        assert "Retry-After" in answer.headers
        assert fresh not in answer.text


def test_logout_through_arevoke_in_a_starlette_app() -> None:
    guard = Guard([jwt_verifier()], revocation_bus=MemoryRevocationBus())
    token = mint()
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(_app(guard)) as client:
        assert client.get("/me", headers=headers).status_code == 200
        assert client.post("/logout", headers=headers).json() == {"revoked": True}
        answer = client.get("/me", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["error_description"] == "The access token was revoked"


class CountingVerifier(StaticTokenVerifier):
    verified = 0

    def verify(self, token: str) -> Any:
        self.verified += 1
        return super().verify(token)


def test_an_evictions_only_bus_never_looks_up_and_cannot_revoke() -> None:
    bus = MemoryRevocationBus(revocation_list=False)
    verifier = CountingVerifier({"dev-token": ["a"]})
    guard = Guard([verifier], revocation_bus=bus)
    assert isinstance(bus, RevocationBus)
    guard.check("GET", "/x", "Bearer dev-token")
    guard.check("GET", "/x", "Bearer dev-token")
    assert verifier.verified == 1
    with pytest.raises(RevocationError, match="no revocation list"):
        guard.revoke("dev-token")
    bus.publish(Revocation(key=token_key("dev-token")))  # an eviction still evicts
    guard.check("GET", "/x", "Bearer dev-token")
    assert verifier.verified == 2


def test_revoking_without_a_bus_says_what_is_missing() -> None:
    guard = Guard([StaticTokenVerifier({"dev-token": ["a"]})])
    with pytest.raises(RuntimeError, match="revocation_bus"):
        guard.revoke("dev-token")


def test_a_guard_refuses_an_object_that_is_not_a_bus() -> None:
    with pytest.raises(TypeError, match="not a revocation bus"):
        Guard([StaticTokenVerifier({"t": ["a"]})], revocation_bus=object())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "needs a key"),
        ({"key": b"short"}, "32-byte"),
        ({"jti": "x"}, "needs its issuer"),
        ({"issuer": ISSUER, "subject": "alice"}, "needs issuer, subject and before"),
        ({"issuer": ISSUER, "subject": "a", "before": float("nan")}, "finite"),
        ({"issuer": "x" * 513, "jti": "j"}, "1 to 512"),
        ({"issuer": "a\nb", "jti": "j"}, "control"),
    ],
)
def test_bad_revocations_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Revocation(**options)


@pytest.mark.parametrize(
    "payload",
    [
        "",
        "null",
        "[]",
        '{"v": 2, "key": "00"}',
        '{"v": 1}',
        '{"v": 1, "key": "zz"}',
        '{"v": 1, "issuer": "i", "subject": "s", "before": true}',
        b"\xff",
    ],
)
def test_bad_messages_are_refused(payload: str | bytes) -> None:
    with pytest.raises(ValueError, match=r"."):
        Revocation.decode(payload)


def test_revoke_jti_and_subject_need_aware_times() -> None:
    guard = Guard([jwt_verifier()], revocation_bus=MemoryRevocationBus())
    with pytest.raises(ValueError, match="timezone-aware"):
        guard.revoke_jti(ISSUER, "j", expires_at=datetime.now())
    with pytest.raises(ValueError, match="timezone-aware"):
        guard.revoke_subject(ISSUER, "s", expires_at="tomorrow")  # type: ignore[arg-type]
