"""The apps of the instructions figure (:mod:`benchmarks.instructions`).

Most cases are variants of the benchmark's registry (the bare apps, the peers, the
hand-written limit, bearerguard), measured as they are in figure 1. A few are built here
for what only instruction counts show well: a client token from an in-memory store, and
the cost of rule matching when every request carries a fresh id, with 1 or 1000 rules.
Everything is built from bearerguard's public API only, so the same file measures any
version of the core behind those constructors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .fixtures import AUDIENCE, ISSUER, ROUTE, SCOPE, Fixtures

CLIENT_PREFIX = "pay_live_"


@dataclass(frozen=True)
class Case:
    """One app measured in instructions per request.

    Attributes:
        name: Unique id, ``framework/what``.
        floor: The case it is compared with (the bare app of the same framework, driven
            with the same requests); empty for a floor.
        variant: The registry variant it builds (its own name when empty and there is
            no builder here).
        label: What the table shows (the variant's label when empty).
        role: ``floor``, ``peer``, ``limit`` or ``bearerguard`` (the variant's when empty).
        token: The token the requests carry: ``static``, ``jwt``, ``client`` or ``none``
            (the variant's kind when empty).
        fresh_ids: Every request carries a new id in its path (no path repeats).
        divisor: Run N // divisor requests (a case whose request costs far more than the
            others reaches the same precision with fewer).
        quick: Part of ``--quick``.
    """

    name: str
    floor: str = ""
    variant: str = ""
    label: str = ""
    role: str = ""
    token: str = ""
    fresh_ids: bool = False
    divisor: int = 1
    quick: bool = False


S, F, W, IDS = "starlette/bare", "fastapi/bare", "flask/bare", "starlette/bare-fresh-ids"

CASES: dict[str, Case] = {
    case.name: case
    for case in (
        Case(S, quick=True),
        Case("starlette/noop", S),
        Case("starlette/handwritten", S),
        Case("starlette/authmw-static", S),
        Case("starlette/authmw-jwt-ttlcache", S),
        Case("starlette/bearerguard-static", S, quick=True),
        Case("starlette/bearerguard-jwt-hit", S, quick=True),
        Case(
            "starlette/bearerguard-client-memory",
            S,
            label="bearerguard, client token from `MemoryTokenStore` (cache hit)",
            role="bearerguard",
            token="client",
            quick=True,
        ),
        Case(
            "starlette/bearerguard-client-memory-bus",
            S,
            label="bearerguard, client token, `MemoryRevocationBus` configured (cache hit)",
            role="bearerguard",
            token="client",
        ),
        Case(
            "starlette/bearerguard-client-redis-bus",
            S,
            label="bearerguard, client token, `RedisRevocationBus` subscribed (cache hit)",
            role="bearerguard",
            token="client",
        ),
        Case(IDS, variant=S, label="Starlette, bare, a fresh id in every path", fresh_ids=True),
        Case(
            "starlette/bearerguard-rules-1",
            IDS,
            label="bearerguard, static token, 1 rule, a fresh id in every path",
            role="bearerguard",
            token="static",
            fresh_ids=True,
        ),
        Case(
            "starlette/bearerguard-rules-1000",
            IDS,
            label="bearerguard, static token, 1000 rules (match last), a fresh id in every path",
            role="bearerguard",
            token="static",
            fresh_ids=True,
            divisor=10,
        ),
        Case(F, quick=True),
        Case("fastapi/empty-dependency", F),
        Case("fastapi/httpbearer-jwt-ttlcache", F),
        Case("fastapi/bearerguard-require-scopes", F, quick=True),
        Case("fastapi/bearerguard-rule", F),
        Case(W, quick=True),
        Case("flask/handwritten", W),
        Case("flask/httpauth", W),
        Case("flask/bearerguard-static", W, quick=True),
        Case("flask/bearerguard-jwt-hit", W, quick=True),
    )
}


# -- the cases built here --------------------------------------------------------------


def _rules_guard(fixtures: Fixtures, count: int) -> Any:
    from bearerguard import Guard, Rule, StaticTokenVerifier

    # Rules with a path parameter each, sharing the leading /api segment as a real API's
    # do; the one that matches comes last (first match wins: the worst case).
    rules = [Rule("GET", f"/api/resource{i}/{{item_id}}", scopes=[SCOPE]) for i in range(count - 1)]
    rules.append(Rule("GET", ROUTE, scopes=[SCOPE]))
    return Guard([StaticTokenVerifier(fixtures.static_table())], rules=rules, cache_ttl=3600)


def _client_guard(fixtures: Fixtures, tokens: dict[str, str], bus: str = "") -> Any:
    from bearerguard import ClientTokenVerifier, Guard, JWTVerifier, Rule
    from bearerguard.stores import MemoryTokenStore
    from bearerguard.tokens import TokenManager, new_client_id

    manager = TokenManager(MemoryTokenStore(), prefix=CLIENT_PREFIX)
    tokens["client"] = manager.issue(client_id=new_client_id(), label="bench", scopes=[SCOPE]).token
    verifier = JWTVerifier(
        key=fixtures.public_key,
        algorithms=["RS256"],
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    revocation_bus = None
    if bus:
        from bearerguard.revocation import open_bus

        revocation_bus = open_bus(bus)
    return Guard(
        [ClientTokenVerifier(manager), verifier],
        rules=[Rule("GET", ROUTE, scopes=[SCOPE])],
        cache_ttl=3600,
        revocation_bus=revocation_bus,
    )


def _starlette_with(guard: Any) -> Any:
    from bearerguard.starlette import BearerGuardMiddleware

    from .variants_asgi import starlette_app

    app = starlette_app()
    app.add_middleware(BearerGuardMiddleware, guard=guard)
    return app


BUILT_HERE: dict[str, Callable[[Fixtures, dict[str, str]], Any]] = {
    "starlette/bearerguard-client-memory": lambda f, t: _starlette_with(_client_guard(f, t)),
    "starlette/bearerguard-client-memory-bus": lambda f, t: _starlette_with(
        _client_guard(f, t, "memory://")
    ),
    "starlette/bearerguard-client-redis-bus": lambda f, t: _starlette_with(
        _client_guard(f, t, "redis://127.0.0.1:6379/0")
    ),
    "starlette/bearerguard-rules-1": lambda f, t: _starlette_with(_rules_guard(f, 1)),
    "starlette/bearerguard-rules-1000": lambda f, t: _starlette_with(_rules_guard(f, 1000)),
}


# -- what the table and the driver need to know ----------------------------------------


@dataclass(frozen=True)
class Built:
    """A case ready to drive: its app, how it is called, what it is called with."""

    case: Case
    app: Any
    interface: str
    authorization: str | None
    variant: Any  # the registry variant, or None for a case built here


def describe(case: Case) -> tuple[str, str]:
    """The label and role the table shows (from the registry unless given here)."""
    if case.label and case.role:
        return case.label, case.role
    from .variants import load_all

    variant = load_all()[case.variant or case.name]
    return case.label or variant.label, case.role or variant.role


def build(case: Case, fixtures: Fixtures) -> Built:
    """Build the app of a case (:class:`KeyError` when its variant could not load)."""
    tokens = {"static": fixtures.static_ok, "jwt": fixtures.jwt_ok}
    if case.name in BUILT_HERE:
        app = BUILT_HERE[case.name](fixtures, tokens)
        return Built(case, app, "asgi", f"Bearer {tokens[case.token]}", None)
    from .variants import load_all

    variant = load_all()[case.variant or case.name]
    token = case.token or variant.kind
    if token == "none":  # a floor gets the request its guarded twins get
        token = "static"
    good = variant.good_and_lacking(fixtures)[0] if variant.kind != "none" else tokens[token]
    return Built(case, variant.build(fixtures), variant.interface, f"Bearer {good}", variant)
