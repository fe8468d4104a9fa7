"""RFC 9728 protected resource metadata through Starlette, FastAPI and Flask.

The document is served with no token at the well-known URL and its path-inserted form
(section 3.1), HEAD works, other methods get 405, and every challenge names the
metadata URL (section 5.1) with the 403 keeping its ``scope``. Both adapters' raw
answers are byte-identical.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from flask import Flask
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bearerguard import AuthError, Guard, Rule, StaticTokenVerifier
from bearerguard.fastapi import require_scopes as fastapi_require_scopes
from bearerguard.flask import require_scopes as flask_require_scopes
from bearerguard.starlette import BearerGuardMiddleware as ASGIMiddleware
from bearerguard.starlette import requires
from bearerguard.werkzeug import BearerGuardMiddleware as WSGIMiddleware

from ._support import (
    EXPIRED,
    ISSUER,
    PAYMENT,
    REALM,
    SEARCH_ANY,
    asgi_answer,
    http_scope,
    make_guard,
    run_asgi,
    run_wsgi,
    token,
    wsgi_environ,
)

RESOURCE = "https://payments.example/api"
SERVERS = ["https://id.example.com/"]
META = {"resource": RESOURCE, "authorization_servers": SERVERS, "resource_name": "Payments"}
URL = "https://payments.example/.well-known/oauth-protected-resource/api"
PATHS = ["/.well-known/oauth-protected-resource/api", "/.well-known/oauth-protected-resource"]
PARAMETER = f'resource_metadata="{URL}"'
DECLARED = "/declared"  # a route declaration (payments.create), not a rule
DOCUMENT = {
    "resource": RESOURCE,
    "authorization_servers": SERVERS,
    "resource_name": "Payments",
    # The rules of make_guard(), in order: any-of search scopes, then payments.get.
    "scopes_supported": [*SEARCH_ANY, "payments.get"],
    "bearer_methods_supported": ["header"],
}
# What the apps below serve: the scope of their declared route joins the rules' scopes.
SERVED = {**DOCUMENT, "scopes_supported": [*SEARCH_ANY, "payments.get", "payments.create"]}
SERVED = {name: SERVED[name] for name in DOCUMENT}  # the same order of parameters
DOCUMENT_BYTES = json.dumps(SERVED, separators=(",", ":")).encode()

Answer = tuple[int, dict[str, str], bytes]
Call = Callable[..., Answer]


def starlette_app(guard: Guard) -> Any:
    async def payment(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    @requires("payments.create")
    async def declared(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/api/payment/{pid}", payment), Route(DECLARED, declared)])
    app.add_middleware(ASGIMiddleware, guard=guard)
    return app


def fastapi_app(guard: Guard) -> Any:
    app = FastAPI()
    app.add_middleware(ASGIMiddleware, guard=guard)

    @app.get("/api/payment/{pid}")
    async def payment(pid: str) -> dict[str, bool]:
        return {"ok": True}

    @app.get(DECLARED, dependencies=[fastapi_require_scopes("payments.create")])
    async def declared() -> dict[str, bool]:
        return {"ok": True}

    # The guard answers the metadata URL before the app: this route is never reached.
    @app.post(PATHS[0])
    async def shadowed() -> dict[str, str]:
        return {"reached": "the app"}

    return app


def flask_app(guard: Guard) -> Any:
    app = Flask(__name__)
    app.wsgi_app = WSGIMiddleware(app.wsgi_app, guard)  # type: ignore[method-assign]

    @app.get("/api/payment/<pid>")
    def payment(pid: str) -> dict[str, bool]:
        return {"ok": True}

    @app.get(DECLARED)
    @flask_require_scopes("payments.create")
    def declared() -> dict[str, bool]:
        return {"ok": True}

    @app.post(PATHS[0])
    def shadowed() -> dict[str, str]:
        return {"reached": "the app"}

    return app


@pytest.fixture(params=["starlette", "fastapi", "flask"])
def serve(request: pytest.FixtureRequest) -> Iterator[Callable[[Guard], Call]]:
    """``serve(guard)``: an app of one framework behind ``guard``, as a caller."""
    clients: list[TestClient] = []

    def make(guard: Guard) -> Call:
        if request.param == "flask":
            flask_client = flask_app(guard).test_client()

            def flask_call(method: str, path: str, authorization: str | None = None) -> Answer:
                headers = {} if authorization is None else {"Authorization": authorization}
                response = flask_client.open(path, method=method, headers=headers)
                return response.status_code, _lower(response.headers.items()), response.data

            return flask_call
        build = starlette_app if request.param == "starlette" else fastapi_app
        client = TestClient(build(guard))
        clients.append(client)

        def asgi_call(method: str, path: str, authorization: str | None = None) -> Answer:
            headers = {} if authorization is None else {"Authorization": authorization}
            response = client.request(method, path, headers=headers)
            return response.status_code, _lower(response.headers.items()), response.content

        return asgi_call

    yield make
    for client in clients:
        client.close()


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers}


def guard(**options: Any) -> Guard:
    options.setdefault("resource_metadata", META)
    return make_guard(**options)


# -- the document -----------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
def test_document_is_served_without_a_token(serve: Callable[[Guard], Call], path: str) -> None:
    status, headers, body = serve(guard())("GET", path)

    assert status == 200
    assert body == DOCUMENT_BYTES
    assert headers["content-type"] == "application/json"
    assert headers["content-length"] == str(len(DOCUMENT_BYTES))
    assert headers["cache-control"] == "public, max-age=3600"
    assert headers["access-control-allow-origin"] == "*"
    assert "www-authenticate" not in headers


@pytest.mark.parametrize(
    "authorization",
    ["Bearer {expired}", "Bearer", "Basic dXNlcjpwYXNz", "Bearer {client_get}"],
    ids=["expired", "malformed", "other-scheme", "valid"],
)
def test_document_is_served_whatever_the_token(
    serve: Callable[[Guard], Call], authorization: str
) -> None:
    value = authorization.format(expired=token("expired"), client_get=token("client_get"))
    status, _, body = serve(guard())("GET", PATHS[0], value)
    assert (status, body) == (200, DOCUMENT_BYTES)


def test_head_has_the_headers_of_get_and_no_body(serve: Callable[[Guard], Call]) -> None:
    call = serve(guard())
    _, get_headers, _ = call("GET", PATHS[0])
    status, headers, body = call("HEAD", PATHS[0])
    assert (status, body) == (200, b"")
    assert headers["content-length"] == get_headers["content-length"]
    assert headers["content-type"] == "application/json"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_other_methods_get_405_and_never_reach_the_app(
    serve: Callable[[Guard], Call], method: str
) -> None:
    status, headers, body = serve(guard())(method, PATHS[0])
    assert status == 405
    assert headers["allow"] == "GET, HEAD"
    assert json.loads(body) == {"message": "Method not allowed"}
    assert headers["cache-control"] == "no-store"


def test_without_metadata_the_well_known_path_is_an_ordinary_protected_path(
    serve: Callable[[Guard], Call],
) -> None:
    status, headers, _ = serve(make_guard())("GET", PATHS[0])
    assert status == 401
    assert headers["www-authenticate"] == f'Bearer realm="{REALM}"'


def test_a_resource_without_a_path_is_served_at_the_root_only(
    serve: Callable[[Guard], Call],
) -> None:
    call = serve(guard(resource_metadata={"resource": "https://payments.example/"}))
    status, _, body = call("GET", PATHS[1])
    assert status == 200
    assert json.loads(body)["resource"] == "https://payments.example/"
    assert call("GET", PATHS[0])[0] == 401  # not the document's: needs a token
    _, headers, _ = call("GET", PAYMENT)
    expected = 'resource_metadata="https://payments.example/.well-known/oauth-protected-resource"'
    assert headers["www-authenticate"] == f'Bearer realm="{REALM}", {expected}'


def test_authorization_servers_default_to_the_verifiers_issuers(
    serve: Callable[[Guard], Call],
) -> None:
    status, _, body = serve(guard(resource_metadata={"resource": RESOURCE}))("GET", PATHS[0])
    assert status == 200
    assert json.loads(body)["authorization_servers"] == [ISSUER]


def test_declared_scopes_join_the_rules_without_a_rule_of_their_own(
    serve: Callable[[Guard], Call],
) -> None:
    # No rules at all: the document lists what the route declarations require.
    metadata = {"resource": RESOURCE}
    _, _, body = serve(guard(rules=[], resource_metadata=metadata))("GET", PATHS[0])
    assert json.loads(body)["scopes_supported"] == ["payments.create"]


def test_stacked_starlette_declarations_each_add_their_scopes() -> None:
    @requires("refunds.create")
    @requires("payments.get", any_scopes=["search.a", "search.b"])
    async def refund(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/refund", refund)])
    app.add_middleware(
        ASGIMiddleware, guard=guard(rules=[], resource_metadata={"resource": RESOURCE})
    )
    with TestClient(app) as client:
        listed = client.get(PATHS[0]).json()["scopes_supported"]
    assert listed == ["payments.get", "search.a", "search.b", "refunds.create"]


def test_the_guard_given_to_the_middleware_keeps_its_own_document(
    serve: Callable[[Guard], Call],
) -> None:
    # It may serve other apps: what one app declares stays with that app.
    shared = guard()
    status, _, _ = serve(shared)("GET", PATHS[0])
    assert status == 200
    assert shared.resource_metadata is not None
    assert dict(shared.resource_metadata.document) == DOCUMENT


def test_given_scopes_supported_replace_the_rules(serve: Callable[[Guard], Call]) -> None:
    metadata = {**META, "scopes_supported": ["payments.refund"]}
    _, _, body = serve(guard(resource_metadata=metadata))("GET", PATHS[0])
    assert json.loads(body)["scopes_supported"] == ["payments.refund"]


def test_a_percent_encoded_resource_path_is_served_where_the_router_sees_it(
    serve: Callable[[Guard], Call],
) -> None:
    call = serve(guard(resource_metadata={"resource": "https://payments.example/pay%20api"}))
    status, _, body = call("GET", "/.well-known/oauth-protected-resource/pay%20api")
    assert status == 200
    assert json.loads(body)["resource"] == "https://payments.example/pay%20api"


# -- the challenges ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "authorization", "status", "challenge"),
    [
        (PAYMENT, None, 401, f'Bearer realm="{REALM}", {PARAMETER}'),
        (
            PAYMENT,
            "Bearer {expired}",
            401,
            f'Bearer realm="{REALM}", error="invalid_token", error_description="{EXPIRED}", '
            + PARAMETER,
        ),
        (
            PAYMENT,
            "Bearer {client_none}",
            403,
            f'Bearer realm="{REALM}", error="insufficient_scope", scope="payments.get", '
            + PARAMETER,
        ),
        (
            DECLARED,
            "Bearer {client_get}",
            403,
            f'Bearer realm="{REALM}", error="insufficient_scope", scope="payments.create", '
            + PARAMETER,
        ),
        (DECLARED, None, 401, f'Bearer realm="{REALM}", {PARAMETER}'),
        (
            PAYMENT,
            "Bearer",
            400,
            f'Bearer realm="{REALM}", error="invalid_request", '
            f'error_description="The bearer token is empty", {PARAMETER}',
        ),
    ],
    ids=["missing", "invalid", "rule-scope", "declared-scope", "declared-missing", "malformed"],
)
def test_every_challenge_names_the_metadata_url(
    serve: Callable[[Guard], Call],
    path: str,
    authorization: str | None,
    status: int,
    challenge: str,
) -> None:
    value = None
    if authorization is not None:
        names = ("expired", "client_none", "client_get")
        value = authorization.format(**{name: token(name) for name in names})
    # Rules for the payment route, a default that lets DECLARED's declaration decide.
    answer = serve(guard(default="public"))("GET", path, value)
    assert answer[0] == status
    assert answer[1]["www-authenticate"] == challenge


def test_a_503_still_has_no_challenge(serve: Callable[[Guard], Call]) -> None:
    status, headers, _ = serve(guard())("GET", PAYMENT, f"Bearer {token('down')}")
    assert status == 503
    assert "www-authenticate" not in headers


def test_allowed_requests_are_unchanged(serve: Callable[[Guard], Call]) -> None:
    status, _, body = serve(guard())("GET", PAYMENT, f"Bearer {token('client_get')}")
    assert (status, json.loads(body)) == (200, {"ok": True})


def _renderer(error: AuthError, realm: str) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [("Content-Type", "application/problem+json")]
    if error.status_code in (401, 403):
        headers.append(("WWW-Authenticate", f'Bearer realm="{realm}"'))
    return error.status_code, headers, json.dumps({"status": error.status_code}).encode()


def test_a_custom_renderer_gets_the_parameter_and_never_renders_the_document(
    serve: Callable[[Guard], Call],
) -> None:
    call = serve(guard(renderer=_renderer))
    status, headers, body = call("GET", PATHS[0])
    assert (status, body, headers["content-type"]) == (200, DOCUMENT_BYTES, "application/json")
    status, headers, body = call("GET", PAYMENT)
    assert (status, headers["content-type"]) == (401, "application/problem+json")
    assert headers["www-authenticate"] == f'Bearer realm="{REALM}", {PARAMETER}'
    status, headers, _ = call("GET", PAYMENT, f"Bearer {token('down')}")
    assert status == 503
    assert "www-authenticate" not in headers


def test_the_guard_reports_where_it_serves_the_document() -> None:
    served = guard()
    assert served.resource_metadata is not None
    assert served.resource_metadata.url == URL
    assert sorted(served.resource_metadata.paths) == sorted(PATHS)
    assert dict(served.resource_metadata.document) == DOCUMENT
    assert served.requirement("GET", PATHS[0]).public
    assert served.requirement("POST", PATHS[1]).public
    assert not served.requirement("GET", PAYMENT).public
    assert make_guard().resource_metadata is None


# -- byte-identical adapters ------------------------------------------------------


async def _both(method: str, path: str, value: str | None) -> tuple[Any, Any]:
    calls: list[str] = []

    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        calls.append("asgi")

    def wsgi_app(environ: Any, start_response: Any) -> Any:
        calls.append("wsgi")
        return []

    headers = [] if value is None else [(b"authorization", value.encode("latin-1"))]
    messages = await run_asgi(
        ASGIMiddleware(asgi_app, guard=guard()), http_scope(method, path, headers)
    )
    wsgi = run_wsgi(WSGIMiddleware(wsgi_app, guard()), wsgi_environ(method, path, value))
    assert calls == []
    return asgi_answer(messages), wsgi


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "path", "value"),
    [
        ("GET", PATHS[0], None),
        ("HEAD", PATHS[0], None),
        ("GET", PATHS[1], "Bearer nope"),
        ("POST", PATHS[0], None),
        ("GET", PAYMENT, None),
        ("GET", PAYMENT, "Bearer nope"),
        ("HEAD", PAYMENT, "Bearer cl_none_Hy2Tb8Nc61QsJe5F"),
    ],
)
async def test_adapters_answer_byte_identical(method: str, path: str, value: str | None) -> None:
    (status, raw_headers, body), (line, headers, wsgi_body) = await _both(method, path, value)
    reasons = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 405: "Method Not Allowed"}
    assert line == f"{status} {reasons[status]}"
    assert raw_headers == [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
    assert body == wsgi_body
    if method == "HEAD":
        assert body == b""


def test_without_issuers_authorization_servers_is_left_out() -> None:
    plain = Guard(
        [StaticTokenVerifier({"t0ken-abc": ["payments.get"]})],
        rules=[Rule("GET", "/api/payment/{pid}", scopes=["payments.get"])],
        resource_metadata={"resource": RESOURCE},
    )
    assert plain.check("GET", PAYMENT, "Bearer t0ken-abc") is not None
    document = plain.resource_metadata.document if plain.resource_metadata else {}
    assert "authorization_servers" not in document  # no verifier names an issuer
    assert document["scopes_supported"] == ["payments.get"]


def test_repeated_refusals_render_alike_and_distinct_ones_apart() -> None:
    served = guard(rules=[*make_guard().rules, Rule("GET", "/refunds", scopes=["refunds.create"])])
    cases = [
        (PAYMENT, None, f'Bearer realm="{REALM}", {PARAMETER}'),
        (
            PAYMENT,
            f"Bearer {token('client_none')}",
            f'Bearer realm="{REALM}", error="insufficient_scope", scope="payments.get", '
            + PARAMETER,
        ),
        (
            "/refunds",
            f"Bearer {token('client_none')}",
            f'Bearer realm="{REALM}", error="insufficient_scope", scope="refunds.create", '
            + PARAMETER,
        ),
    ]
    for _ in range(3):
        for path, authorization, challenge in cases:
            with pytest.raises(AuthError) as caught:
                served.check("GET", path, authorization)
            _, headers, _ = served.render(caught.value)
            assert dict(headers)["www-authenticate"] == challenge
            headers.append(("x-mutated", "by the caller"))  # a fresh list every time
            assert "x-mutated" not in dict(served.render(caught.value)[1])
