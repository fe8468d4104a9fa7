"""Two small apps, Starlette and Flask, with the same routes behind the middleware.

``/api/payment/{id}``, ``/health`` and ``/api/payment-applications`` answer ``ok`` (the
guard's rules decide them); ``/admin/report`` is declared on the route itself
(``payments.admin``), so its refusals come from the route, after the guard let it in.
"""

from __future__ import annotations

from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bearerguard import Guard
from bearerguard.flask import require_scopes
from bearerguard.starlette import BearerGuardMiddleware as ASGIMiddleware
from bearerguard.starlette import requires
from bearerguard.werkzeug import BearerGuardMiddleware as WSGIMiddleware

from ._support import APPLICATIONS, HEALTH

ADMIN = "/admin/report"


def starlette_app(guard: Guard) -> Starlette:
    async def ok(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    @requires("payments.admin")
    async def admin(request: Request) -> PlainTextResponse:
        return PlainTextResponse("admin")

    paths = ("/api/payment/{payment_id}", HEALTH, APPLICATIONS)
    app = Starlette(routes=[*(Route(path, ok) for path in paths), Route(ADMIN, admin)])
    app.add_middleware(ASGIMiddleware, guard=guard)
    return app


def flask_app(guard: Guard) -> Flask:
    app = Flask(__name__)
    app.wsgi_app = WSGIMiddleware(app.wsgi_app, guard)  # type: ignore[method-assign]

    @app.get("/api/payment/<payment_id>")
    @app.get(HEALTH)
    @app.get(APPLICATIONS)
    def ok(payment_id: str = "") -> str:
        return "ok"

    @app.get(ADMIN)
    @require_scopes("payments.admin")
    def admin() -> str:
        return "admin"

    return app
