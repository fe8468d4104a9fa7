"""The verification cache through the Guard (security cases X-01..X-07, F-06, L-03).

Time is injected (``Guard(timer=, clock=)``); the only real waits are the short gates
that hold a verifier while concurrent callers pile onto its flight.
"""

from __future__ import annotations

import hashlib
import os
import random
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from types import FrameType
from typing import Any

import anyio
import pytest

import bearerguard.guard
from bearerguard import Guard, Principal, Rule
from bearerguard.cache import VerificationCache, token_key
from bearerguard.exceptions import (
    AuthError,
    InsufficientScopeError,
    ServiceUnavailableError,
    UnauthenticatedError,
)

PATH = "/api/payment/p1"
RULES = [
    Rule("GET", "/api/payment/{payment_id}", scopes=["payments.get"]),
    Rule("POST", "/api/payment/checkout", scopes=["payments.create"]),
]


def _guard(verifier: Any, clock: Any, **options: Any) -> Guard:
    options.setdefault("rules", RULES)
    return Guard([verifier], timer=clock, clock=clock, **options)


def _check(guard: Guard, token: str, method: str = "GET", path: str = PATH) -> Any:
    try:
        return guard.check(method, path, f"Bearer {token}")
    except AuthError as error:
        return error


def _principal(subject: str = "user-42", **extra: Any) -> Principal:
    return Principal(kind="test", subject=subject, scopes=frozenset({"payments.get"}), **extra)


# -- hits, TTL and expiry -----------------------------------------------------------------


def test_hit_does_not_call_the_verifier(fake_time: Any, scripted: Any) -> None:
    principal = _principal()
    verifier = scripted({"t_a": principal})
    guard = _guard(verifier, fake_time)
    for _ in range(5):
        assert guard.check("GET", PATH, "Bearer t_a") is principal
        assert guard.authenticate("Bearer t_a") is principal
    assert verifier.calls == ["t_a"]


@pytest.mark.anyio
async def test_hit_does_not_call_the_verifier_async(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_a": _principal()})
    guard = _guard(verifier, fake_time)
    for _ in range(5):
        await guard.acheck("GET", PATH, "Bearer t_a")
        await guard.aauthenticate("Bearer t_a")
    # A sync check shares the cache with the async driver.
    guard.check("GET", PATH, "Bearer t_a")
    assert verifier.calls == ["t_a"]


def test_entry_lives_at_most_cache_ttl(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_a": _principal()})
    guard = _guard(verifier, fake_time, cache_ttl=60.0)
    guard.check("GET", PATH, "Bearer t_a")
    fake_time.advance(59.9)
    guard.check("GET", PATH, "Bearer t_a")
    assert len(verifier.calls) == 1
    fake_time.advance(0.1)
    guard.check("GET", PATH, "Bearer t_a")
    assert len(verifier.calls) == 2


def test_X02_entry_never_outlives_the_token(fake_time: Any, scripted: Any) -> None:
    # TTL 300 s, token expires in 30 s: refused at 31 s although the TTL is far off.
    principal = _principal(expires_at=fake_time.at(30))
    verifier = scripted({"t_a": principal})
    guard = _guard(verifier, fake_time, cache_ttl=300.0)
    assert guard.check("GET", PATH, "Bearer t_a") is principal
    fake_time.advance(29)
    assert guard.check("GET", PATH, "Bearer t_a") is principal
    assert len(verifier.calls) == 1
    fake_time.advance(2)
    outcome = _check(guard, "t_a")
    assert isinstance(outcome, UnauthenticatedError)
    assert outcome.error_code == "invalid_token"
    assert outcome.description == "The access token expired"


@pytest.mark.anyio
async def test_X02_entry_never_outlives_the_token_async(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_a": _principal(expires_at=fake_time.at(30))})
    guard = _guard(verifier, fake_time, cache_ttl=300.0)
    await guard.acheck("GET", PATH, "Bearer t_a")
    fake_time.advance(31)
    with pytest.raises(UnauthenticatedError, match="expired"):
        await guard.acheck("GET", PATH, "Bearer t_a")
    with pytest.raises(UnauthenticatedError, match="expired"):
        await guard.aauthenticate("Bearer t_a")


def test_X02_expiry_is_exclusive(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_a": _principal(expires_at=fake_time.at(30))})
    guard = _guard(verifier, fake_time)
    guard.check("GET", PATH, "Bearer t_a")
    fake_time.advance(30)
    assert isinstance(_check(guard, "t_a"), UnauthenticatedError)


def test_X02_already_expired_principal_is_refused_and_remembered(
    fake_time: Any, scripted: Any
) -> None:
    verifier = scripted({"t_a": _principal(expires_at=fake_time.at(-1))})
    guard = _guard(verifier, fake_time, negative_cache_ttl=5.0)
    for _ in range(3):
        outcome = _check(guard, "t_a")
        assert isinstance(outcome, UnauthenticatedError)
        assert outcome.description == "The access token expired"
    assert len(verifier.calls) == 1


def test_F06_token_expiry_follows_the_wall_clock_and_ttl_the_monotonic_timer(
    scripted: Any,
) -> None:
    timer = _Settable(100.0)
    clock = _Settable(1_700_000_000.0)
    principal = _principal(expires_at=datetime.fromtimestamp(clock.now + 30, tz=timezone.utc))
    verifier = scripted({"t_a": principal})
    guard = Guard([verifier], rules=RULES, timer=timer, clock=clock, cache_ttl=60.0)
    guard.check("GET", PATH, "Bearer t_a")
    # The monotonic timer jumping does not expire the token, only the entry.
    timer.now += 61
    assert guard.check("GET", PATH, "Bearer t_a") is principal
    assert len(verifier.calls) == 2
    # The wall clock passing exp refuses the token although the entry is fresh.
    clock.now += 31
    assert isinstance(_check(guard, "t_a"), UnauthenticatedError)


class _Settable:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_principal_without_expiry_lives_cache_ttl(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_a": _principal()})
    guard = _guard(verifier, fake_time, cache_ttl=10.0)
    guard.check("GET", PATH, "Bearer t_a")
    fake_time.advance(9)
    guard.check("GET", PATH, "Bearer t_a")
    fake_time.advance(2)
    guard.check("GET", PATH, "Bearer t_a")
    assert len(verifier.calls) == 2


def test_cache_ttl_zero_disables_caching(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_a": _principal()})
    guard = _guard(verifier, fake_time, cache_ttl=0)
    for _ in range(3):
        guard.check("GET", PATH, "Bearer t_a")
    assert len(verifier.calls) == 3


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({"cache_ttl": -1}, id="negative-ttl"),
        pytest.param({"negative_cache_ttl": -1}, id="negative-negative-ttl"),
        pytest.param({"cache_maxsize": -1}, id="negative-size"),
    ],
)
def test_negative_cache_settings_are_refused(
    fake_time: Any, scripted: Any, options: dict[str, float]
) -> None:
    with pytest.raises(ValueError, match="negative"):
        _guard(scripted(), fake_time, **options)


# -- X-03 negative caching -------------------------------------------------------------------


def test_X03_refusal_is_remembered_then_asked_again(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_bad": UnauthenticatedError("Token revoked")})
    guard = _guard(verifier, fake_time, negative_cache_ttl=5.0)
    for _ in range(10):
        outcome = _check(guard, "t_bad")
        assert isinstance(outcome, UnauthenticatedError)
        assert outcome.description == "Token revoked"
    assert len(verifier.calls) == 1
    fake_time.advance(4.9)
    assert isinstance(_check(guard, "t_bad"), UnauthenticatedError)
    assert len(verifier.calls) == 1
    fake_time.advance(0.1)
    verifier.outcomes["t_bad"] = _principal("now-valid")
    assert _check(guard, "t_bad").subject == "now-valid"
    assert len(verifier.calls) == 2


@pytest.mark.anyio
async def test_X03_refusal_is_remembered_async(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_bad": UnauthenticatedError("Token revoked")})
    guard = _guard(verifier, fake_time, negative_cache_ttl=5.0)
    for _ in range(3):
        with pytest.raises(UnauthenticatedError, match="Token revoked"):
            await guard.acheck("GET", PATH, "Bearer t_bad")
        with pytest.raises(UnauthenticatedError, match="Token revoked"):
            await guard.aauthenticate("Bearer t_bad")
    assert len(verifier.calls) == 1


def test_X03_negative_cache_ttl_zero_asks_every_time(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_bad": UnauthenticatedError()})
    guard = _guard(verifier, fake_time, negative_cache_ttl=0)
    for _ in range(3):
        _check(guard, "t_bad")
    assert len(verifier.calls) == 3


def test_X03_outages_are_never_cached(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_a": ServiceUnavailableError()})
    guard = _guard(verifier, fake_time)
    for _ in range(3):
        assert isinstance(_check(guard, "t_a"), ServiceUnavailableError)
    verifier.outcomes["t_a"] = _principal()
    assert _check(guard, "t_a").subject == "user-42"
    assert len(verifier.calls) == 4


def test_a_later_success_replaces_a_refusal(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_a": UnauthenticatedError()})
    guard = _guard(verifier, fake_time, negative_cache_ttl=5.0)
    _check(guard, "t_a")
    fake_time.advance(5)
    verifier.outcomes["t_a"] = _principal()
    _check(guard, "t_a")
    fake_time.advance(1)
    assert _check(guard, "t_a").subject == "user-42"
    assert len(verifier.calls) == 2


# -- invalidation -------------------------------------------------------------------------------


def test_invalidate_forgets_one_token(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_a": _principal("a"), "t_b": _principal("b")})
    guard = _guard(verifier, fake_time)
    _check(guard, "t_a")
    _check(guard, "t_b")
    guard.invalidate("t_a")
    _check(guard, "t_a")
    _check(guard, "t_b")
    assert verifier.calls == ["t_a", "t_b", "t_a"]


def test_invalidate_key_takes_the_sha256_digest(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_a": _principal()})
    guard = _guard(verifier, fake_time)
    _check(guard, "t_a")
    guard.invalidate_key(hashlib.sha256(b"t_a").digest())
    _check(guard, "t_a")
    assert len(verifier.calls) == 2


def test_invalidate_forgets_a_refusal_too(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_a": UnauthenticatedError()})
    guard = _guard(verifier, fake_time, negative_cache_ttl=60.0)
    _check(guard, "t_a")
    verifier.outcomes["t_a"] = _principal()
    guard.invalidate("t_a")
    assert _check(guard, "t_a").subject == "user-42"


def test_clear_cache_forgets_everything(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_a": _principal(), "t_bad": UnauthenticatedError()})
    guard = _guard(verifier, fake_time)
    _check(guard, "t_a")
    _check(guard, "t_bad")
    guard.clear_cache()
    _check(guard, "t_a")
    _check(guard, "t_bad")
    assert verifier.calls == ["t_a", "t_bad", "t_a", "t_bad"]


def test_invalidating_an_unknown_token_is_harmless(fake_time: Any, scripted: Any) -> None:
    guard = _guard(scripted(), fake_time)
    guard.invalidate("t_never_seen")
    guard.invalidate_key(b"\x00" * 32)
    guard.clear_cache()


# -- X-01 keys, X-04 bounds, X-05 policies -------------------------------------------------


def test_X01_keys_are_sha256_digests_never_tokens(fake_time: Any, scripted: Any) -> None:
    good, bad = "t_good_secret_value", "t_bad_secret_value"
    verifier = scripted({good: _principal(), bad: UnauthenticatedError()})
    guard = _guard(verifier, fake_time)
    _check(guard, good)
    _check(guard, bad)
    assert token_key(good) == hashlib.sha256(good.encode()).digest()
    # Forgetting by digest forgets both outcomes: they were kept under these keys.
    guard.invalidate_key(hashlib.sha256(good.encode()).digest())
    guard.invalidate_key(hashlib.sha256(bad.encode()).digest())
    _check(guard, good)
    _check(guard, bad)
    assert verifier.calls == [good, bad, good, bad]
    assert "secret_value" not in repr(guard)


def test_X04_positive_cache_is_bounded(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({f"t_{index}": _principal(f"s{index}") for index in range(100)})
    guard = _guard(verifier, fake_time, cache_maxsize=8)
    for index in range(100):
        assert _check(guard, f"t_{index}").subject == f"s{index}"
    # The most recent entries are the ones kept, the oldest evicted.
    _check(guard, "t_99")
    assert len(verifier.calls) == 100
    _check(guard, "t_0")
    assert len(verifier.calls) == 101


def test_X04_a_flood_of_bad_tokens_does_not_evict_good_ones(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_good": _principal()})
    guard = _guard(verifier, fake_time, cache_maxsize=10_000)
    _check(guard, "t_good")
    for index in range(1_500):
        assert isinstance(_check(guard, f"t_spray_{index}"), UnauthenticatedError)
    calls = len(verifier.calls)
    assert _check(guard, "t_good").subject == "user-42"
    assert len(verifier.calls) == calls


def test_X05_cached_principal_still_gets_403_on_another_route(
    fake_time: Any, scripted: Any
) -> None:
    verifier = scripted({"t_a": _principal()})
    guard = _guard(verifier, fake_time)
    assert _check(guard, "t_a", "GET", PATH).subject == "user-42"
    outcome = _check(guard, "t_a", "POST", "/api/payment/checkout")
    assert isinstance(outcome, InsufficientScopeError)
    assert outcome.required_scopes == ("payments.create",)
    assert _check(guard, "t_a", "GET", PATH).subject == "user-42"
    assert len(verifier.calls) == 1


@pytest.mark.anyio
async def test_X05_cached_principal_still_gets_403_async(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_a": _principal()})
    guard = _guard(verifier, fake_time)
    await guard.acheck("GET", PATH, "Bearer t_a")
    with pytest.raises(InsufficientScopeError):
        await guard.acheck("POST", "/api/payment/checkout", "Bearer t_a")


# -- record_use hook --------------------------------------------------------------------------


def test_record_use_is_called_on_every_use(fake_time: Any, scripted: Any) -> None:
    verifier = scripted({"t_a": _principal()})
    used: list[str] = []
    verifier.record_use = lambda principal: used.append(principal.subject)
    guard = _guard(verifier, fake_time)
    for _ in range(3):
        _check(guard, "t_a")
    assert used == ["user-42"] * 3
    assert len(verifier.calls) == 1


def test_record_use_failing_does_not_escape(
    fake_time: Any, scripted: Any, caplog: pytest.LogCaptureFixture
) -> None:
    verifier = scripted({"t_a": _principal()})

    def broken(principal: Principal) -> None:
        raise RuntimeError("store down")

    verifier.record_use = broken
    guard = _guard(verifier, fake_time)
    for _ in range(2):
        assert _check(guard, "t_a").subject == "user-42"
    assert "record_use" in caplog.text


# -- races inside the cache and the flight ----------------------------------------------------


class _Ticking:
    """A timer that moves on by ``step`` every time it is read."""

    def __init__(self, now: float, step: float) -> None:
        self.now = now
        self.step = step

    def __call__(self) -> float:
        now = self.now
        self.now += self.step
        return now


def test_expired_token_hit_just_as_the_ttl_runs_out_is_a_miss() -> None:
    # The TTL check on read and the removal of a token that expired read the timer
    # separately; the entry's TTL running out between the two must not raise.
    timer = _Ticking(0.0, 0.0)
    wall = _Settable(1_700_000_000.0)
    cache = VerificationCache(
        ttl=10.0, maxsize=10, negative_ttl=5.0, negative_maxsize=10, timer=timer, clock=wall
    )
    key = token_key("t_a")
    expires = datetime.fromtimestamp(wall.now + 1, tz=timezone.utc)
    cache.put(key, _principal(expires_at=expires))
    wall.now += 2
    timer.now, timer.step = 9.75, 0.5
    assert cache.get(key) is None


# -- single flight: threads ----------------------------------------------------------------------


class _Gated:
    """A verifier that holds every call until ``gate`` opens, then gives ``outcome``."""

    kind = "gated"

    def __init__(self, outcome: Principal | BaseException) -> None:
        self.outcome = outcome
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls = 0
        self.lock = threading.Lock()

    def accepts(self, token: str) -> bool:
        return True

    def verify(self, token: str) -> Principal:
        with self.lock:
            self.calls += 1
        self.entered.set()
        assert self.gate.wait(10), "gate never opened"
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


class _AsyncGated:
    kind = "agated"

    def __init__(self, outcome: Principal | BaseException) -> None:
        self.outcome = outcome
        self.gate = anyio.Event()
        self.calls = 0

    def accepts(self, token: str) -> bool:
        return True

    def verify(self, token: str) -> Principal:  # pragma: no cover - averify is used
        raise AssertionError("verify called under acheck although averify exists")

    async def averify(self, token: str) -> Principal:
        self.calls += 1
        await self.gate.wait()
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


def _waiting_inside_the_guard(frame: FrameType | None) -> bool:
    """True for a stack blocked in a threading wait called from within the guard.

    That is the leader (held by the verifier's gate) or a follower (waiting for the
    flight); a thread still leaving the start barrier is not.
    """
    waiting = inside = False
    while frame is not None:
        code = frame.f_code
        if code.co_name == "wait" and code.co_filename == threading.__file__:
            waiting = True
        elif code.co_filename.startswith(os.path.dirname(bearerguard.__file__)):
            inside = True
        frame = frame.f_back
    return waiting and inside


def _wait_until_all_wait(threads: list[threading.Thread]) -> None:
    """Poll until every live thread blocks on the gate or on the flight."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        frames = sys._current_frames()
        if all(
            not thread.is_alive() or _waiting_inside_the_guard(frames.get(thread.ident or 0))
            for thread in threads
        ):
            return
        time.sleep(0.001)
    raise AssertionError("the threads never all reached the flight")


def _run_threads(guard: Guard, verifier: _Gated, count: int = 20) -> list[Any]:
    results: list[Any] = [None] * count
    started = threading.Barrier(count + 1)

    def worker(index: int) -> None:
        started.wait()
        results[index] = _check(guard, "t_new")

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    started.wait()
    assert verifier.entered.wait(10)
    _wait_until_all_wait(threads)
    verifier.gate.set()
    for thread in threads:
        thread.join(10)
    return results


def test_L03_single_flight_threads(fake_time: Any) -> None:
    principal = _principal()
    verifier = _Gated(principal)
    guard = _guard(verifier, fake_time)
    results = _run_threads(guard, verifier)
    assert verifier.calls == 1
    assert all(result is principal for result in results)


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        pytest.param(UnauthenticatedError("Token revoked"), UnauthenticatedError, id="refused"),
        pytest.param(ServiceUnavailableError(), ServiceUnavailableError, id="unavailable"),
        pytest.param(RuntimeError("boom"), ServiceUnavailableError, id="crashed"),
    ],
)
def test_single_flight_threads_share_the_refusal(
    fake_time: Any, failure: BaseException, expected: type[AuthError]
) -> None:
    verifier = _Gated(failure)
    guard = _guard(verifier, fake_time)
    results = _run_threads(guard, verifier)
    assert verifier.calls == 1
    assert all(type(result) is expected for result in results)
    if expected is UnauthenticatedError:
        assert {result.description for result in results} == {"Token revoked"}


# -- single flight: asyncio ---------------------------------------------------------------------


async def _run_tasks(guard: Guard, release: Callable[[], None], count: int = 20) -> list[Any]:
    results: list[Any] = [None] * count

    async def one(index: int) -> None:
        try:
            results[index] = await guard.acheck("GET", PATH, "Bearer t_new")
        except AuthError as error:
            results[index] = error

    async with anyio.create_task_group() as group:
        for index in range(count):
            group.start_soon(one, index)
        # Every task is now either the leader awaiting the verifier or a waiter.
        await anyio.wait_all_tasks_blocked()
        release()
    return results


@pytest.mark.anyio
async def test_L03_single_flight_tasks_sync_verifier(fake_time: Any) -> None:
    principal = _principal()
    verifier = _Gated(principal)
    guard = _guard(verifier, fake_time)
    results = await _run_tasks(guard, verifier.gate.set)
    assert verifier.calls == 1
    assert all(result is principal for result in results)


@pytest.mark.anyio
async def test_L03_single_flight_tasks_averify(fake_time: Any) -> None:
    principal = _principal()
    verifier = _AsyncGated(principal)
    guard = _guard(verifier, fake_time)
    results = await _run_tasks(guard, verifier.gate.set)
    assert verifier.calls == 1
    assert all(result is principal for result in results)


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["sync", "async"])
@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        pytest.param(UnauthenticatedError("Token revoked"), UnauthenticatedError, id="refused"),
        pytest.param(ServiceUnavailableError(), ServiceUnavailableError, id="unavailable"),
        pytest.param(KeyError("boom"), ServiceUnavailableError, id="crashed"),
    ],
)
async def test_single_flight_tasks_share_the_refusal(
    fake_time: Any, kind: str, failure: BaseException, expected: type[AuthError]
) -> None:
    verifier: _Gated | _AsyncGated = _Gated(failure) if kind == "sync" else _AsyncGated(failure)
    guard = _guard(verifier, fake_time)
    results = await _run_tasks(guard, verifier.gate.set)
    assert verifier.calls == 1
    assert all(type(result) is expected for result in results)


@pytest.mark.anyio
async def test_A08_a_cancelled_leader_hands_its_flight_to_a_waiter(fake_time: Any) -> None:
    verifier = _AsyncGated(_principal())
    guard = _guard(verifier, fake_time)
    results: list[Any] = []

    async def waiter() -> None:
        try:
            results.append(await guard.acheck("GET", PATH, "Bearer t_new"))
        except AuthError as error:
            results.append(error)

    async with anyio.create_task_group() as outer:
        async with anyio.create_task_group() as leader_group:
            leader_group.start_soon(guard.acheck, "GET", PATH, "Bearer t_new")
            await anyio.wait_all_tasks_blocked()
            outer.start_soon(waiter)
            await anyio.wait_all_tasks_blocked()
            leader_group.cancel_scope.cancel()
        # The waiter takes the flight over instead of failing (it verifies itself).
        await anyio.wait_all_tasks_blocked()
        assert verifier.calls == 2
        verifier.gate.set()
    assert len(results) == 1
    assert isinstance(results[0], Principal)
    assert results[0].subject == "user-42"
    # The next caller is a cache hit.
    assert (await guard.acheck("GET", PATH, "Bearer t_new")).subject == "user-42"


# -- X-07 thread-safety stress ---------------------------------------------------------------


def test_X07_threads_hammering_tokens_with_expiries_around_now(scripted: Any) -> None:
    now = time.time()
    tokens: dict[str, Principal] = {}
    for index in range(50):
        # Expired, expiring during the run, and long-lived tokens, mixed.
        offset = (-1.0, 0.2, 0.5, 1.0, 3600.0)[index % 5]
        tokens[f"t_{index}"] = Principal(
            kind="test",
            subject=f"s{index}",
            scopes=frozenset({"payments.get"}),
            expires_at=datetime.fromtimestamp(now + offset, tz=timezone.utc) if index % 7 else None,
        )
    verifier = scripted(tokens)
    guard = Guard(
        [verifier], rules=RULES, cache_ttl=0.05, cache_maxsize=16, negative_cache_ttl=0.01
    )
    errors: list[BaseException] = []
    wrong: list[tuple[str, str]] = []

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(2_000):
                index = rng.randrange(50)
                token = f"t_{index}"
                try:
                    principal = guard.check("GET", PATH, f"Bearer {token}")
                except UnauthenticatedError:
                    expires_at = tokens[token].expires_at
                    if expires_at is None or expires_at > datetime.now(timezone.utc) + timedelta(
                        seconds=1
                    ):
                        wrong.append((token, "refused while valid"))
                    continue
                if principal is None or principal.subject != f"s{index}":
                    wrong.append((token, repr(principal)))
        except BaseException as exc:  # anything escaping is the failure under test
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert wrong == []
