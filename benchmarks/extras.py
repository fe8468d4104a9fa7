"""Extra measurements: the verification cache's memory per entry (tracemalloc)."""

from __future__ import annotations

import gc
import secrets
import time
import tracemalloc

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


def _fill(guard: Guard, headers: list[str]) -> float:
    """Bytes retained per token after verifying every header once."""
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
    cached = len(guard._cache)  # the harness's only private read: proof every token is held
    if cached != len(headers):
        raise RuntimeError(f"cache holds {cached} of {len(headers)} entries")
    return retained / len(headers)


def cache_memory(fixtures: Fixtures, quick: bool) -> ExtraResult:
    entries = 5_000 if quick else 100_000
    result = ExtraResult(f"Cache memory per entry ({entries:,} entries, tracemalloc)")

    # One principal shared by every token, so this is the cache's own cost per entry:
    # key digest, entry tuple, and cachetools' bookkeeping. (Not StaticTokenVerifier:
    # it compares a token with every entry of its table, by design for a few tokens.)
    tokens = [secrets.token_urlsafe(30) for _ in range(entries)]
    static = Guard([_TableVerifier(tokens)], cache_maxsize=entries, cache_ttl=3600)
    per_entry = _fill(static, [f"Bearer {token}" for token in tokens])
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
    oauth = Guard(
        [JWTVerifier(key=secret, algorithms=["HS256"], issuer=ISSUER, audience=AUDIENCE)],
        cache_maxsize=entries,
        cache_ttl=3600,
    )
    per_entry = _fill(oauth, [f"Bearer {token}" for token in jwts])
    result.rows.append(
        (
            "with a JWT principal per entry",
            f"{per_entry:.0f} B",
            f"8 claims; {time.perf_counter() - started:.0f} s to mint and fill",
        )
    )
    return result


def hit_steps(fixtures: Fixtures, quick: bool) -> ExtraResult:
    """Each step of an ASGI cache hit, inside a real Starlette request."""
    from .hotpaths import in_app

    rounds = 10 if quick else 40
    result = ExtraResult(
        "An ASGI cache hit, step by step, inside a Starlette request "
        "(`python -m benchmarks.hotpaths --in-app`)"
    )
    static = dict(in_app("static", fixtures, rounds=rounds))
    signed = dict(in_app("jwt", fixtures, rounds=rounds))
    notes = {
        "layer + the three scope keys": "a stub layer that sets what bearerguard sets",
        "+ find_raw_authorization": "each '+' row: the stub plus that step alone",
        "BearerGuardMiddleware": "the real thing",
    }
    for step, added in static.items():
        if step != "bare app":
            figure = f"static {added:+.2f} µs, JWT {signed[step]:+.2f} µs"
            result.rows.append((step, figure, notes.get(step, "")))
    return result


EXTRAS["memory"] = cache_memory
EXTRAS["hit-steps"] = hit_steps
