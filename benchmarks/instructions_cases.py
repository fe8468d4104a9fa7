"""The apps of the instructions figure (:mod:`benchmarks.instructions`).

Every case is built from bearerguard's public API only (``Guard``, the verifiers, the
adapters' middleware and ``require_scopes``), so the same file measures any version of
the core behind those constructors.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ISSUER = "https://id.bench.test/"
AUDIENCE = "payments-api"
SCOPE = "payments.get"
ROUTE = "/api/payment/{payment_id}"
PREFIX = "/api/payment/"
PATH = PREFIX + "pay_8Hq2ZkV1"
CLIENT_PREFIX = "pay_live_"


@dataclass(frozen=True)
class Case:
    """One app measured in instructions per request.

    Attributes:
        name: Unique id, ``framework/what``.
        label: What the table shows.
        interface: ``asgi`` or ``wsgi``.
        floor: The case it is compared with (the bare app of the same framework, driven
            with the same requests); empty for a floor.
        token: Which token the requests carry: ``static``, ``jwt``, ``client`` or ``none``.
        fresh_ids: Every request carries a new id in its path (no path repeats).
        divisor: Run N // divisor requests (a case whose request costs far more than the
            others reaches the same precision with fewer).
    """

    name: str
    label: str
    interface: str
    floor: str = ""
    token: str = "static"
    fresh_ids: bool = False
    divisor: int = 1


CASES: dict[str, Case] = {
    c.name: c
    for c in (
        Case("starlette/bare", "Starlette, bare", "asgi"),
        Case("starlette/static", "bearerguard, static token (cache hit)", "asgi", "starlette/bare"),
        Case(
            "starlette/jwt",
            "bearerguard, JWT RS256 (cache hit)",
            "asgi",
            "starlette/bare",
            token="jwt",
        ),
        Case(
            "starlette/client",
            "bearerguard, client token, MemoryTokenStore (cache hit)",
            "asgi",
            "starlette/bare",
            token="client",
        ),
        Case(
            "starlette/bare-ids", "Starlette, bare, a fresh id per request", "asgi", fresh_ids=True
        ),
        Case(
            "starlette/rules-1",
            "bearerguard, static token, 1 rule, fresh ids",
            "asgi",
            "starlette/bare-ids",
            fresh_ids=True,
        ),
        Case(
            "starlette/rules-1000",
            "bearerguard, static token, 1000 rules (matched last), fresh ids",
            "asgi",
            "starlette/bare-ids",
            fresh_ids=True,
            divisor=10,
        ),
        Case("fastapi/bare", "FastAPI, bare", "asgi"),
        Case(
            "fastapi/require-scopes",
            "bearerguard, `require_scopes` on the route (JWT, cache hit)",
            "asgi",
            "fastapi/bare",
            token="jwt",
        ),
        Case("flask/bare", "Flask, bare", "wsgi"),
        Case("flask/static", "bearerguard WSGI, static token (cache hit)", "wsgi", "flask/bare"),
        Case(
            "flask/jwt",
            "bearerguard WSGI, JWT RS256 (cache hit)",
            "wsgi",
            "flask/bare",
            token="jwt",
        ),
    )
}


# -- the apps --------------------------------------------------------------------------


def _guard(state: dict[str, Any], case: Case, *, rules: bool = True) -> Any:
    """The guard of a case: the token's verifier first, then RS256 JWTs, then its rules."""
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    from bearerguard import ClientTokenVerifier, Guard, JWTVerifier, Rule, StaticTokenVerifier

    first: Any
    if case.token == "client":
        from bearerguard.stores import MemoryTokenStore
        from bearerguard.tokens import TokenManager, new_client_id

        manager = TokenManager(MemoryTokenStore(), prefix=CLIENT_PREFIX)
        issued = manager.issue(client_id=new_client_id(), label="bench", scopes=[SCOPE])
        state["client"] = issued.token
        first = ClientTokenVerifier(manager)
    else:
        first = StaticTokenVerifier({state["static"]: [SCOPE]})
    verifier = JWTVerifier(
        key=load_pem_public_key(state["public_pem"].encode()),
        algorithms=["RS256"],
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    chosen = []
    if rules:
        count = 1000 if case.name.endswith("rules-1000") else 1
        # Rules with a path parameter each, sharing the leading /api segment as a real
        # API's do; the one that matches comes last (first match wins).
        chosen = [
            Rule("GET", f"/api/resource{i}/{{item_id}}", scopes=[SCOPE]) for i in range(count - 1)
        ]
        chosen.append(Rule("GET", ROUTE, scopes=[SCOPE]))
    return Guard([first, verifier], rules=chosen, cache_ttl=3600)


def _starlette(state: dict[str, Any], case: Case) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    async def payment(request: Request) -> Response:
        return JSONResponse({"id": request.path_params["payment_id"]})

    app = Starlette(routes=[Route(ROUTE, payment, methods=["GET"])])
    if case.floor:
        from bearerguard.starlette import BearerGuardMiddleware

        app.add_middleware(BearerGuardMiddleware, guard=_guard(state, case))
    return app


def _fastapi(state: dict[str, Any], case: Case) -> Any:
    from fastapi import FastAPI

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    if case.floor:
        from bearerguard import Principal
        from bearerguard.fastapi import require_scopes
        from bearerguard.starlette import BearerGuardMiddleware

        @app.get(ROUTE)
        async def get_payment(
            payment_id: str, principal: Principal = require_scopes(SCOPE)
        ) -> dict[str, str]:
            return {"id": payment_id}

        # The middleware verifies (no rules); the route's dependency checks the scope.
        app.add_middleware(BearerGuardMiddleware, guard=_guard(state, case, rules=False))
    else:

        @app.get(ROUTE)
        async def get_payment_bare(payment_id: str) -> dict[str, str]:
            return {"id": payment_id}

    return app


def _flask(state: dict[str, Any], case: Case) -> Any:
    from flask import Flask

    app = Flask("bench")

    def get_payment(payment_id: str) -> dict[str, str]:
        return {"id": payment_id}

    app.add_url_rule("/api/payment/<payment_id>", "get_payment", get_payment, methods=["GET"])
    if case.floor:
        from bearerguard.werkzeug import BearerGuardMiddleware

        app.wsgi_app = BearerGuardMiddleware(app.wsgi_app, _guard(state, case))  # type: ignore[method-assign]
    return app


BUILDERS: dict[str, Callable[[dict[str, Any], Case], Any]] = {
    "starlette": _starlette,
    "fastapi": _fastapi,
    "flask": _flask,
}


def build(state: dict[str, Any], case: Case) -> Any:
    """The app of a case (a client-token case also issues its token into ``state``)."""
    return BUILDERS[case.name.split("/", 1)[0]](state, case)
