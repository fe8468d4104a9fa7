"""Public and optional access declared on the route itself, decided by the middleware.

FastAPI (``@public``, ``optional_principal``), Starlette (``@public`` endpoints,
WebSocket routes, mounts) and Flask (``@public``, ``require_scopes(optional=True)``):
no ``public_paths`` entry, the middleware still decides before the app runs (a bad
token never reaches the view), and FastAPI's own documentation needs no token.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from flask import Blueprint, Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket
from werkzeug.middleware.proxy_fix import ProxyFix

from bearerguard import Guard, Principal, Rule, StaticTokenVerifier
from bearerguard import fastapi as bg_fastapi
from bearerguard import flask as bg_flask
from bearerguard import starlette as bg_starlette
from bearerguard.werkzeug import BearerGuardMiddleware as WSGIMiddleware

MISSING = {"message": "Unauthenticated"}
GOOD = {"Authorization": "Bearer good-token"}
READER = {"Authorization": "Bearer reader-token"}
BAD = {"Authorization": "Bearer no-such-token"}


def make_guard(**options: Any) -> Guard:
    return Guard(
        [
            StaticTokenVerifier(
                {
                    "good-token": Principal(kind="client", subject="c-1", scopes=["items.write"]),
                    "reader-token": Principal(kind="oauth", subject="u-1", scopes=["items.read"]),
                }
            )
        ],
        **options,
    )


def assert_invalid_token(response: Any) -> None:
    assert response.status_code == 401
    body = response.json() if callable(response.json) else response.json
    assert body["error"] == "invalid_token"


# -- FastAPI ----------------------------------------------------------------------------------


def fastapi_app(seen: list[str], guard: Guard | None = None, **middleware: Any) -> FastAPI:
    app = FastAPI()
    app.add_middleware(
        bg_starlette.BearerGuardMiddleware, guard=guard or make_guard(), **middleware
    )

    @app.get("/health")
    @bg_fastapi.public
    async def health() -> str:
        seen.append("health")
        return "ok"

    @app.post("/health")
    async def post_health() -> str:  # the same path, another method: not public
        seen.append("post-health")
        return "posted"

    @app.get("/items/{item_id:int}")
    @bg_fastapi.public
    def item(item_id: int) -> int:
        return item_id

    @app.get("/hello")
    async def hello(
        principal: Annotated[Principal | None, Depends(bg_fastapi.optional_principal)],
    ) -> str:
        seen.append("hello")
        return "anonymous" if principal is None else principal.subject

    @app.get("/private")
    async def private() -> str:
        seen.append("private")
        return "private"

    feed = APIRouter(prefix="/feed", dependencies=[Depends(bg_fastapi.optional_principal)])

    @feed.get("/latest")
    async def latest() -> str:
        return "latest"

    app.include_router(feed)
    return app


def test_a_route_declared_public_needs_no_token_and_no_public_paths_entry() -> None:
    seen: list[str] = []
    client = TestClient(fastapi_app(seen))
    assert client.get("/health").json() == "ok"
    assert client.get("/items/3").json() == 3
    assert client.get("/feed/latest").json() == "latest"
    # Another method on the same path, and undeclared routes, stay protected.
    assert client.post("/health").json() == MISSING
    assert client.get("/private").json() == MISSING
    assert seen == ["health"]


def test_a_bad_token_on_a_public_route_is_refused_before_the_endpoint_runs() -> None:
    seen: list[str] = []
    client = TestClient(fastapi_app(seen))
    assert_invalid_token(client.get("/health", headers=BAD))
    assert_invalid_token(client.get("/hello", headers=BAD))
    assert seen == []
    assert client.get("/health", headers=GOOD).json() == "ok"


def test_optional_principal_is_none_without_a_token_and_the_principal_with_one() -> None:
    client = TestClient(fastapi_app([]))
    assert client.get("/hello").json() == "anonymous"
    assert client.get("/hello", headers=GOOD).json() == "c-1"
    assert client.get("/hello", headers=READER).json() == "u-1"


def test_optional_principal_needs_the_middleware() -> None:
    app = FastAPI()

    @app.get("/hello")
    async def hello(p: Annotated[Principal | None, Depends(bg_fastapi.optional_principal)]) -> str:
        return "never"

    with pytest.raises(RuntimeError, match="BearerGuardMiddleware"):
        TestClient(app).get("/hello")


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"])
def test_fastapi_docs_need_no_token(path: str) -> None:
    response = TestClient(fastapi_app([])).get(path)
    assert response.status_code == 200
    assert_invalid_token(TestClient(fastapi_app([])).get(path, headers=BAD))


def test_docs_at_the_urls_the_app_chose_and_none_where_it_has_none() -> None:
    app = FastAPI(docs_url="/api-docs", redoc_url=None, openapi_url="/schema.json")
    app.add_middleware(bg_starlette.BearerGuardMiddleware, guard=make_guard())
    client = TestClient(app)
    assert client.get("/api-docs").status_code == 200
    assert "/schema.json" in client.get("/api-docs").text
    assert client.get("/schema.json").status_code == 200
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert client.get(path).json() == MISSING


def test_docs_can_be_kept_behind_the_guard() -> None:
    client = TestClient(fastapi_app([], public_docs=False))
    for path in ("/docs", "/openapi.json"):
        assert client.get(path).json() == MISSING
        assert client.get(path, headers=GOOD).status_code == 200
    assert client.get("/health").json() == "ok"  # route declarations still count


def test_public_paths_and_route_declarations_come_before_rules() -> None:
    guard = make_guard(rules=[Rule("*", "/{rest:path}", scopes=["items.admin"])])
    client = TestClient(fastapi_app([], guard=guard))
    assert client.get("/health").json() == "ok"
    assert client.get("/hello").json() == "anonymous"
    refused = client.get("/private", headers=GOOD)
    assert refused.status_code == 403
    assert refused.json()["required_scopes"] == ["items.admin"]


def test_the_guard_itself_is_left_unchanged_for_other_apps() -> None:
    guard = make_guard()
    client = TestClient(fastapi_app([], guard=guard))
    assert client.get("/health").json() == "ok"
    assert not guard.requirement("GET", "/health").public
    other = FastAPI()
    other.add_middleware(bg_starlette.BearerGuardMiddleware, guard=guard)
    other.get("/health")(lambda: "other")
    assert TestClient(other).get("/health").json() == MISSING


# -- Starlette --------------------------------------------------------------------------------


@bg_starlette.public
async def ping(request: Request) -> PlainTextResponse:
    return PlainTextResponse("pong")


async def secret(request: Request) -> PlainTextResponse:
    return PlainTextResponse("secret")


@bg_starlette.public
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("anonymous" if websocket.user.is_authenticated is False else "user")
    await websocket.close()


def test_starlette_endpoints_mounts_and_websockets_declared_public() -> None:
    sub = FastAPI()
    sub.get("/status")(bg_fastapi.public(lambda: "up"))
    app = Starlette(
        routes=[
            Route("/ping", ping),
            Route("/secret", secret),
            WebSocketRoute("/ws", echo),
            Mount("/v1", routes=[Route("/ping", ping), Route("/secret", secret)]),
            Mount("/sub", app=sub),
        ]
    )
    wrapped = bg_starlette.BearerGuardMiddleware(app, make_guard())
    client = TestClient(wrapped)
    assert client.get("/ping").text == "pong"
    assert client.get("/v1/ping").text == "pong"
    assert client.get("/sub/status").json() == "up"
    assert client.get("/sub/docs").status_code == 200  # a mounted FastAPI's docs too
    assert client.get("/secret").json() == MISSING
    assert client.get("/v1/secret").json() == MISSING
    assert client.post("/ping").json() == MISSING  # the route is GET only
    with client.websocket_connect("/ws") as websocket:
        assert websocket.receive_text() == "anonymous"


def test_an_app_without_routes_is_protected_as_before() -> None:
    async def bare(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("never reached")

    client = TestClient(bg_starlette.BearerGuardMiddleware(bare, make_guard()))
    assert client.get("/anything").json() == MISSING


# -- Flask ------------------------------------------------------------------------------------


def flask_app(seen: list[str], guard: Guard | None = None) -> Flask:
    app = Flask(__name__)
    app.wsgi_app = WSGIMiddleware(ProxyFix(app.wsgi_app), guard or make_guard())  # type: ignore[method-assign]

    @app.get("/health")
    @bg_flask.public
    def health() -> str:
        seen.append("health")
        return "ok"

    @app.post("/health")
    def post_health() -> str:
        return "posted"

    @app.get("/items/<int:item_id>")
    @bg_flask.public
    def item(item_id: int) -> str:
        return str(item_id)

    @app.get("/hello")
    @bg_flask.require_scopes(optional=True)
    def hello() -> str:
        seen.append("hello")
        principal = bg_flask.current_principal
        return "anonymous" if not principal else principal.subject

    @app.get("/write")
    @bg_flask.require_scopes("items.write", optional=True)
    async def write() -> str:
        return "anonymous" if not bg_flask.current_principal else "written"

    @app.get("/files/<path:name>/edit")
    @bg_flask.public
    def edit(name: str) -> str:
        return name

    blueprint = Blueprint("status", __name__, url_prefix="/status")

    @blueprint.get("/")
    @bg_flask.public
    def status() -> str:
        return "up"

    app.register_blueprint(blueprint)
    return app


def test_flask_views_declared_public() -> None:
    seen: list[str] = []
    client = flask_app(seen).test_client()
    assert client.get("/health").text == "ok"
    assert client.get("/items/7").text == "7"
    assert client.get("/status/").text == "up"
    assert client.post("/health").json == MISSING
    assert_invalid_token(client.get("/health", headers=BAD))
    assert seen == ["health"]


def test_flask_optional_passes_anonymous_and_checks_a_presented_token() -> None:
    seen: list[str] = []
    client = flask_app(seen).test_client()
    assert client.get("/hello").text == "anonymous"
    assert client.get("/hello", headers=READER).text == "u-1"
    assert_invalid_token(client.get("/hello", headers=BAD))
    assert client.get("/write").text == "anonymous"
    assert client.get("/write", headers=GOOD).text == "written"
    refused = client.get("/write", headers=READER)
    assert refused.status_code == 403
    assert refused.json["required_scopes"] == ["items.write"]
    assert seen == ["hello", "hello"]


def test_a_public_view_no_rule_can_express_stays_protected(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = flask_app([]).test_client()
    with caplog.at_level(logging.WARNING, logger="bearerguard"):
        assert client.get("/files/a/edit").json == MISSING
    assert "/files/<path:name>/edit" in caplog.text
    assert "stays protected" in caplog.text
    assert client.get("/files/a/edit", headers=GOOD).text == "a"


def test_the_middleware_follows_verifiers_added_to_and_removed_from_the_guard() -> None:
    guard = make_guard(cache_ttl=0.0)
    client = TestClient(fastapi_app([], guard=guard))
    assert client.get("/health").json() == "ok"  # the routes are learned now
    late = StaticTokenVerifier({"late-token": Principal(kind="oauth", subject="late")})
    guard.add_verifier(late)
    assert client.get("/hello", headers={"Authorization": "Bearer late-token"}).json() == "late"
    guard.remove_verifier(late)
    assert_invalid_token(client.get("/hello", headers={"Authorization": "Bearer late-token"}))
