"""Plain Starlette: what the middleware attaches, Starlette's own ``requires``, paths.

Security cases: P-01 (root_path), P-02/P-03 (percent-encoding), P-05 (dot segments),
P-07 (redirect_slashes), P-08 (unknown paths), A-05 (identity isolation).
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.authentication import requires as starlette_own_requires
from starlette.endpoints import HTTPEndpoint
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocket

from bearerguard import Rule
from bearerguard.starlette import BearerGuardMiddleware, PrincipalUser, requires

from ._support import (
    HEALTH,
    MISSING,
    PAYMENT,
    asgi_answer,
    http_scope,
    insufficient,
    make_guard,
    run_asgi,
    token,
)


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(name)}"}


def _recording(calls: list[str], name: str) -> Any:
    async def endpoint(request: Request) -> JSONResponse:
        calls.append(name)
        return JSONResponse({"route": name, "path": request.url.path})

    return endpoint


def payments_app(calls: list[str], **guard_options: Any) -> Starlette:
    """Starlette with a payment route and /health, guarded by the test rules."""
    return Starlette(
        routes=[
            Route("/api/payment/{payment_id}", _recording(calls, "payment")),
            Route("/reports/", _recording(calls, "reports")),
            Route("/health", _recording(calls, "health")),
        ],
        middleware=[Middleware(BearerGuardMiddleware, guard=make_guard(**guard_options))],
    )


# -- what the middleware attaches -------------------------------------------------------


def _introspecting_app(seen: list[dict[str, Any]], **guard_options: Any) -> Starlette:
    async def whoami(request: Request) -> JSONResponse:
        user = request.user
        seen.append(
            {
                "authenticated": user.is_authenticated,
                "principal": getattr(user, "principal", None),
                "display_name": user.display_name,
                "scopes": request.auth.scopes,
                "scope_principal": request.scope["bearerguard.principal"],
            }
        )
        return JSONResponse({})

    return Starlette(
        routes=[Route("/whoami", whoami), Route("/health", whoami)],
        middleware=[Middleware(BearerGuardMiddleware, guard=make_guard(**guard_options))],
    )


def test_request_user_auth_and_scope_carry_the_principal() -> None:
    seen: list[dict[str, Any]] = []
    client = TestClient(_introspecting_app(seen))

    assert client.get("/whoami", headers=bearer("client_get")).status_code == 200

    [found] = seen
    principal = found["principal"]
    assert found["authenticated"] is True
    assert (principal.kind, principal.subject, principal.client_id) == (
        "client",
        "tok_get",
        "app_3b9f",
    )
    assert found["scope_principal"] is principal
    assert found["display_name"] == "tok_get"
    assert found["scopes"] == ["payments.get"]
    assert "cl_get" not in repr(PrincipalUser(principal))


def test_oauth_principal_scopes_reach_request_auth() -> None:
    seen: list[dict[str, Any]] = []
    client = TestClient(_introspecting_app(seen))

    assert client.get("/whoami", headers=bearer("oauth_get")).status_code == 200

    assert seen[0]["principal"].kind == "oauth"
    assert seen[0]["principal"].subject == "user-42"
    assert seen[0]["scopes"] == ["payments.get"]


def test_A05_anonymous_request_after_an_authenticated_one_has_no_identity() -> None:
    seen: list[dict[str, Any]] = []
    client = TestClient(_introspecting_app(seen))

    assert client.get("/whoami", headers=bearer("oauth_get")).status_code == 200
    assert client.get("/health").status_code == 200

    anonymous = seen[1]
    assert anonymous["authenticated"] is False
    assert anonymous["principal"] is None
    assert anonymous["scope_principal"] is None
    assert anonymous["scopes"] == []
    assert anonymous["display_name"] == ""


# -- Starlette's own requires -------------------------------------------------------------


def _own_requires_app(calls: list[str]) -> Starlette:
    @starlette_own_requires("payments.get")
    async def endpoint(request: Request) -> PlainTextResponse:
        calls.append("endpoint")
        return PlainTextResponse("ok")

    @starlette_own_requires("authenticated")
    async def signed_in(request: Request) -> PlainTextResponse:
        calls.append("signed_in")
        return PlainTextResponse("ok")

    # default="public": only Starlette's decorator decides, with its own answers.
    return Starlette(
        routes=[Route("/own", endpoint), Route("/signed-in", signed_in)],
        middleware=[Middleware(BearerGuardMiddleware, guard=make_guard(default="public"))],
    )


@pytest.mark.parametrize(
    ("name", "status"),
    [
        pytest.param(None, 403, id="anonymous"),
        pytest.param("client_get", 200, id="exact-scope"),
        pytest.param("oauth_get", 200, id="exact-scope-oauth"),
        pytest.param("client_none", 403, id="no-scope"),
        # Starlette compares scope names exactly: a granted "*" is not "payments.get".
        pytest.param("client_all", 403, id="star-is-not-an-exact-name"),
    ],
)
def test_starlettes_own_requires_works_with_exact_scope_names(
    name: str | None, status: int
) -> None:
    calls: list[str] = []
    client = TestClient(_own_requires_app(calls))

    response = client.get("/own", headers=bearer(name) if name else {})

    assert response.status_code == status
    if status == 403:
        # Starlette's own answer, not bearerguard's.
        assert response.text == "Forbidden"
        assert "www-authenticate" not in response.headers
        assert calls == []
    else:
        assert calls == ["endpoint"]


def test_starlettes_own_requires_authenticated() -> None:
    calls: list[str] = []
    client = TestClient(_own_requires_app(calls))

    assert client.get("/signed-in").status_code == 403
    # AuthCredentials carry the token's scopes only, not Starlette's "authenticated"
    # marker scope: a route wanting "authenticated" uses bearerguard's requires().
    assert client.get("/signed-in", headers=bearer("client_get")).status_code == 403


# -- root_path and Mount (P-01) ---------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("root_path", "path", "name", "status"),
    [
        pytest.param("/svc", "/svc" + PAYMENT, None, 401, id="root-in-path-no-token"),
        pytest.param("/svc", "/svc" + PAYMENT, "oauth_none", 403, id="root-in-path-no-scope"),
        pytest.param("/svc", "/svc" + PAYMENT, "oauth_get", 200, id="root-in-path-granted"),
        pytest.param("/svc", "/svc/health", None, 200, id="root-in-path-public"),
        pytest.param("/svc", PAYMENT, None, 401, id="root-not-in-path-no-token"),
        pytest.param("/svc", PAYMENT, "oauth_none", 403, id="root-not-in-path-no-scope"),
        pytest.param("/svc", "/health", None, 200, id="root-not-in-path-public"),
        pytest.param("/svc", "/svc", None, 401, id="path-equals-root"),
    ],
)
async def test_P01_root_path_is_removed_like_the_router_does(
    root_path: str, path: str, name: str | None, status: int
) -> None:
    calls: list[str] = []
    headers = [] if name is None else [(b"authorization", f"Bearer {token(name)}".encode())]

    messages = await run_asgi(
        payments_app(calls), http_scope("GET", path, headers, root_path=root_path)
    )

    assert asgi_answer(messages)[0] == status
    assert bool(calls) == (status == 200)


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("name", "status"),
    [
        pytest.param(None, 401, id="no-token"),
        # str.removeprefix("/v") would leave "1/payments/pay_1": no rule, only "authenticated".
        pytest.param("oauth_none", 403, id="no-scope"),
        pytest.param("oauth_get", 200, id="granted"),
    ],
)
async def test_P01_root_path_v_does_not_eat_v1(name: str | None, status: int) -> None:
    calls: list[str] = []
    app = Starlette(
        routes=[Route("/v1/payments/{payment_id}", _recording(calls, "payment"))],
        middleware=[
            Middleware(
                BearerGuardMiddleware,
                guard=make_guard(
                    rules=[Rule("GET", "/v1/payments/{payment_id}", scopes=["payments.get"])]
                ),
            )
        ],
    )
    headers = [] if name is None else [(b"authorization", f"Bearer {token(name)}".encode())]

    messages = await run_asgi(app, http_scope("GET", "/v1/payments/pay_1", headers, root_path="/v"))

    assert asgi_answer(messages)[0] == status
    assert bool(calls) == (status == 200)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        (f"/v1{PAYMENT}", None),
        (f"/v1{PAYMENT}", "oauth_none"),
        (f"/v1{PAYMENT}", "oauth_get"),
        (f"/v1{PAYMENT}/", "oauth_none"),
        ("/v1//api/payment/pay_1", "oauth_none"),
        ("/v1/health", None),
        ("/v1/health", "expired"),
        ("/v1/unknown", None),
        ("/v1/unknown", "client_get"),
    ],
)
def test_P01_same_decision_inside_or_outside_a_mount(path: str, name: str | None) -> None:
    def inner(calls: list[str], guarded: bool) -> Starlette:
        middleware = [Middleware(BearerGuardMiddleware, guard=make_guard())] if guarded else []
        return Starlette(
            routes=[
                Route("/api/payment/{payment_id}", _recording(calls, "payment")),
                Route("/health", _recording(calls, "health")),
            ],
            middleware=middleware,
        )

    # Guard on the mounted app, with rules relative to it.
    inside_calls: list[str] = []
    inside = Starlette(routes=[Mount("/v1", app=inner(inside_calls, guarded=True))])
    # Guard on the outer app, with the same rules under the mount's prefix.
    outside_calls: list[str] = []
    outer_guard = make_guard(
        rules=[Rule("GET", "/v1/api/payment/{payment_id}", scopes=["payments.get"])],
        public_paths=["/v1/health"],
    )
    outside = Starlette(
        routes=[Mount("/v1", app=inner(outside_calls, guarded=False))],
        middleware=[Middleware(BearerGuardMiddleware, guard=outer_guard)],
    )
    headers = bearer(name) if name else {}

    first = TestClient(inside).get(path, headers=headers, follow_redirects=False)
    second = TestClient(outside).get(path, headers=headers, follow_redirects=False)

    assert (first.status_code, first.content) == (second.status_code, second.content)
    assert inside_calls == outside_calls
    if first.status_code in (401, 403):
        assert inside_calls == []


# -- percent-encoding and dot segments (P-02, P-03, P-05) ---------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("raw_path", "path", "status"),
    [
        pytest.param(b"/heal%74h", "/health", 200, id="P02-encoded-public-path-is-public"),
        pytest.param(b"/api/pay%6Dent/pay_1", PAYMENT, 401, id="P02-encoded-letter"),
        pytest.param(b"/api%2Fpayment/pay_1", PAYMENT, 401, id="P02-encoded-slash"),
        pytest.param(b"/health%3F/x", "/health?/x", 401, id="P03-encoded-question-mark"),
        pytest.param(b"/health%23/x", "/health#/x", 401, id="P03-encoded-hash"),
        pytest.param(
            b"/health/%2e%2e/api/payment/pay_1",
            "/health/../api/payment/pay_1",
            401,
            id="P05-encoded-dot-segments",
        ),
        pytest.param(
            b"/health/../api/payment/pay_1",
            "/health/../api/payment/pay_1",
            401,
            id="P05-dot-segments",
        ),
        pytest.param(b"/health;x=1", "/health;x=1", 401, id="P05-matrix-parameter"),
    ],
)
async def test_P02_P03_decided_on_the_decoded_path(raw_path: bytes, path: str, status: int) -> None:
    calls: list[str] = []
    scope = http_scope("GET", path)
    scope["raw_path"] = raw_path

    messages = await run_asgi(payments_app(calls), scope)

    got, _, body = asgi_answer(messages)
    assert got == status
    if status == 401:
        assert body == MISSING.body_bytes()
        assert calls == []


# -- redirect_slashes (P-07) and unknown paths (P-08) ---------------------------------------


@pytest.mark.parametrize(
    ("path", "name", "status"),
    [
        pytest.param(PAYMENT + "/", None, 401, id="trailing-slash-no-token"),
        pytest.param(PAYMENT + "/", "oauth_none", 403, id="trailing-slash-rule-still-applies"),
        pytest.param(PAYMENT + "/", "oauth_get", 307, id="trailing-slash-granted-redirects"),
        pytest.param("/reports", None, 401, id="missing-slash-no-token"),
        pytest.param("/reports", "client_none", 307, id="missing-slash-authenticated-redirects"),
        pytest.param("/api//payment/pay_1", "oauth_none", 403, id="P04-double-slash"),
    ],
)
def test_P07_redirect_slashes_never_runs_a_handler_without_auth(
    path: str, name: str | None, status: int
) -> None:
    calls: list[str] = []
    client = TestClient(payments_app(calls))

    response = client.get(path, headers=bearer(name) if name else {}, follow_redirects=False)

    assert response.status_code == status
    assert calls == []


def test_P07_the_redirect_target_is_decided_again() -> None:
    calls: list[str] = []

    @requires("payments.get")
    async def declared(request: Request) -> JSONResponse:
        calls.append("declared")
        return JSONResponse({})

    app = Starlette(
        routes=[Route("/declared", declared)],
        middleware=[Middleware(BearerGuardMiddleware, guard=make_guard(with_rules=False))],
    )
    client = TestClient(app)

    refused = client.get("/declared/", headers=bearer("client_none"))
    assert [r.status_code for r in refused.history] == [307]
    assert refused.status_code == 403
    assert refused.json() == insufficient("payments.get").body
    assert calls == []

    granted = client.get("/declared/", headers=bearer("client_get"))
    assert granted.status_code == 200
    assert calls == ["declared"]


@pytest.mark.parametrize(
    ("name", "status"),
    [
        pytest.param(None, 401, id="no-token-401-before-404"),
        pytest.param("expired", 401, id="bad-token-401-before-404"),
        pytest.param("client_none", 404, id="valid-token-gets-the-apps-404"),
    ],
)
def test_P08_unknown_path(name: str | None, status: int) -> None:
    calls: list[str] = []
    response = TestClient(payments_app(calls)).get(
        "/admin/secret", headers=bearer(name) if name else {}
    )

    assert response.status_code == status
    if status == 404:
        assert response.text == "Not Found"  # Starlette's own 404
    else:
        assert response.headers["www-authenticate"].startswith('Bearer realm="api"')


# -- bearerguard.starlette.requires on WebSocket and misuse ------------------------------


def _websocket_app(events: list[str]) -> Starlette:
    @requires("payments.get")
    async def echo(websocket: WebSocket) -> None:
        events.append("endpoint")
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"{websocket.user.principal.subject}:{text}")
        await websocket.close()

    return Starlette(
        routes=[WebSocketRoute("/ws", echo)],
        middleware=[Middleware(BearerGuardMiddleware, guard=make_guard(with_rules=False))],
    )


def test_requires_on_websocket_accepts_a_granted_token() -> None:
    events: list[str] = []
    client = TestClient(_websocket_app(events))

    with client.websocket_connect("/ws", headers=bearer("client_get")) as websocket:
        websocket.send_text("hi")
        assert websocket.receive_text() == "tok_get:hi"

    assert events == ["endpoint"]


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        pytest.param(None, MISSING, id="no-token"),
        pytest.param("client_none", insufficient("payments.get"), id="no-scope"),
    ],
)
def test_requires_on_websocket_refuses_before_accept(name: str | None, answer: Any) -> None:
    events: list[str] = []
    client = TestClient(_websocket_app(events))

    headers = bearer(name) if name else {}
    with (
        pytest.raises(WebSocketDenialResponse) as refused,
        client.websocket_connect("/ws", headers=headers),
    ):
        pass  # pragma: no cover - the handshake is refused

    assert refused.value.status_code == answer.status
    assert refused.value.json() == answer.body
    assert refused.value.headers["www-authenticate"] == answer.challenge
    assert events == []


def test_requires_on_an_endpoint_method_and_with_keyword_arguments() -> None:
    calls: list[str] = []

    class Payment(HTTPEndpoint):
        @requires("payments.get")
        async def get(self, request: Request) -> JSONResponse:
            calls.append(request.user.identity)
            return JSONResponse({})

    @requires("payments.get")
    async def by_keyword(*, request: Request) -> JSONResponse:
        calls.append("keyword")
        return JSONResponse({})

    async def calls_by_keyword(request: Request) -> JSONResponse:
        response: JSONResponse = await by_keyword(request=request)
        return response

    app = Starlette(
        routes=[Route("/endpoint", Payment), Route("/keyword", calls_by_keyword)],
        middleware=[Middleware(BearerGuardMiddleware, guard=make_guard(with_rules=False))],
    )
    client = TestClient(app)

    assert client.get("/endpoint", headers=bearer("client_none")).status_code == 403
    assert client.get("/keyword", headers=bearer("client_none")).status_code == 403
    assert calls == []
    assert client.get("/endpoint", headers=bearer("client_get")).status_code == 200
    assert client.get("/keyword", headers=bearer("client_get")).status_code == 200
    assert calls == ["tok_get", "keyword"]


def test_requires_refuses_a_request_that_is_not_a_starlette_connection() -> None:
    @requires("payments.get")
    def endpoint(request: Any) -> None:  # pragma: no cover - never runs
        pass

    with pytest.raises(TypeError, match="Starlette Request or WebSocket"):
        endpoint({"type": "http"})


def test_requires_needs_the_middleware() -> None:
    @requires("payments.get")
    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse({})  # pragma: no cover

    client = TestClient(Starlette(routes=[Route("/", endpoint)]))

    with pytest.raises(RuntimeError, match="BearerGuardMiddleware"):
        client.get("/", headers=bearer("client_get"))


def test_requires_needs_a_request_parameter() -> None:
    with pytest.raises(TypeError, match="request"):

        @requires("payments.get")
        async def endpoint(something: Any) -> None:  # pragma: no cover
            pass


def test_requires_refuses_an_invalid_scope_name() -> None:
    with pytest.raises(ValueError, match="scope"):
        requires("payments get")


def test_middleware_refuses_something_that_is_not_a_guard() -> None:
    with pytest.raises(TypeError, match="Guard"):
        BearerGuardMiddleware(Starlette(), guard=object())  # type: ignore[arg-type]


def test_health_stays_public_with_rules() -> None:
    calls: list[str] = []
    assert TestClient(payments_app(calls)).get(HEALTH).status_code == 200
    assert calls == ["health"]
