"""The ASGI protocol edges: raw headers, lifespan, WebSocket, CORS preflight, exceptions.

Security cases: H-10, H-12, H-14, A-01, A-02, A-03, A-04, A-06. Most tests call the
middleware directly with hand-built scopes, as a server would, so nothing in between
normalises what the middleware receives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocket

from bearerguard import InsufficientScopeError, Rule
from bearerguard.starlette import BearerGuardMiddleware

from ._support import (
    BAD_CHARS,
    DUPLICATE,
    EXPIRED,
    MISSING,
    PAYMENT,
    UNAVAILABLE,
    Answer,
    asgi_answer,
    bad_request,
    http_scope,
    insufficient,
    invalid_token,
    make_guard,
    run_asgi,
    token,
    websocket_scope,
)

anyio = pytest.mark.anyio


class Spy:
    """An ASGI app that records every scope it sees and answers 200."""

    def __init__(self) -> None:
        self.scopes: list[Any] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.scopes.append(scope)
        if scope["type"] == "http":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})


def guarded(app: Any = None, **guard_options: Any) -> Any:
    return BearerGuardMiddleware(app or Spy(), guard=make_guard(**guard_options))


def raw_bearer(name: str) -> bytes:
    return f"Bearer {token(name)}".encode()


# -- raw headers (H-10, H-12, H-14) ---------------------------------------------------------


@anyio
@pytest.mark.parametrize(
    ("headers", "answer"),
    [
        pytest.param(
            [(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")],
            bad_request(DUPLICATE),
            id="H10-two-different-values",
        ),
        pytest.param(
            [(b"authorization", raw_bearer("client_get"))] * 2,
            bad_request(DUPLICATE),
            id="H10-two-identical-values",
        ),
        pytest.param(
            [(b"Authorization", raw_bearer("client_get")), (b"authorization", b"Bearer x")],
            bad_request(DUPLICATE),
            id="H10-H14-duplicate-in-another-case",
        ),
        pytest.param(
            [(b"authorization", raw_bearer("client_get")), (b"x-other", b"1")] * 2,
            bad_request(DUPLICATE),
            id="H10-duplicates-apart",
        ),
        pytest.param([(b"Authorization", raw_bearer("client_get"))], None, id="H14-capitalised"),
        pytest.param([(b"AUTHORIZATION", raw_bearer("oauth_get"))], None, id="H14-upper-case"),
        pytest.param([(b"AuThOrIzAtIoN", raw_bearer("client_get"))], None, id="H14-mixed-case"),
        pytest.param([(b"proxy-authorization", raw_bearer("client_get"))], MISSING, id="H15-proxy"),
        pytest.param([(b"x-api-key", token("client_get").encode())], MISSING, id="H15-api-key"),
        pytest.param(
            [(b"authorization", b"Bearer t\xe9k")], bad_request(BAD_CHARS), id="H12-latin1"
        ),
        pytest.param(
            [(b"authorization", "Bearer tök".encode())], bad_request(BAD_CHARS), id="H12-utf8"
        ),
        pytest.param([(b"authorization", b"Bearer t\x00k")], bad_request(BAD_CHARS), id="H12-nul"),
        pytest.param([(b"authorization", b"Bearer t\rk")], bad_request(BAD_CHARS), id="H12-cr"),
        pytest.param([(b"authorization", b"Bearer t\nk")], bad_request(BAD_CHARS), id="H12-lf"),
        pytest.param([(b"authorization", b"Bearer t\x7fk")], bad_request(BAD_CHARS), id="H12-del"),
        pytest.param([(b"authorization", b"Bearer \xff\xfe")], bad_request(BAD_CHARS), id="H12-ff"),
        pytest.param(
            [(b"authorization", b"Bearer\x00t")], bad_request(BAD_CHARS), id="H12-nul-sep"
        ),
        pytest.param([(b"authorization", b"Bearer\xa0t")], bad_request(BAD_CHARS), id="H06-nbsp"),
        pytest.param([(b"authorization", b"\xe9\xe9\xe9\xe9")], MISSING, id="H12-no-scheme"),
        pytest.param([(b"authorization", b"")], MISSING, id="empty-value"),
    ],
)
async def test_raw_header_bytes(headers: list[tuple[bytes, bytes]], answer: Answer | None) -> None:
    spy = Spy()

    messages = await run_asgi(guarded(spy), http_scope("GET", PAYMENT, headers))

    status, raw_headers, body = asgi_answer(messages)
    if answer is None:
        assert status == 200
        assert len(spy.scopes) == 1
        return
    assert (status, body) == (answer.status, answer.body_bytes())
    assert raw_headers == [(n.encode(), v.encode()) for n, v in answer.headers()]
    assert spy.scopes == []


@anyio
async def test_H12_raw_bytes_through_a_fastapi_app_are_400_not_500() -> None:
    app = FastAPI()
    app.add_middleware(BearerGuardMiddleware, guard=make_guard())

    @app.get("/api/payment/{payment_id}")
    async def get_payment(payment_id: str) -> dict[str, str]:
        return {"id": payment_id}  # pragma: no cover - never reached

    for value in (
        b"Bearer t\xe9k",
        b"Bearer \x00",
        b"bearer \xc3\x28",
        b"Bearer a\r\nX-Injected: 1",
    ):
        messages = await run_asgi(app, http_scope("GET", PAYMENT, [(b"authorization", value)]))
        assert asgi_answer(messages)[0] == 400


# -- lifespan (A-03) ------------------------------------------------------------------------


@anyio
async def test_A03_lifespan_passes_through_untouched() -> None:
    spy_messages: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        while True:
            message = await receive()
            spy_messages.append(message["type"])
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return

    # No "headers", no "path", no "method": a lifespan scope has none of them.
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    sent = await run_asgi(
        guarded(app), scope, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    )

    assert spy_messages == ["lifespan.startup", "lifespan.shutdown"]
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert "bearerguard.principal" not in scope


def test_A03_starlette_lifespan_runs_with_the_middleware() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        events.append("startup")
        yield {"db": "ready"}
        events.append("shutdown")

    async def endpoint(request: Request) -> PlainTextResponse:
        return PlainTextResponse(request.state.db)

    app = Starlette(
        routes=[Route("/health", endpoint)],
        lifespan=lifespan,
        middleware=[Middleware(BearerGuardMiddleware, guard=make_guard())],
    )
    with TestClient(app) as client:
        assert client.get("/health").text == "ready"
        assert client.get(PAYMENT).status_code == 401

    assert events == ["startup", "shutdown"]


# -- WebSocket (A-01, A-02) ---------------------------------------------------------------


def _websocket_app(events: list[str]) -> Starlette:
    async def echo(websocket: WebSocket) -> None:
        events.append("endpoint")
        await websocket.accept()
        await websocket.send_text(websocket.user.principal.subject)
        await websocket.close()

    guard = make_guard(rules=[Rule("GET", "/ws", scopes=["payments.get"])])
    return Starlette(
        routes=[WebSocketRoute("/ws", echo)],
        middleware=[Middleware(BearerGuardMiddleware, guard=guard)],
    )


@pytest.mark.parametrize(
    ("value", "answer"),
    [
        pytest.param(None, MISSING, id="no-token"),
        pytest.param("Bearer {expired}", invalid_token(EXPIRED), id="expired"),
        pytest.param("Bearer a b", bad_request(BAD_CHARS), id="malformed"),
        pytest.param("Bearer {client_none}", insufficient("payments.get"), id="no-scope"),
        pytest.param("Bearer {down}", UNAVAILABLE, id="unavailable"),
    ],
)
def test_A01_websocket_refused_with_an_http_denial_response(
    value: str | None, answer: Answer
) -> None:
    from ._support import tokens

    events: list[str] = []
    client = TestClient(_websocket_app(events))
    headers = {} if value is None else {"Authorization": value.format(**tokens())}

    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        client.websocket_connect("/ws", headers=headers),
    ):
        pass  # pragma: no cover - the handshake is refused

    denial = refused.value
    assert denial.status_code == answer.status
    assert denial.content == answer.body_bytes()
    assert sorted((n.decode(), v.decode()) for n, v in denial.headers.raw) == sorted(
        answer.headers()
    )
    assert events == []


def test_A01_websocket_accepted_with_a_valid_token() -> None:
    events: list[str] = []
    client = TestClient(_websocket_app(events))

    with client.websocket_connect(
        "/ws", headers={"Authorization": f"Bearer {token('oauth_get')}"}
    ) as ws:
        assert ws.receive_text() == "user-42"

    assert events == ["endpoint"]


@anyio
@pytest.mark.parametrize(
    "headers",
    [
        pytest.param([], id="no-token"),
        pytest.param([(b"authorization", b"Bearer nope nope")], id="malformed"),
        pytest.param([(b"authorization", raw_bearer("client_none"))], id="no-scope"),
    ],
)
async def test_A01_A02_websocket_closed_1008_without_the_denial_extension(
    headers: list[tuple[bytes, bytes]],
) -> None:
    spy = Spy()
    app = guarded(spy, rules=[Rule("GET", "/ws", scopes=["payments.get"])])
    scope = websocket_scope("/ws", headers, denial=False)
    assert "method" not in scope

    sent = await run_asgi(app, scope, [{"type": "websocket.connect"}])

    assert sent == [{"type": "websocket.close", "code": 1008}]
    assert spy.scopes == []


@anyio
async def test_A01_websocket_denial_messages_with_the_extension() -> None:
    spy = Spy()
    scope = websocket_scope("/ws", [], denial=True)

    sent = await run_asgi(guarded(spy), scope, [{"type": "websocket.connect"}])

    assert [m["type"] for m in sent] == [
        "websocket.http.response.start",
        "websocket.http.response.body",
    ]
    assert sent[0]["status"] == 401
    assert sent[0]["headers"] == [(n.encode(), v.encode()) for n, v in MISSING.headers()]
    assert sent[1]["body"] == MISSING.body_bytes()
    assert spy.scopes == []


@anyio
async def test_A01_websocket_with_a_valid_token_reaches_the_app_with_its_principal() -> None:
    spy = Spy()
    scope = websocket_scope("/ws", [(b"authorization", raw_bearer("client_get"))], denial=False)

    await run_asgi(guarded(spy), scope, [{"type": "websocket.connect"}])

    [seen] = spy.scopes
    assert seen["bearerguard.principal"].subject == "tok_get"
    assert seen["user"].is_authenticated


# -- CORS preflight (A-04) ------------------------------------------------------------------

ORIGIN = "https://shop.example.test"
PREFLIGHT = {"Origin": ORIGIN, "Access-Control-Request-Method": "GET"}


def _cors_app(calls: list[str], *, cors: str | None) -> Starlette:
    async def endpoint(request: Request) -> JSONResponse:
        calls.append(request.method)
        return JSONResponse({})

    cors_layer = Middleware(
        CORSMiddleware,
        allow_origins=[ORIGIN],
        allow_methods=["GET"],
        allow_headers=["authorization"],
    )
    guard_layer = Middleware(BearerGuardMiddleware, guard=make_guard())
    # Starlette's middleware list runs outermost first.
    layers = {
        None: [guard_layer],
        "inside": [guard_layer, cors_layer],
        "outside": [cors_layer, guard_layer],
    }
    return Starlette(
        routes=[Route("/api/payment/{payment_id}", endpoint, methods=["GET", "OPTIONS"])],
        middleware=layers[cors],
    )


def test_A04_preflight_passes_without_a_token() -> None:
    calls: list[str] = []
    response = TestClient(_cors_app(calls, cors=None)).options(PAYMENT, headers=PREFLIGHT)

    assert response.status_code == 200
    assert calls == ["OPTIONS"]


@pytest.mark.parametrize("cors", ["inside", "outside"])
def test_A04_preflight_answered_by_starlettes_cors_middleware(cors: str) -> None:
    calls: list[str] = []
    response = TestClient(_cors_app(calls, cors=cors)).options(PAYMENT, headers=PREFLIGHT)

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    assert calls == []  # the CORS middleware answers preflights itself


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="bare-options"),
        pytest.param({"Origin": ORIGIN}, id="origin-only"),
        pytest.param({"Access-Control-Request-Method": "GET"}, id="request-method-only"),
    ],
)
@pytest.mark.parametrize("cors", [None, "inside"])
def test_A04_an_options_request_that_is_not_a_preflight_needs_a_token(
    headers: dict[str, str], cors: str | None
) -> None:
    calls: list[str] = []
    response = TestClient(_cors_app(calls, cors=cors)).options(PAYMENT, headers=headers)

    assert response.status_code == 401
    assert response.content == MISSING.body_bytes()
    assert calls == []


def test_A04_cors_outside_the_guard_lets_browsers_read_refusals() -> None:
    calls: list[str] = []
    client = TestClient(_cors_app(calls, cors="outside"))

    response = client.get(PAYMENT, headers={"Origin": ORIGIN})

    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert response.content == MISSING.body_bytes()


# -- downstream exceptions (A-06) -------------------------------------------------------------


@anyio
async def test_A06_an_app_exception_after_auth_propagates_unchanged() -> None:
    class Boom(Exception):
        pass

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise Boom("downstream")

    scope = http_scope("GET", PAYMENT, [(b"authorization", raw_bearer("client_get"))])
    with pytest.raises(Boom, match="downstream"):
        await run_asgi(guarded(app), scope)


def test_A06_starlette_answers_500_for_a_downstream_error() -> None:
    async def endpoint(request: Request) -> JSONResponse:
        raise RuntimeError("downstream")

    app = Starlette(
        routes=[Route("/api/payment/{payment_id}", endpoint)],
        middleware=[Middleware(BearerGuardMiddleware, guard=make_guard())],
    )
    client = TestClient(app, raise_server_exceptions=False)

    response = client.get(PAYMENT, headers={"Authorization": f"Bearer {token('client_get')}"})

    assert response.status_code == 500
    assert "www-authenticate" not in response.headers


def test_A06_an_auth_error_after_the_response_started_stays_downstream() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"first chunk"
        raise InsufficientScopeError()

    async def endpoint(request: Request) -> StreamingResponse:
        return StreamingResponse(chunks())

    app = Starlette(
        routes=[Route("/api/payment/{payment_id}", endpoint)],
        middleware=[Middleware(BearerGuardMiddleware, guard=make_guard())],
    )
    client = TestClient(app)

    # Too late for a 403: the app's own error path runs, with the app's own exception.
    with pytest.raises(InsufficientScopeError):
        client.get(PAYMENT, headers={"Authorization": f"Bearer {token('client_get')}"})
