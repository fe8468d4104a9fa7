"""The answers table of issue 2, through every adapter and both declaration styles.

Each case runs against five apps built for the test: FastAPI with ``require_scopes``
(parameter default, ``dependencies=[...]`` and ``Annotated``), plain Starlette with
``Rule``-based guarding, plain Starlette with ``bearerguard.starlette.requires`` (sync and
async endpoints), Flask with ``Rule``-based guarding, and Flask with
``bearerguard.flask.require_scopes``. Every refusal is checked for its exact status, JSON
body (bytes), header set, and that no handler ran (INV); ``HEAD`` gets the same status and
headers with an empty body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import pytest
from fastapi import FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bearerguard import Principal
from bearerguard.fastapi import require_scopes as fastapi_requires
from bearerguard.flask import current_principal
from bearerguard.flask import require_scopes as flask_requires
from bearerguard.starlette import BearerGuardMiddleware as ASGIMiddleware
from bearerguard.starlette import requires as starlette_requires
from bearerguard.werkzeug import BearerGuardMiddleware as WSGIMiddleware

from ._support import CASES, SEARCH_ANY, Answer, make_guard, tokens


@dataclass
class Reply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class Harness:
    """One app under test: how to call it, and which handlers ran."""

    wsgi: bool
    call: Callable[[str, str, list[tuple[str, str]]], Reply] = field(repr=False)
    calls: list[str]


# -- the apps ---------------------------------------------------------------------------


def _asgi_client(app: Any) -> Callable[[str, str, list[tuple[str, str]]], Reply]:
    client = TestClient(app, raise_server_exceptions=True)

    def call(method: str, path: str, headers: list[tuple[str, str]]) -> Reply:
        response = client.request(method, path, headers=headers)
        raw = [(name.decode().lower(), value.decode()) for name, value in response.headers.raw]
        return Reply(response.status_code, raw, response.content)

    return call


def _wsgi_client(app: Flask) -> Callable[[str, str, list[tuple[str, str]]], Reply]:
    client = app.test_client()

    def call(method: str, path: str, headers: list[tuple[str, str]]) -> Reply:
        response = client.open(path, method=method, headers=headers)
        raw = [(name.lower(), value) for name, value in response.headers.items()]
        return Reply(response.status_code, raw, response.get_data())

    return call


def build_fastapi() -> Harness:
    calls: list[str] = []
    app = FastAPI()
    app.add_middleware(ASGIMiddleware, guard=make_guard(with_rules=False))

    @app.api_route("/api/payment/{payment_id}", methods=["GET", "HEAD"])
    async def get_payment(
        payment_id: str, principal: Principal = fastapi_requires("payments.get")
    ) -> dict[str, str]:
        calls.append("payment")
        return {"id": payment_id, "subject": principal.subject}

    @app.api_route(
        "/api/payment-applications",
        methods=["GET", "HEAD"],
        dependencies=[fastapi_requires(kinds=["oauth"])],
    )
    async def applications() -> list[str]:
        calls.append("applications")
        return []

    @app.api_route("/api/payments/search", methods=["GET", "HEAD"])
    def search(
        principal: Annotated[Principal, fastapi_requires(any_scopes=SEARCH_ANY)],
    ) -> list[str]:
        calls.append("search")
        return [principal.subject]

    @app.api_route("/health", methods=["GET", "HEAD"])
    async def health() -> dict[str, str]:
        calls.append("health")
        return {"status": "ok"}

    return Harness(wsgi=False, call=_asgi_client(app), calls=calls)


class _Spy:
    """Innermost ASGI layer that records that the app was reached."""

    def __init__(self, app: Any, calls: list[str]) -> None:
        self.app = app
        self.calls = calls

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            self.calls.append("app")
        await self.app(scope, receive, send)


def _ok(name: str, calls: list[str]) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> JSONResponse:
        calls.append(name)
        return JSONResponse({"route": name})

    return endpoint


def build_starlette_rules() -> Harness:
    calls: list[str] = []
    routes = [
        Route("/api/payment/{payment_id}", _ok("payment", calls)),
        Route("/api/payment-applications", _ok("applications", calls)),
        Route("/api/payments/search", _ok("search", calls)),
        Route("/health", _ok("health", calls)),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(ASGIMiddleware, guard=make_guard()),
            Middleware(_Spy, calls=calls),
        ],
    )
    return Harness(wsgi=False, call=_asgi_client(app), calls=calls)


def build_starlette_requires() -> Harness:
    calls: list[str] = []

    @starlette_requires("payments.get")
    def get_payment(request: Request) -> JSONResponse:  # a sync endpoint
        calls.append("payment")
        return JSONResponse({"subject": request.user.principal.subject})

    @starlette_requires(kinds=["oauth"])
    async def applications(request: Request) -> JSONResponse:
        calls.append("applications")
        return JSONResponse([])

    @starlette_requires(any_scopes=SEARCH_ANY)
    async def search(request: Request) -> JSONResponse:
        calls.append("search")
        return JSONResponse([])

    routes = [
        Route("/api/payment/{payment_id}", get_payment),
        Route("/api/payment-applications", applications),
        Route("/api/payments/search", search),
        Route("/health", _ok("health", calls)),
    ]
    app = Starlette(
        routes=routes, middleware=[Middleware(ASGIMiddleware, guard=make_guard(with_rules=False))]
    )
    return Harness(wsgi=False, call=_asgi_client(app), calls=calls)


def _wsgi_spy(app: Any, calls: list[str]) -> Any:
    def spy(environ: Any, start_response: Any) -> Any:
        calls.append("app")
        return app(environ, start_response)

    return spy


def build_flask_rules() -> Harness:
    calls: list[str] = []
    app = Flask(__name__)
    app.wsgi_app = WSGIMiddleware(_wsgi_spy(app.wsgi_app, calls), make_guard())  # type: ignore[method-assign]

    @app.get("/api/payment/<payment_id>")
    def get_payment(payment_id: str) -> dict[str, str]:
        calls.append("payment")
        return {"id": payment_id, "subject": current_principal.subject}

    @app.get("/api/payment-applications")
    def applications() -> list[str]:
        calls.append("applications")
        return []

    @app.get("/api/payments/search")
    def search() -> list[str]:
        calls.append("search")
        return []

    @app.get("/health")
    def health() -> dict[str, str]:
        calls.append("health")
        return {"status": "ok"}

    return Harness(wsgi=True, call=_wsgi_client(app), calls=calls)


def build_flask_decorator() -> Harness:
    calls: list[str] = []
    app = Flask(__name__)
    app.wsgi_app = WSGIMiddleware(app.wsgi_app, make_guard(with_rules=False))  # type: ignore[method-assign]

    @app.get("/api/payment/<payment_id>")
    @flask_requires("payments.get")
    def get_payment(payment_id: str) -> dict[str, str]:
        calls.append("payment")
        return {"id": payment_id, "subject": current_principal.subject}

    @app.get("/api/payment-applications")
    @flask_requires(kinds=["oauth"])
    def applications() -> list[str]:
        calls.append("applications")
        return []

    @app.get("/api/payments/search")
    @flask_requires(any_scopes=SEARCH_ANY)
    def search() -> list[str]:
        calls.append("search")
        return []

    @app.get("/health")
    def health() -> dict[str, str]:
        calls.append("health")
        return {"status": "ok"}

    return Harness(wsgi=True, call=_wsgi_client(app), calls=calls)


ADAPTERS = {
    "fastapi": build_fastapi,
    "starlette-rules": build_starlette_rules,
    "starlette-requires": build_starlette_requires,
    "flask-rules": build_flask_rules,
    "flask-decorator": build_flask_decorator,
}


@pytest.fixture(params=list(ADAPTERS))
def harness(request: pytest.FixtureRequest) -> Harness:
    return ADAPTERS[request.param]()


@pytest.mark.parametrize(("path", "authorization", "asgi_answer", "wsgi_answer"), CASES)
def test_answers_table(
    harness: Harness,
    path: str,
    authorization: list[str],
    asgi_answer: Answer,
    wsgi_answer: Answer,
) -> None:
    answer = wsgi_answer if harness.wsgi else asgi_answer
    values = tokens()
    headers = [("Authorization", template.format(**values)) for template in authorization]

    reply = harness.call("GET", path, headers)

    assert reply.status == answer.status
    if not answer.refusal:
        assert harness.calls, "a request that passes reaches its handler"
        return
    assert harness.calls == [], "a refused request never reaches the app"
    assert sorted(reply.headers) == sorted(answer.headers())
    assert json.loads(reply.body) == answer.body
    assert reply.body == answer.body_bytes()
    for template in authorization:
        presented = template.format(**values).split(" ")[-1]
        if len(presented) > 8:
            assert presented.encode() not in reply.body  # G-02
            assert all(presented not in value for _, value in reply.headers)

    # HEAD: the same status and headers (content-length included), an empty body.
    head = harness.call("HEAD", path, headers)

    assert (head.status, sorted(head.headers), head.body) == (
        reply.status,
        sorted(reply.headers),
        b"",
    )
    assert harness.calls == []
