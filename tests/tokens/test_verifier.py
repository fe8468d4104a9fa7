"""ClientTokenVerifier through a Guard: C-01..C-11, F-01, F-02, L-01 and leakage."""

from __future__ import annotations

import hashlib
import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bearerguard import (
    ClientTokenVerifier,
    Guard,
    InsufficientScopeError,
    Principal,
    Rule,
    ServiceUnavailableError,
    UnauthenticatedError,
)
from bearerguard.stores import MemoryTokenStore, SQLiteTokenStore, StoreError
from bearerguard.tokens import ALPHABET, TokenManager
from bearerguard.tokens import _format as token_format


def bearer(token: str) -> str:
    return f"Bearer {token}"


def refusal(guard: Guard, token: str) -> UnauthenticatedError:
    with pytest.raises(UnauthenticatedError) as caught:
        guard.authenticate(bearer(token))
    return caught.value


def test_the_verifier_is_exported_with_kind_client() -> None:
    import bearerguard

    assert "ClientTokenVerifier" in bearerguard.__all__
    assert bearerguard.__all__ == sorted(bearerguard.__all__)
    verifier = ClientTokenVerifier(TokenManager(MemoryTokenStore()))
    assert verifier.kind == "client"
    assert not hasattr(verifier, "averify")  # the guard runs verify in a worker thread


def test_C01_a_valid_token_gives_a_client_principal(kit: Any) -> None:
    issued = kit.issue(expires_in=timedelta(days=90))
    principal = kit.guard.authenticate(bearer(issued.token))
    assert principal == Principal(
        kind="client",
        subject=issued.record.id,
        scopes=frozenset({"payments.create", "payments.get"}),
        client_id="A" * 32,
        token_id=issued.record.id,
        expires_at=issued.record.expires_at,
        claims={"label": "Checkout server"},
    )
    assert kit.store.count("find_by_hash") == 1


def test_C02_unknown_well_formed_token_costs_exactly_one_lookup(kit: Any) -> None:
    error = refusal(kit.guard, token_format.generate_token())
    assert error.error_code == "invalid_token"
    assert kit.store.count("find_by_hash") == 1
    assert kit.store.count() == 1


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda t: t[:-1], id="wrong-length-short"),
        pytest.param(lambda t: t + "A", id="wrong-length-long"),
        pytest.param(lambda t: t[:-7] + "-" + t[-6:], id="wrong-alphabet"),
        pytest.param(lambda t: t[:-7] + ("B" if t[-7] == "A" else "A") + t[-6:], id="bad-checksum"),
        pytest.param(lambda t: "bg_live_", id="prefix-only"),
        pytest.param(lambda t: "bg_live_" + "." * 36, id="dots"),
    ],
)
def test_C03_malformed_tokens_are_refused_offline(kit: Any, mangle: Callable[[str], str]) -> None:
    issued = kit.issue()
    kit.store.calls.clear()
    error = refusal(kit.guard, mangle(issued.token))
    assert error.error_code == "invalid_token"
    assert kit.store.calls == []


def test_L01_a_spray_of_random_strings_never_reaches_the_store(kit: Any) -> None:
    for _ in range(2000):
        junk = "bg_live_" + "".join(secrets.choice(ALPHABET) for _ in range(36))
        with pytest.raises(UnauthenticatedError):
            kit.guard.authenticate(bearer(junk))
        with pytest.raises(UnauthenticatedError):
            kit.guard.authenticate(bearer(secrets.token_urlsafe(30)))
    # A random 36-character tail passes CRC32 with probability 2**-32 per try.
    assert kit.store.calls == []


@pytest.mark.parametrize("prefix", ["bg_test_", "pay_live_"])
def test_C04_another_environment_prefix_is_refused_without_io(kit: Any, prefix: str) -> None:
    stranger = token_format.generate_token(prefix)  # checksum-valid for its own prefix
    error = refusal(kit.guard, stranger)
    assert error.error_code == "invalid_token"
    assert kit.store.calls == []


def test_a_cache_hit_never_touches_the_store(kit: Any) -> None:
    issued = kit.issue()
    for _ in range(5):
        kit.guard.authenticate(bearer(issued.token))
    assert kit.store.count("find_by_hash") == 1


def test_a_refusal_is_briefly_cached_too(kit: Any) -> None:
    unknown = token_format.generate_token()
    refusal(kit.guard, unknown)
    refusal(kit.guard, unknown)
    assert kit.store.count("find_by_hash") == 1


@pytest.mark.parametrize("late", [1.0, 0.0], ids=["past", "exactly-now"])
def test_C05_an_expired_token_is_refused(kit: Any, late: float) -> None:
    issued = kit.issue(expires_in=timedelta(seconds=60))
    kit.time.advance(60 + late)
    error = refusal(kit.guard, issued.token)
    assert error.description == "The access token expired"


def test_C05_a_cached_token_stops_at_its_expiry(kit: Any) -> None:
    issued = kit.issue(expires_in=timedelta(seconds=30))
    kit.guard.authenticate(bearer(issued.token))
    kit.time.advance(29)
    kit.guard.authenticate(bearer(issued.token))
    kit.time.advance(1)
    assert refusal(kit.guard, issued.token).description == "The access token expired"


def test_C05_a_token_without_expiry_is_accepted_years_later(kit: Any) -> None:
    issued = kit.issue()
    kit.time.advance(10 * 365 * 86400)
    assert kit.guard.authenticate(bearer(issued.token)).expires_at is None


def test_C06_revoke_takes_effect_at_once_in_this_process(kit: Any) -> None:
    issued = kit.issue()
    kit.guard.authenticate(bearer(issued.token))  # cached
    kit.manager.revoke(issued.record.id)
    assert refusal(kit.guard, issued.token).description == "The access token was revoked"


def test_C06_revoke_drops_the_entry_from_every_bound_guard(kit: Any) -> None:
    issued = kit.issue()
    second = Guard([ClientTokenVerifier(kit.manager)], timer=kit.time, clock=kit.time)
    for guard in (kit.guard, second):
        guard.authenticate(bearer(issued.token))
    kit.manager.revoke(issued.record.id)
    for guard in (kit.guard, second):
        refusal(guard, issued.token)


def test_C06_another_process_sees_a_revocation_within_the_cache_ttl(
    make_kit: Callable[..., Any], tmp_path: Path
) -> None:
    path = tmp_path / "shared.db"
    serving = make_kit(SQLiteTokenStore(path), cache_ttl=30.0)
    admin = make_kit(SQLiteTokenStore(path))  # another process's manager, same file
    issued = admin.issue()
    serving.guard.authenticate(bearer(issued.token))
    admin.manager.revoke(issued.record.id)
    serving.time.advance(29)
    serving.guard.authenticate(bearer(issued.token))  # still cached: the documented bound
    serving.time.advance(1)
    assert refusal(serving.guard, issued.token).description == "The access token was revoked"


def test_rotate_gives_the_old_token_a_grace_period_then_401(kit: Any) -> None:
    old = kit.issue(expires_in=timedelta(days=90))
    kit.guard.authenticate(bearer(old.token))
    new = kit.manager.rotate(old.record.id, grace=timedelta(hours=1))
    assert kit.guard.authenticate(bearer(new.token)).token_id == new.record.id
    kit.time.advance(3599)
    principal = kit.guard.authenticate(bearer(old.token))
    assert principal.expires_at == kit.time.at(1)  # re-read after rotate: the grace end
    kit.time.advance(1)
    assert refusal(kit.guard, old.token).description == "The access token expired"
    assert kit.guard.authenticate(bearer(new.token)).client_id == "A" * 32


def test_rotate_without_grace_refuses_the_old_token_at_once(kit: Any) -> None:
    old = kit.issue()
    kit.guard.authenticate(bearer(old.token))
    kit.manager.rotate(old.record.id, grace=timedelta(0))
    refusal(kit.guard, old.token)


def test_a_verification_that_raced_a_revoke_is_not_left_in_the_cache(kit: Any) -> None:
    issued = kit.issue()
    inner = kit.store.inner
    original = inner.find_by_hash
    revoked = threading.Event()

    def slow_find(token_hash: bytes) -> Any:
        row = original(token_hash)  # read before the revoke...
        threading.Thread(
            target=lambda: (kit.manager.revoke(issued.record.id), revoked.set())
        ).start()
        revoked.wait(5)  # ...answered after it
        return row

    inner.find_by_hash = slow_find
    with pytest.raises(UnauthenticatedError):
        kit.guard.authenticate(bearer(issued.token))
    inner.find_by_hash = original
    assert refusal(kit.guard, issued.token).description == "The access token was revoked"


def test_a_revoke_the_store_failed_changes_nothing(kit: Any) -> None:
    issued = kit.issue()
    kit.guard.authenticate(bearer(issued.token))
    original = kit.store.inner.revoke

    def down(*args: Any) -> bool:
        raise StoreError("down")

    kit.store.inner.revoke = down
    with pytest.raises(StoreError):
        kit.manager.revoke(issued.record.id)
    kit.guard.clear_cache()
    assert kit.guard.authenticate(bearer(issued.token)).token_id == issued.record.id
    kit.store.inner.revoke = original
    kit.manager.revoke(issued.record.id)
    refusal(kit.guard, issued.token)


@pytest.mark.parametrize(
    ("scopes", "method", "outcome"),
    [
        pytest.param(["payments.get"], "POST", "403", id="get-calling-create"),
        pytest.param(["payments.get"], "GET", "200", id="get-calling-get"),
        pytest.param(["*"], "POST", "200", id="star"),
        pytest.param(["payments.*"], "POST", "200", id="prefix-star"),
    ],
)
def test_C07_scopes_decide(
    make_kit: Callable[..., Any], scopes: list[str], method: str, outcome: str
) -> None:
    rules = [
        Rule("POST", "/api/payment", scopes=["payments.create"]),
        Rule("GET", "/api/payment/{id}", scopes=["payments.get"]),
    ]
    kit = make_kit(guard_kwargs={"rules": rules})
    token = kit.issue(scopes=scopes).token
    path = "/api/payment" if method == "POST" else "/api/payment/1"
    if outcome == "403":
        with pytest.raises(InsufficientScopeError) as caught:
            kit.guard.check(method, path, bearer(token))
        assert caught.value.required_scopes == ("payments.create",)
    else:
        assert kit.guard.check(method, path, bearer(token)) is not None


@pytest.mark.parametrize(
    ("column", "value"),
    [
        pytest.param("scopes", None, id="scopes-null"),
        pytest.param("scopes", "*", id="scopes-bare-star-text"),
        pytest.param("scopes", '{"*": true}', id="scopes-object"),
        pytest.param("scopes", "[1, 2]", id="scopes-numbers"),
        pytest.param("scopes", '["a b"]', id="scopes-with-space"),
        pytest.param("expires_at", "tomorrow", id="expires-at-tomorrow"),
        pytest.param("expires_at", 1_900_000_000, id="expires-at-number"),
        pytest.param("created_at", None, id="created-at-null"),
        pytest.param("revoked_at", "yesterday", id="revoked-at-garbage"),
        pytest.param("label", None, id="label-missing"),
        pytest.param("client_id", 42, id="client-id-number"),
        pytest.param("token_hash", b"short", id="hash-short"),
        pytest.param("token_hash", bytes(32), id="hash-of-another-token"),
        pytest.param("id", None, id="id-missing"),
    ],
)
def test_F02_a_malformed_row_denies_never_500(kit: Any, column: str, value: Any) -> None:
    issued = kit.issue(scopes=["*"])
    kit.store.inner._rows[issued.record.id][column] = value
    error = refusal(kit.guard, issued.token)
    assert error.status_code == 401
    assert error.description == "The access token is invalid"


def test_F02_a_row_missing_a_column_denies(make_kit: Callable[..., Any]) -> None:
    class Partial(MemoryTokenStore):
        def find_by_hash(self, token_hash: bytes) -> Any:
            row = super().find_by_hash(token_hash)
            return None if row is None else {k: v for k, v in row.items() if k != "label"}

    kit = make_kit(Partial())
    refusal(kit.guard, kit.issue().token)


def test_F02_expiry_text_in_a_sqlite_file_denies(
    make_kit: Callable[..., Any], tmp_path: Path
) -> None:
    path = tmp_path / "t.db"
    kit = make_kit(SQLiteTokenStore(path))
    issued = kit.issue()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE bearerguard_tokens SET expires_at = 'tomorrow'")
    connection.close()
    refusal(kit.guard, issued.token)


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(StoreError("down"), id="store-error"),
        pytest.param(sqlite3.OperationalError("database is locked"), id="sqlite-locked"),
        pytest.param(TimeoutError(), id="timeout"),
        pytest.param(RuntimeError("boom"), id="anything"),
    ],
)
def test_F01_store_failure_is_503_and_never_cached(kit: Any, failure: Exception) -> None:
    issued = kit.issue()
    kit.store.failing = failure
    with pytest.raises(ServiceUnavailableError) as caught:
        kit.guard.authenticate(bearer(issued.token))
    status, headers, _ = kit.guard.render(caught.value)
    assert status == 503
    assert ("retry-after", "5") in headers
    kit.store.failing = None
    assert kit.guard.authenticate(bearer(issued.token)).token_id == issued.record.id


def test_F01_sqlite_file_in_a_missing_directory_is_503(
    make_kit: Callable[..., Any], tmp_path: Path
) -> None:
    kit = make_kit(SQLiteTokenStore(tmp_path / "missing" / "tokens.db"))
    with pytest.raises(ServiceUnavailableError):
        kit.guard.authenticate(bearer(token_format.generate_token()))


def test_F01_postgresql_on_a_closed_port_is_503(make_kit: Callable[..., Any]) -> None:
    from bearerguard.stores import SQLTokenStore

    store = SQLTokenStore("postgresql://postgres@127.0.0.1:1/test", connect_timeout=2)
    kit = make_kit(store)
    with pytest.raises(ServiceUnavailableError):
        kit.guard.authenticate(bearer(token_format.generate_token()))
    store.close()


def test_C08_the_store_only_ever_sees_digests(kit: Any) -> None:
    issued = kit.issue()
    kit.guard.authenticate(bearer(issued.token))
    kit.manager.rotate(issued.record.id)
    kit.manager.revoke(issued.record.id)
    refusal(kit.guard, token_format.generate_token())
    kit.manager.flush()
    seen = repr(kit.store.calls)
    assert issued.token not in seen
    assert issued.token[8:-6] not in seen
    digest = hashlib.sha256(issued.token.encode()).digest()
    assert ("find_by_hash", (digest,)) in [(name, args) for name, args, _ in kit.store.calls]


def test_C08_a_dump_of_the_store_cannot_authenticate(kit: Any) -> None:
    issued = kit.issue()
    stored = issued.record.token_hash
    for candidate in (stored.hex(), "bg_live_" + stored.hex()[:36]):
        refusal(kit.guard, candidate)


def test_C10_unknown_malformed_and_typo_tokens_render_identically(kit: Any) -> None:
    real = kit.issue().token
    typo = real[:10] + ("x" if real[10] != "x" else "y") + real[11:]
    rendered = set()
    for candidate in (token_format.generate_token(), typo, real[:-1], "bg_live_nope"):
        status, headers, body = kit.guard.render(refusal(kit.guard, candidate))
        rendered.add((status, tuple(headers), body))
    assert len(rendered) == 1


def test_C07_empty_scopes_in_the_store_are_403_on_every_scoped_route(
    make_kit: Callable[..., Any],
) -> None:
    kit = make_kit(guard_kwargs={"rules": [Rule("*", "/api/{rest:path}", scopes=["payments.get"])]})
    issued = kit.issue()
    kit.store.inner._rows[issued.record.id]["scopes"] = "[]"
    with pytest.raises(InsufficientScopeError):
        kit.guard.check("GET", "/api/payment/1", bearer(issued.token))
    assert kit.guard.authenticate(bearer(issued.token)).scopes == frozenset()


def test_F04_a_bad_client_token_on_a_public_path_is_401_not_anonymous(
    make_kit: Callable[..., Any],
) -> None:
    kit = make_kit(guard_kwargs={"default": "public"})
    assert kit.guard.check("GET", "/anything", None) is None
    for token in (token_format.generate_token(), "bg_live_x"):
        with pytest.raises(UnauthenticatedError):
            kit.guard.check("GET", "/anything", bearer(token))


def test_C11_a_prefixed_string_belongs_to_the_client_verifier_alone(
    make_kit: Callable[..., Any],
) -> None:
    asked: list[str] = []

    class Spy:
        kind = "oauth"

        def accepts(self, token: str) -> bool:
            asked.append(token)
            return True

        def verify(self, token: str) -> Principal:
            return Principal(kind="oauth", subject="spy")

    manager = TokenManager(MemoryTokenStore())
    guard = Guard([ClientTokenVerifier(manager), Spy()])
    for ambiguous in ("bg_live_eyJhbGciOiJIUzI1NiJ9.e30.sig", "bg_live_a.b.c"):
        with pytest.raises(UnauthenticatedError):
            guard.authenticate(bearer(ambiguous))
    assert asked == []
    jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiZ19saXZlXyJ9.sig"
    assert guard.authenticate(bearer(jwt_like)).kind == "oauth"
    assert asked == [jwt_like]
    manager.close()


def test_plaintext_never_reaches_logs_or_exceptions(
    make_kit: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    kit = make_kit()
    issued = kit.issue(expires_in=timedelta(seconds=5))
    texts: list[str] = []
    kit.guard.authenticate(bearer(issued.token))
    rotated = kit.manager.rotate(issued.record.id, grace=timedelta(0))
    for candidate in (issued.token, issued.token[:-1], token_format.generate_token()):
        texts.append(repr(refusal(kit.guard, candidate)))
    kit.store.failing = StoreError("down")
    with pytest.raises(ServiceUnavailableError) as caught:
        kit.guard.authenticate(bearer(rotated.token))
    texts.append(repr(caught.value))
    kit.store.failing = None
    kit.store.inner._rows[rotated.record.id]["scopes"] = "garbage"
    texts.append(repr(refusal(kit.guard, rotated.token)))
    everything = caplog.text + "".join(texts) + repr(kit.manager) + repr(kit.guard)
    for token in (issued.token, rotated.token):
        assert token not in everything
        assert token[8:-6] not in everything
    assert issued.record.id in caplog.text  # the public id is what gets logged


def test_asgi_calls_the_store_from_a_worker_thread_never_the_event_loop(kit: Any) -> None:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from bearerguard.starlette import BearerGuardMiddleware

    loop_threads: set[int] = set()

    async def whoami(request: Request) -> JSONResponse:
        loop_threads.add(threading.get_ident())
        principal = request.scope["bearerguard.principal"]
        return JSONResponse({"client_id": principal.client_id, "kind": principal.kind})

    app = Starlette(routes=[Route("/whoami", whoami)])
    app.add_middleware(BearerGuardMiddleware, guard=kit.guard)
    issued = kit.issue()
    with TestClient(app) as client:
        for _ in range(3):
            answer = client.get("/whoami", headers={"Authorization": bearer(issued.token)})
            assert answer.status_code == 200
            assert answer.json() == {"client_id": "A" * 32, "kind": "client"}
        denied = client.get("/whoami", headers={"Authorization": bearer(issued.token[:-1])})
        assert denied.status_code == 401
    assert len(loop_threads) == 1
    store_threads = kit.store.threads("find_by_hash")
    assert kit.store.count("find_by_hash") == 1  # the two later requests were cache hits
    assert store_threads
    assert not store_threads & loop_threads
