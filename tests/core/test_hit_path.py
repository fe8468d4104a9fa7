"""The cache-hit path answers exactly as the full path does.

A cached token skips the ``Authorization`` regex and reads the cache's lock-free
mirrors; these tests hold it to the full path's answers for every spelling of the
header, for cached refusals, and for the mirrors' bookkeeping (security cases H-xx for
the header spellings, X-01/X-04/X-06 for the cache).
"""

from __future__ import annotations

from typing import Any

import pytest

from bearerguard import Guard, Principal, Rule, StaticTokenVerifier
from bearerguard.cache import VerificationCache, token_key
from bearerguard.exceptions import AuthError

PATH = "/api/payment/p1"
RULES = [Rule("GET", "/api/payment/{payment_id}", scopes=["payments.get"])]
GOOD = "tok_good_0123456789"
LACKING = "tok_lacking_0123456789"


class _Refusing:
    """A verifier that owns ``tok_bad_*`` tokens and refuses them (so they are cached)."""

    kind = "refusing"

    def accepts(self, token: str) -> bool:
        return token.startswith("tok_bad_")

    def verify(self, token: str) -> Principal:
        from bearerguard.exceptions import UnauthenticatedError

        raise UnauthenticatedError("The access token was revoked")


class _Counting:
    """Owns ``tok_`` tokens, grants GOOD ``payments.get``, and counts its calls."""

    kind = "counting"

    def __init__(self) -> None:
        self.calls = 0

    def accepts(self, token: str) -> bool:
        return token.startswith("tok_")

    def verify(self, token: str) -> Principal:
        self.calls += 1
        return Principal(kind="counting", subject="user", scopes=frozenset({"payments.get"}))


def _guard() -> Guard:
    return Guard(
        [
            StaticTokenVerifier({GOOD: ["payments.get"], LACKING: ["payments.create"]}),
            _Refusing(),
        ],
        rules=RULES,
        public_paths=["/health"],
    )


def _answer(guard: Guard, path: str, authorization: str | None) -> Any:
    try:
        principal = guard.check("GET", path, authorization)
    except AuthError as error:
        return (type(error).__name__, error.status_code, error.description)
    return None if principal is None else principal.subject


HEADERS = [
    pytest.param(f"Bearer {GOOD}", id="canonical"),
    pytest.param(f"bearer {GOOD}", id="lower-case-scheme"),
    pytest.param(f"BEARER {GOOD}", id="upper-case-scheme"),
    pytest.param(f"Bearer  {GOOD}", id="H05-two-spaces"),
    pytest.param(f" Bearer {GOOD}", id="leading-space"),
    pytest.param(f"Bearer {GOOD} ", id="trailing-space"),
    pytest.param(f"Bearer {GOOD}\t", id="trailing-tab"),
    pytest.param(f"Bearer \t{GOOD}", id="tab-before-token"),
    pytest.param(f"Bearer {GOOD}\n", id="trailing-newline"),
    pytest.param(f"Bearer {GOOD}\r\nX-Injected: 1", id="H-crlf-after-token"),
    pytest.param(f"Bearer {GOOD},", id="joined-headers-comma"),
    pytest.param(f"Bearer {GOOD}=", id="padding-makes-another-token"),
    pytest.param(f"Bearer {GOOD}é", id="non-ascii-tail"),
    pytest.param(f"Bearer {GOOD}\ud800", id="lone-surrogate"),
    pytest.param(f"Bearer {LACKING}", id="cached-but-lacking-scope"),
    pytest.param("Bearer tok_bad_1", id="cached-refusal"),
    pytest.param("Bearer tok_bad_1 ", id="cached-refusal-trailing-space"),
    pytest.param(f"Basic {GOOD}", id="other-scheme"),
    pytest.param("Bearer", id="H01-scheme-alone"),
    pytest.param("Bearer ", id="scheme-and-space"),
    pytest.param(None, id="no-header"),
]


@pytest.mark.parametrize("path", [PATH, "/health", "/elsewhere"])
@pytest.mark.parametrize("authorization", HEADERS)
def test_a_warm_cache_answers_as_a_cold_one(path: str, authorization: str | None) -> None:
    cold = _guard()
    warm = _guard()
    # Warm every token the spellings refer to, through the canonical header.
    for token in (GOOD, LACKING, "tok_bad_1"):
        _answer(warm, PATH, f"Bearer {token}")
    assert _answer(warm, path, authorization) == _answer(cold, path, authorization)
    # And the warm guard keeps answering the same on a second look.
    assert _answer(warm, path, authorization) == _answer(cold, path, authorization)


RAW_HEADERS = [
    pytest.param(f"Bearer {GOOD}".encode(), id="canonical"),
    pytest.param(f"bearer {GOOD}".encode(), id="lower-case-scheme"),
    pytest.param(f"BEARER {GOOD}".encode(), id="upper-case-scheme"),
    pytest.param(f"Bearer  {GOOD}".encode(), id="two-spaces"),
    pytest.param(f"Bearer {GOOD} ".encode(), id="trailing-space"),
    pytest.param(f"Bearer {GOOD}\n".encode(), id="trailing-newline"),
    pytest.param(f"Bearer {GOOD}\x00".encode(), id="trailing-nul"),
    pytest.param(f"Bearer {GOOD}".encode() + b"\xff", id="latin1-tail"),
    pytest.param(f"Bearer {GOOD}é".encode(), id="utf8-tail"),
    pytest.param(b"\xffBearer " + GOOD.encode(), id="byte-before-scheme"),
    pytest.param(f"Bearer {LACKING}".encode(), id="cached-but-lacking-scope"),
    pytest.param(b"Bearer tok_bad_1", id="cached-refusal"),
    pytest.param(b"Bearer ", id="scheme-and-space"),
    pytest.param(b"", id="empty"),
]


@pytest.mark.parametrize("path", [PATH, "/health", "/elsewhere"])
@pytest.mark.parametrize("raw", RAW_HEADERS)
def test_the_raw_bytes_hit_path_answers_as_the_full_path(path: str, raw: bytes) -> None:
    """ASGI hands the header over as bytes: hashed as they are, never decoded on a hit."""
    cold = _guard()
    warm = _guard()
    for token in (GOOD, LACKING, "tok_bad_1"):
        _answer(warm, PATH, f"Bearer {token}")
    assert _answer(warm, path, raw.decode("latin-1")) == _answer(cold, path, raw.decode("latin-1"))


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(f"Bearer {GOOD}", id="canonical"),
        pytest.param(f"bearer {GOOD}", id="lower-case-scheme"),
        pytest.param(f"Bearer  {GOOD}", id="two-spaces"),
        pytest.param(f"Bearer {GOOD} ", id="trailing-space"),
        pytest.param(f"Bearer {GOOD}\t", id="trailing-tab"),
        pytest.param(f"BEARER {GOOD}", id="upper-case-scheme"),
    ],
)
@pytest.mark.parametrize("asynchronous", [False, True], ids=["check", "acheck"])
def test_a_miss_caches_the_token_under_its_own_key_whatever_the_spelling(
    authorization: str, asynchronous: bool
) -> None:
    """The hit path's key is reused on a miss only when it is the token's own key."""
    import asyncio

    verifier = _Counting()
    guard = Guard([verifier], rules=RULES)
    if asynchronous:
        principal = asyncio.run(guard.acheck("GET", PATH, authorization))
    else:
        principal = guard.check("GET", PATH, authorization)
    assert principal is not None
    assert principal.scopes == {"payments.get"}
    # Cached under the token's own key: the canonical spelling is now a hit, and
    # invalidating the token by its text forgets it.
    assert guard.check("GET", PATH, f"Bearer {GOOD}") == principal
    assert verifier.calls == 1
    guard.invalidate(GOOD)
    guard.check("GET", PATH, f"Bearer {GOOD}")
    assert verifier.calls == 2


class _Table:
    """A verifier over a mutable table, so a token can be revoked between requests."""

    kind = "table"

    def __init__(self) -> None:
        self.table = {GOOD: _entry("user-good")}

    def accepts(self, token: str) -> bool:
        return token.startswith("tok_")

    def verify(self, token: str) -> Principal:
        from bearerguard.exceptions import UnauthenticatedError

        if token not in self.table:
            raise UnauthenticatedError()
        return self.table[token]


def test_X06_invalidate_takes_effect_on_the_hit_path_at_once() -> None:
    verifier = _Table()
    guard = Guard([verifier], rules=RULES)
    assert _answer(guard, PATH, f"Bearer {GOOD}") == "user-good"
    del verifier.table[GOOD]
    assert _answer(guard, PATH, f"Bearer {GOOD}") == "user-good"  # still cached
    guard.invalidate(GOOD)
    assert _answer(guard, PATH, f"Bearer {GOOD}")[:2] == ("UnauthenticatedError", 401)
    verifier.table[GOOD] = _entry("user-back")
    assert _answer(guard, PATH, f"Bearer {GOOD}")[:2] == ("UnauthenticatedError", 401)  # refusal
    guard.clear_cache()
    assert _answer(guard, PATH, f"Bearer {GOOD}") == "user-back"


INF = float("inf")


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _entry(subject: str) -> Principal:
    return Principal(kind="test", subject=subject, scopes=frozenset({"payments.get"}))


def test_X04_both_caches_are_bounded_and_evict_the_oldest() -> None:
    clock = _Clock()
    cache = VerificationCache(
        ttl=60.0, maxsize=4, negative_ttl=5.0, negative_maxsize=3, timer=clock, clock=clock
    )
    for index in range(50):
        cache.put(token_key(f"good-{index}"), _entry(f"user-{index}"), INF)
        cache.put_refusal(token_key(f"bad-{index}"), "refused")
    assert len(cache) == 4
    assert sum(cache.get(token_key(f"bad-{index}")) == "refused" for index in range(50)) == 3
    # The newest entries survive; the evicted ones are misses in both views.
    assert cache.get(token_key("good-49")) == _entry("user-49")
    assert cache.get(token_key("good-0")) is None
    assert cache.get(token_key("bad-49")) == "refused"
    assert cache.get(token_key("bad-0")) is None


def test_X01_entries_expire_with_their_ttl() -> None:
    clock = _Clock()
    cache = VerificationCache(
        ttl=10.0, maxsize=10, negative_ttl=5.0, negative_maxsize=10, timer=clock, clock=clock
    )
    cache.put(token_key("good"), _entry("user"), INF)
    cache.put_refusal(token_key("bad"), "refused")
    clock.now += 4.9
    assert cache.get(token_key("good")) == _entry("user")
    assert cache.get(token_key("bad")) == "refused"
    clock.now += 0.2  # the refusal's 5 s are over, the principal's 10 s are not
    assert cache.get(token_key("bad")) is None
    assert cache.get(token_key("good")) == _entry("user")
    clock.now += 5.0
    assert cache.get(token_key("good")) is None
    # A later write drops the stale entries.
    cache.put(token_key("other"), _entry("other"), INF)
    assert len(cache) == 1


def test_a_verified_token_replaces_its_cached_refusal() -> None:
    clock = _Clock()
    cache = VerificationCache(
        ttl=10.0, maxsize=10, negative_ttl=5.0, negative_maxsize=10, timer=clock, clock=clock
    )
    key = token_key("flip")
    cache.put_refusal(key, "refused")
    cache.put(key, _entry("user"), INF)
    assert cache.get(key) == _entry("user")
    cache.discard(key)
    assert cache.get(key) is None  # the refusal is gone too


def test_the_default_rendering_is_kept_but_a_fresh_header_list_is_returned() -> None:
    guard = _guard()
    try:
        guard.check("GET", PATH, None)
    except AuthError as error:
        first = guard.render(error)
        first[1].append(("x-mutated", "yes"))
        second = guard.render(error)
    assert ("x-mutated", "yes") not in second[1]
    assert first[0] == second[0] == 401
    assert first[2] == second[2]
