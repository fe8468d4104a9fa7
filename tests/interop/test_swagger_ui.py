"""Swagger UI itself, in headless Chromium, reads what document_security() writes.

FastAPI's ``/docs`` page, served by uvicorn with Swagger UI from npm (no request leaves
the machine): the Authorize dialog offers the OAuth 2.0 flows with every scope the
rules and routes require, next to the bearer field, with no token needed for the page.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

from bearerguard import Guard, Rule, StaticTokenVerifier
from bearerguard.fastapi import OAuth2Flows, document_security, public, require_scopes
from bearerguard.starlette import BearerGuardMiddleware

from ._provider import HERE

pytestmark = pytest.mark.server

DIST = HERE / "node_modules" / "swagger-ui-dist"


def docs_app() -> FastAPI:
    guard = Guard(
        [StaticTokenVerifier({"dev-token": ["payments.get"]})],
        rules=[Rule("POST", "/api/payment/checkout", scopes=["payments.create"], kinds="client")],
        public_paths=["/swagger/{asset:path}"],
    )
    # FastAPI's recipe for self-hosted Swagger UI: its own /docs route, declared public.
    app = FastAPI(title="Payments", docs_url=None, redoc_url=None)

    @app.get("/docs", include_in_schema=False)
    @public
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Payments",
            swagger_js_url="/swagger/swagger-ui-bundle.js",
            swagger_css_url="/swagger/swagger-ui.css",
            swagger_favicon_url="/swagger/favicon-32x32.png",
        )

    app.mount("/swagger", StaticFiles(directory=DIST), name="swagger")
    app.add_middleware(BearerGuardMiddleware, guard=guard)
    document_security(
        app,
        guard,
        oauth2=OAuth2Flows(
            token_url="https://id.example.test/oauth/token",
            authorization_url="https://id.example.test/oauth/authorize",
            scopes={"payments.get": "Read payments"},
        ),
    )

    @app.get("/api/payment/{payment_id}", dependencies=[require_scopes("payments.get")])
    async def get_payment(payment_id: str) -> str:
        return payment_id

    @app.post("/api/payment/checkout")
    async def checkout() -> str:
        return "created"

    return app


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped"
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    (sock,) = [s for srv in server.servers for s in srv.sockets]
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


def test_the_authorize_dialog_offers_the_flows_and_the_scopes(browser: Any) -> None:
    if not (DIST / "swagger-ui-bundle.js").is_file():
        reason = "swagger-ui-dist is not installed in tests/interop (python3 dev.py test does it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + " (CI=true: the interop tests must run)")
        pytest.skip(reason)
    outside: list[str] = []
    with serving(docs_app()) as base:
        page = browser.new_page()
        try:

            def only_loopback(route: Any) -> None:
                if route.request.url.startswith(base):
                    route.continue_()
                else:
                    outside.append(route.request.url)
                    route.abort()

            page.route("**/*", only_loopback)
            page.goto(f"{base}/docs")
            page.locator("button.authorize").first.click(timeout=15_000)
            dialog = page.locator(".modal-ux")
            dialog.wait_for(timeout=15_000)
            text = " ".join(dialog.inner_text().replace("\xa0", " ").split())
        finally:
            page.close()
    assert outside == []
    assert "BearerGuard (http, Bearer)" in text
    assert "BearerGuardOAuth2 (OAuth2, clientCredentials)" in text
    assert "BearerGuardOAuth2 (OAuth2, authorizationCode)" in text
    assert "https://id.example.test/oauth/token" in text
    assert "https://id.example.test/oauth/authorize" in text
    # Each flow lists every scope a route or rule requires, with its description.
    assert text.count("payments.get Read payments") == 2
    assert text.count("payments.create") == 2
