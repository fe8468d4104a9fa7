"""FastAPI: ``require_scopes`` in every position, ``current_principal``, OpenAPI, defaults."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from starlette.testclient import TestClient

from bearerguard import Guard, InsufficientScopeError, Principal, StaticTokenVerifier
from bearerguard.fastapi import SCHEME_NAME, current_principal, require_scopes
from bearerguard.starlette import BearerGuardMiddleware

from ._support import (
    EXPIRED,
    MISSING,
    OTHER_APPLICATION,
    Answer,
    insufficient,
    invalid_token,
    kind_refused,
    make_guard,
    token,
)


def bearer(name: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(name)}"} if name else {}


def assert_answer(response: Any, answer: Answer) -> None:
    assert response.status_code == answer.status
    assert response.content == answer.body_bytes()
    assert sorted(response.headers.items()) == sorted(answer.headers())


def declarations_app(seen: list[Any], **guard_options: Any) -> FastAPI:
    """One route per way of declaring; each records the principal it was given."""
    guard_options.setdefault("with_rules", False)
    app = FastAPI()
    app.add_middleware(BearerGuardMiddleware, guard=make_guard(**guard_options))

    @app.get("/default/{item}")
    async def as_default(item: str, principal: Principal = require_scopes("payments.get")) -> str:
        seen.append(principal)
        return item

    @app.get("/annotated")
    def as_annotated(principal: Annotated[Principal, require_scopes("payments.get")]) -> str:
        seen.append(principal)
        return principal.subject

    @app.get("/dependencies", dependencies=[require_scopes("payments.get")])
    async def in_dependencies(principal: Annotated[Principal, Depends(current_principal)]) -> str:
        seen.append(principal)
        return principal.subject

    @app.get("/any", dependencies=[require_scopes(any_scopes=["payments.list", "payments.search"])])
    async def any_of() -> str:
        seen.append("any")
        return "any"

    @app.get("/oauth-only", dependencies=[require_scopes(kinds=["oauth"])])
    async def oauth_only() -> str:
        seen.append("oauth-only")
        return "oauth"

    @app.post("/checkout", status_code=201)
    async def checkout(
        principal: Annotated[Principal, require_scopes("payments.create", kinds="client")],
    ) -> str:
        seen.append(principal)
        return "created"

    @app.get("/me")
    async def me(principal: Annotated[Principal, Depends(current_principal)]) -> str:
        seen.append(principal)
        return principal.subject

    @app.get("/health")
    async def health() -> str:
        seen.append("health")
        return "ok"

    router = APIRouter(prefix="/admin", dependencies=[require_scopes("payments.admin")])

    @router.get("/report")
    async def report() -> str:
        seen.append("report")
        return "report"

    app.include_router(router)
    return app


@pytest.mark.parametrize("path", ["/default/pay_1", "/annotated", "/dependencies"])
@pytest.mark.parametrize(
    ("name", "answer"),
    [
        pytest.param(None, MISSING, id="no-token"),
        pytest.param("expired", invalid_token(EXPIRED), id="expired"),
        pytest.param("oauth_none", insufficient("payments.get"), id="oauth-no-scope"),
        pytest.param("client_none", insufficient("payments.get"), id="client-no-scope"),
        pytest.param("client_get", None, id="client-granted"),
        pytest.param("oauth_get", None, id="oauth-granted"),
        pytest.param("oauth_all", None, id="star"),
    ],
)
def test_require_scopes_in_every_position(
    path: str, name: str | None, answer: Answer | None
) -> None:
    seen: list[Any] = []
    response = TestClient(declarations_app(seen)).get(path, headers=bearer(name))

    if answer is not None:
        assert_answer(response, answer)
        assert seen == []
        return
    assert response.status_code == 200
    [principal] = seen
    assert isinstance(principal, Principal)
    assert principal.subject == {"client_get": "tok_get"}.get(name or "", "user-42")


@pytest.mark.parametrize(
    ("path", "name", "answer"),
    [
        pytest.param(
            "/any", "oauth_get", insufficient("payments.list", "payments.search"), id="any-none"
        ),
        pytest.param("/any", "oauth_search", None, id="any-one"),
        pytest.param("/any", "client_all", None, id="any-star"),
        pytest.param("/oauth-only", "client_all", kind_refused("oauth"), id="kind-refused"),
        pytest.param("/oauth-only", "oauth_none", None, id="kind-accepted"),
        pytest.param(
            "/admin/report", "client_get", insufficient("payments.admin"), id="router-deps"
        ),
        pytest.param("/admin/report", "oauth_all", None, id="router-deps-star"),
    ],
)
def test_any_scopes_kinds_and_router_dependencies(
    path: str, name: str, answer: Answer | None
) -> None:
    seen: list[Any] = []
    response = TestClient(declarations_app(seen)).get(path, headers=bearer(name))

    if answer is None:
        assert response.status_code == 200
        assert len(seen) == 1
    else:
        assert_answer(response, answer)
        assert seen == []


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        # Kind is checked first: an OAuth token with every scope is still the wrong kind.
        pytest.param("oauth_all", kind_refused("client"), id="kind-before-scopes"),
        pytest.param("client_get", insufficient("payments.create"), id="client-without-scope"),
        pytest.param("client_all", None, id="client-star"),
    ],
)
def test_scopes_and_kinds_together(name: str, answer: Answer | None) -> None:
    seen: list[Any] = []
    response = TestClient(declarations_app(seen)).post("/checkout", headers=bearer(name))

    if answer is None:
        assert response.status_code == 201
    else:
        assert_answer(response, answer)
        assert seen == []


def test_current_principal_yields_the_principal_or_401() -> None:
    seen: list[Any] = []
    client = TestClient(declarations_app(seen, public_paths=["/health", "/me"]))

    assert client.get("/me", headers=bearer("client_none")).json() == "tok_none"
    assert seen[0].kind == "client"
    # /me is public, so the middleware lets an anonymous request through; the dependency
    # answers 401 with the same bytes as the middleware would.
    assert_answer(client.get("/me"), MISSING)
    assert len(seen) == 1


def test_default_public_still_demands_a_token_where_a_route_declares() -> None:
    seen: list[Any] = []
    client = TestClient(declarations_app(seen, default="public", public_paths=[]))

    assert_answer(client.get("/default/pay_1"), MISSING)
    assert_answer(client.get("/annotated"), MISSING)
    assert_answer(client.get("/dependencies"), MISSING)
    assert_answer(client.get("/oauth-only"), MISSING)
    assert_answer(client.get("/me"), MISSING)
    assert_answer(
        client.get("/annotated", headers=bearer("oauth_none")), insufficient("payments.get")
    )
    assert seen == []
    # An undeclared route is public, but a presented bad token is still refused.
    assert client.get("/health").status_code == 200
    assert_answer(client.get("/health", headers=bearer("expired")), invalid_token(EXPIRED))
    assert client.get("/default/pay_1", headers=bearer("client_get")).json() == "pay_1"


def test_an_auth_error_raised_in_an_endpoint_gets_the_same_answer() -> None:
    app = FastAPI()
    app.add_middleware(BearerGuardMiddleware, guard=make_guard(with_rules=False))

    @app.get("/owned/{owner}")
    async def owned(owner: str, principal: Annotated[Principal, Depends(current_principal)]) -> str:
        if owner != principal.client_id:
            raise InsufficientScopeError(OTHER_APPLICATION)
        return owner

    client = TestClient(app)
    refused = insufficient(description=OTHER_APPLICATION)
    assert_answer(client.get("/owned/someone", headers=bearer("client_get")), refused)
    assert client.get("/owned/app_3b9f", headers=bearer("client_get")).json() == "app_3b9f"


def test_the_middleware_verifies_and_the_dependency_only_reads() -> None:
    class Counting(StaticTokenVerifier):
        calls = 0

        def verify(self, token: str) -> Principal:
            Counting.calls += 1
            return super().verify(token)

    counting = Counting({token("client_get"): ["payments.get"]})
    app = FastAPI()
    app.add_middleware(BearerGuardMiddleware, guard=Guard([counting]))

    @app.get("/a", dependencies=[require_scopes("payments.get")])
    async def first(
        one: Annotated[Principal, require_scopes("payments.get")],
        two: Annotated[Principal, Depends(current_principal)],
    ) -> bool:
        return one is two

    client = TestClient(app)
    assert client.get("/a", headers=bearer("client_get")).json() is True
    assert client.get("/a", headers=bearer("client_get")).json() is True
    assert Counting.calls == 1  # once, then from the cache; never by the dependencies


def test_dependencies_need_the_middleware() -> None:
    app = FastAPI()

    @app.get("/declared", dependencies=[require_scopes("payments.get")])
    async def declared() -> str:
        return "never"  # pragma: no cover

    @app.get("/me")
    async def me(principal: Annotated[Principal, Depends(current_principal)]) -> str:
        return "never"  # pragma: no cover

    client = TestClient(app)
    for path in ("/declared", "/me"):
        with pytest.raises(RuntimeError, match="BearerGuardMiddleware"):
            client.get(path, headers=bearer("client_get"))


def test_invalid_declarations_fail_at_import_time() -> None:
    with pytest.raises(ValueError, match="scope"):
        require_scopes("payments get")
    with pytest.raises(ValueError, match="scope"):
        require_scopes(any_scopes=['a"b'])


# -- OpenAPI ----------------------------------------------------------------------------------


def test_openapi_has_a_bearer_scheme_and_each_routes_scopes() -> None:
    document = declarations_app([]).openapi()

    assert document["components"]["securitySchemes"] == {
        SCHEME_NAME: {
            "type": "http",
            "scheme": "bearer",
            "description": "A bearer token: an OAuth access token or a client token.",
        }
    }
    paths = document["paths"]

    def security(path: str, method: str = "get") -> Any:
        return paths[path][method].get("security")

    assert security("/default/{item}") == [{SCHEME_NAME: ["payments.get"]}]
    assert security("/annotated") == [{SCHEME_NAME: ["payments.get"]}]
    assert security("/dependencies") == [{SCHEME_NAME: ["payments.get"]}]
    assert security("/any") == [{SCHEME_NAME: ["payments.list", "payments.search"]}]
    assert security("/oauth-only") == [{SCHEME_NAME: []}]
    assert security("/checkout", "post") == [{SCHEME_NAME: ["payments.create"]}]
    assert security("/admin/report") == [{SCHEME_NAME: ["payments.admin"]}]
    assert security("/health") is None
    # The principal is injected, never a request parameter in the schema.
    assert "parameters" not in paths["/annotated"]["get"]
    assert "requestBody" not in paths["/checkout"]["post"]


def test_docs_offer_the_authorize_button_and_stay_reachable() -> None:
    app = declarations_app([], public_paths=["/health", "/docs", "/openapi.json"])
    client = TestClient(app)

    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    schema = client.get("/openapi.json")
    assert schema.status_code == 200
    # Swagger UI shows "Authorize" whenever the document declares a security scheme.
    assert SCHEME_NAME in schema.json()["components"]["securitySchemes"]


def test_docs_are_public_unless_the_middleware_is_told_otherwise() -> None:
    assert TestClient(declarations_app([])).get("/openapi.json").status_code == 200
    app = FastAPI()
    app.add_middleware(BearerGuardMiddleware, guard=make_guard(), public_docs=False)
    assert TestClient(app).get("/openapi.json").status_code == 401
