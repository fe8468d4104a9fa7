"""Extra measurements: the verification cache's memory per entry (tracemalloc)."""

from __future__ import annotations

import gc
import secrets
import time
import tracemalloc
from typing import Any

import jwt

from bearerguard import Guard, JWTVerifier, Principal

from .fixtures import AUDIENCE, ISSUER, SCOPE, Fixtures
from .registry import EXTRAS, ExtraResult


class _TableVerifier:
    """Accepts the tokens of a set, all with one shared principal."""

    kind = "client"

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = frozenset(tokens)
        self.principal = Principal(kind="client", subject="bench", scopes=frozenset({SCOPE}))

    def accepts(self, token: str) -> bool:
        return token in self.tokens

    def verify(self, token: str) -> Principal:
        return self.principal


class _Counted:
    """A verifier that counts the verifications it is asked for (a hit asks none)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.leeway = getattr(inner, "leeway", 0)
        self.calls = 0

    def accepts(self, token: str) -> bool:
        return bool(self.inner.accepts(token))

    def verify(self, token: str) -> Principal:
        self.calls += 1
        return self.inner.verify(token)  # type: ignore[no-any-return]


def _fill(verifier: Any, headers: list[str]) -> float:
    """Bytes retained per token by a guard's cache after verifying every header once.

    Afterwards every header is asked again: none may reach the verifier, which proves
    that the cache holds every entry the figure is divided by.
    """
    counted = _Counted(verifier)
    guard = Guard([counted], cache_maxsize=len(headers), cache_ttl=3600)
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for header in headers:
            guard.authenticate(header)
        gc.collect()
        retained = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    verified = counted.calls
    for header in headers:
        guard.authenticate(header)
    if counted.calls != verified:
        raise RuntimeError(f"{counted.calls - verified} of {len(headers)} entries were not cached")
    return retained / len(headers)


def cache_memory(fixtures: Fixtures, quick: bool) -> ExtraResult:
    entries = 5_000 if quick else 100_000
    result = ExtraResult(f"Cache memory per entry ({entries:,} entries, tracemalloc)")

    # One principal shared by every token, so this is the cache's own cost per entry:
    # key digest, entry tuple, and cachetools' bookkeeping. (Not StaticTokenVerifier:
    # it compares a token with every entry of its table, by design for a few tokens.)
    tokens = [secrets.token_urlsafe(30) for _ in range(entries)]
    per_entry = _fill(_TableVerifier(tokens), [f"Bearer {token}" for token in tokens])
    result.rows.append(
        ("cache alone (principal shared)", f"{per_entry:.0f} B", "one principal for every token")
    )

    # JWTs: each entry also keeps its own Principal and read-only claims. Minted with
    # HS256 only so that 100,000 tokens sign in seconds; the principal is the same shape.
    secret = secrets.token_bytes(32)
    started = time.perf_counter()
    now = int(time.time())
    jwts = [
        jwt.encode(
            {
                "iss": ISSUER,
                "aud": AUDIENCE,
                "sub": f"user-{index}",
                "client_id": "dashboard",
                "scope": SCOPE,
                "iat": now,
                "exp": now + 3600,
                "jti": secrets.token_hex(8),
            },
            secret,
            algorithm="HS256",
        )
        for index in range(entries)
    ]
    verifier = JWTVerifier(key=secret, algorithms=["HS256"], issuer=ISSUER, audience=AUDIENCE)
    per_entry = _fill(verifier, [f"Bearer {token}" for token in jwts])
    result.rows.append(
        (
            "with a JWT principal per entry",
            f"{per_entry:.0f} B",
            f"8 claims; {time.perf_counter() - started:.0f} s to mint and fill",
        )
    )
    return result


EXTRAS["memory"] = cache_memory
