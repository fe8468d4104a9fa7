"""acting_as: a request acts as a chosen principal under the app's own middleware."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from bearerguard import Guard, Principal, Rule, StaticTokenVerifier
from bearerguard.fastapi import current_principal, require_scopes
from bearerguard.flask import current_principal as flask_principal
from bearerguard.flask import require_scopes as flask_requires
from bearerguard.starlette import BearerGuardMiddleware as ASGIMiddleware
from bearerguard.starlette import requires
from bearerguard.testing import acting_as
from bearerguard.werkzeug import BearerGuardMiddleware as WSGIMiddleware

DEV_TOKEN = "dev_Qm3Zt8Kw51Hx"
ALICE = Principal(
    kind="oauth", subject="alice", client_id="dashboard", scopes={"payments.get"}, claims={"n": 1}
)
NO_SCOPES = Principal(kind="oauth", subject="bob")
CHECKOUT = Principal(kind="client", subject="tok_1", scopes={"payments.create", "payments.get"})


def make_guard() -> Guard:
    return Guard(
        [StaticTokenVerifier({DEV_TOKEN: ["payments.get"]})],
        rules=[Rule("GET", "/ruled", scopes=["payments.get"])],
        public_paths=["/health"],
        cache_ttl=3600,  # a cached principal must not outlive the block either
    )


def fastapi_app(guard: Guard) -> FastAPI:
    app = FastAPI()
    app.add_middleware(ASGIMiddleware, guard=guard)

    @app.get("/me")
    async def me(principal: Annotated[Principal, Depends(current_principal)]) -> dict[str, Any]:
        return {"subject": principal.subject, "same": principal == ALICE}

    @app.get("/payment")
    async def payment(principal: Principal = require_scopes("payments.get")) -> str:
        return principal.subject

    @app.post("/checkout")
    async def checkout(
        principal: Annotated[Principal, require_scopes("payments.create", kinds=["client"])],
    ) -> str:
        return principal.subject

    @app.get("/ruled")
    async def ruled(principal: Annotated[Principal, Depends(current_principal)]) -> str:
        return principal.subject

    return app


def test_fastapi_routes_see_the_principal() -> None:
    guard = make_guard()
    client = TestClient(fastapi_app(guard))
    with acting_as(guard, ALICE) as headers:
        assert client.get("/me", headers=headers).json() == {"subject": "alice", "same": True}
        assert client.get("/payment", headers=headers).json() == "alice"
        assert client.get("/ruled", headers=headers).json() == "alice"
        # The principal is judged like any other: the route's kinds, its scopes.
        refused = client.post("/checkout", headers=headers)
        assert (refused.status_code, refused.json()["error"]) == (403, "insufficient_scope")
    with acting_as(guard, NO_SCOPES) as headers:
        assert client.get("/ruled", headers=headers).json()["required_scopes"] == ["payments.get"]
        assert client.get("/payment", headers=headers).status_code == 403
    with acting_as(guard, CHECKOUT) as headers:
        assert client.post("/checkout", headers=headers).json() == "tok_1"


def test_the_token_dies_with_the_block_even_when_cached() -> None:
    guard = make_guard()
    client = TestClient(fastapi_app(guard))
    before = guard.verifiers
    with acting_as(guard, ALICE) as headers:
        assert client.get("/me", headers=headers).status_code == 200
        assert client.get("/me", headers=headers).status_code == 200  # a cache hit
        assert len(guard.verifiers) == len(before) + 1
    assert guard.verifiers == before
    after = client.get("/me", headers=headers)
    assert after.status_code == 401
    assert after.json()["error_description"] == "The access token is not recognised"


def test_only_the_guard_given_accepts_the_token() -> None:
    guard, other = make_guard(), make_guard()
    mine, theirs = TestClient(fastapi_app(guard)), TestClient(fastapi_app(other))
    with acting_as(guard, ALICE) as headers:
        assert mine.get("/me", headers=headers).status_code == 200
        assert theirs.get("/me", headers=headers).status_code == 401
        # The app's own tokens keep working beside it.
        dev = {"Authorization": f"Bearer {DEV_TOKEN}"}
        assert mine.get("/payment", headers=dev).status_code == 200


def test_each_block_has_its_own_token() -> None:
    guard = make_guard()
    client = TestClient(fastapi_app(guard))
    with acting_as(guard, ALICE) as alice, acting_as(guard, CHECKOUT) as checkout:
        assert alice != checkout
        assert client.get("/payment", headers=alice).json() == "alice"
        assert client.get("/payment", headers=checkout).json() == "tok_1"
    assert client.get("/payment", headers=alice).status_code == 401


def test_an_expired_principal_is_refused() -> None:
    guard = make_guard()
    gone = Principal(kind="oauth", subject="old", expires_at=datetime.now(timezone.utc))
    later = datetime.now(timezone.utc) + timedelta(hours=1)
    with acting_as(guard, gone) as headers:
        answer = TestClient(fastapi_app(guard)).get("/me", headers=headers)
        assert answer.json()["error_description"] == "The access token expired"
    with acting_as(guard, Principal(kind="oauth", subject="new", expires_at=later)) as headers:
        assert TestClient(fastapi_app(guard)).get("/me", headers=headers).status_code == 200


def test_starlette_request_user_and_websockets() -> None:
    @requires("payments.get")
    async def payment(request: Request) -> JSONResponse:
        return JSONResponse({"user": request.user.display_name, "scopes": request.auth.scopes})

    async def socket(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.user.principal.subject)
        await websocket.close()

    guard = make_guard()
    app = Starlette(routes=[Route("/payment", payment), WebSocketRoute("/ws", socket)])
    app.add_middleware(ASGIMiddleware, guard=guard)
    client = TestClient(app)
    with acting_as(guard, ALICE) as headers:
        answer = client.get("/payment", headers=headers)
        assert answer.json() == {"user": "alice", "scopes": ["payments.get"]}
        with client.websocket_connect("/ws", headers=headers) as ws:
            assert ws.receive_text() == "alice"
        with acting_as(guard, NO_SCOPES) as bob:
            assert client.get("/payment", headers=bob).status_code == 403


def test_flask_views_see_the_principal() -> None:
    guard = make_guard()
    app = Flask(__name__)
    app.wsgi_app = WSGIMiddleware(app.wsgi_app, guard)  # type: ignore[method-assign]

    @app.get("/payment")
    @flask_requires("payments.get")
    def payment() -> dict[str, Any]:
        return {"subject": flask_principal.subject, "client": flask_principal.client_id}

    client = app.test_client()
    with acting_as(guard, ALICE) as headers:
        assert client.get("/payment", headers=headers).json == {
            "subject": "alice",
            "client": "dashboard",
        }
    with acting_as(guard, NO_SCOPES) as headers:
        assert client.get("/payment", headers=headers).status_code == 403
    assert client.get("/payment", headers=headers).status_code == 401


def test_the_token_is_random_and_never_in_a_refusal(caplog: pytest.LogCaptureFixture) -> None:
    guard = make_guard()
    client = TestClient(fastapi_app(guard))
    with acting_as(guard, ALICE) as first:
        pass
    with acting_as(guard, ALICE) as second:
        pass
    assert first != second
    token = first["Authorization"].removeprefix("Bearer ")
    assert len(token) > 40
    refused = client.get("/me", headers=first)
    assert token not in refused.text
    assert token not in caplog.text
    assert token not in repr(guard)


def test_misuse_fails_loudly() -> None:
    with pytest.raises(TypeError, match="Guard"), acting_as(object(), ALICE):  # type: ignore[arg-type]
        pass
    with pytest.raises(TypeError, match="Principal"), acting_as(make_guard(), "alice"):  # type: ignore[arg-type]
        pass


def test_act_as_fixture_undoes_at_teardown(act_as: Any) -> None:
    guard = make_guard()
    client = TestClient(fastapi_app(guard))
    assert client.get("/payment", headers=act_as(guard, ALICE)).json() == "alice"
    assert client.get("/me", headers=act_as(guard, CHECKOUT)).json()["subject"] == "tok_1"
    assert len(guard.verifiers) == 3
