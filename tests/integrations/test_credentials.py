"""``request.auth`` is built lazily per request and never shared between requests (A-05)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bearerguard import Guard, StaticTokenVerifier
from bearerguard.starlette import BearerGuardMiddleware, PrincipalCredentials


def test_A05_scopes_are_sorted_and_a_mutation_stays_in_its_request() -> None:
    async def endpoint(request: Request) -> JSONResponse:
        assert isinstance(request.auth, PrincipalCredentials)
        seen = list(request.auth.scopes)
        request.auth.scopes.append("smuggled")  # an app bug must not leak to the next request
        return JSONResponse(seen)

    app = Starlette(routes=[Route("/", endpoint)])
    guard = Guard([StaticTokenVerifier({"t": ["payments.get", "a.b", "payments.create"]})])
    app.add_middleware(BearerGuardMiddleware, guard=guard)
    with TestClient(app) as client:
        for _ in range(2):
            answer = client.get("/", headers={"Authorization": "Bearer t"})
            assert answer.json() == ["a.b", "payments.create", "payments.get"]
