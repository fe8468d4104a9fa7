"""Renderers that see the request, and RFC 9457 problem details, through real apps.

The same requests go through a Starlette app (``TestClient``) and a Flask app (its test
client), refused by the middleware or by a route declaration; both must answer the same
bytes and hand the renderer the same request context.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient

from bearerguard import AuthError, RequestContext, render_error
from bearerguard.rendering import PROBLEM_JSON, ProblemRenderer, takes_request

from ._apps import ADMIN, flask_app, starlette_app
from ._support import APPLICATIONS, PAYMENT, make_guard, token, tokens

Answer = tuple[int, dict[str, str], bytes]


def starlette_client(renderer: Any) -> Callable[..., Answer]:
    # Mounted under /v1: the renderer sees the mount prefix as root_path.
    inner = starlette_app(make_guard(renderer=renderer))
    client = TestClient(Starlette(routes=[Mount("/v1", app=inner)]))

    def call(path: str, value: str | None = None, request_id: str | None = None) -> Answer:
        response = client.get("/v1" + path, headers=_headers(value, request_id))
        return response.status_code, dict(response.headers), response.content

    return call


def flask_client(renderer: Any) -> Callable[..., Answer]:
    client = flask_app(make_guard(renderer=renderer)).test_client()

    def call(path: str, value: str | None = None, request_id: str | None = None) -> Answer:
        headers = _headers(value, request_id)
        response = client.get(path, headers=headers, base_url="http://localhost/v1")
        return response.status_code, dict(response.headers), response.get_data()

    return call


def _headers(value: str | None, request_id: str | None) -> dict[str, str]:
    headers = {} if value is None else {"Authorization": value}
    if request_id is not None:
        headers["X-Request-ID"] = request_id
    return headers


APPS = [pytest.param(starlette_client, id="starlette"), pytest.param(flask_client, id="flask")]


def refusal_headers(answer: Answer) -> dict[str, str]:
    """The headers the guard set (the test clients add none to a refusal but these)."""
    names = ("content-type", "content-length", "cache-control", "www-authenticate", "retry-after")
    headers = {name.lower(): value for name, value in answer[1].items()}
    return {name: headers[name] for name in names if name in headers}


@pytest.mark.parametrize("make_app", APPS)
def test_problem_details_for_every_refusal(make_app: Callable[..., Any]) -> None:
    call = make_app(ProblemRenderer())

    status, headers, body = call(PAYMENT, request_id="req-7")
    assert status == 401
    assert refusal_headers((status, headers, body)) == {
        "content-type": PROBLEM_JSON,
        "content-length": str(len(body)),
        "cache-control": "no-store",
        "www-authenticate": 'Bearer realm="api"',
    }
    assert json.loads(body) == {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": "Authentication required",
        "instance": "/v1" + PAYMENT,
        "request_id": "req-7",
    }

    status, headers, body = call(PAYMENT, f"Bearer {token('expired')}")
    assert json.loads(body) == {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": "The access token expired",
        "instance": "/v1" + PAYMENT,
        "error": "invalid_token",
        "error_description": "The access token expired",
    }
    assert refusal_headers((status, headers, body))["www-authenticate"] == (
        'Bearer realm="api", error="invalid_token", error_description="The access token expired"'
    )

    status, headers, body = call(APPLICATIONS, f"Bearer {token('client_all')}")
    assert (status, json.loads(body)["detail"]) == (403, "This route accepts only oauth tokens")
    assert json.loads(body)["required_scopes"] == []

    status, headers, body = call(PAYMENT, f"Bearer {token('down')}")
    assert status == 503
    assert json.loads(body)["title"] == "Service Unavailable"
    assert refusal_headers((status, headers, body))["retry-after"] == "5"
    assert "www-authenticate" not in refusal_headers((status, headers, body))


@pytest.mark.parametrize("make_app", APPS)
def test_a_route_declaration_refusal_knows_its_request(make_app: Callable[..., Any]) -> None:
    call = make_app(ProblemRenderer(type_base="https://api.example.test/problems/"))
    status, _, body = call(ADMIN, f"Bearer {token('client_get')}", request_id="r-9")
    assert status == 403
    assert json.loads(body) == {
        "type": "https://api.example.test/problems/insufficient_scope",
        "title": "Insufficient permissions",
        "status": 403,
        "detail": "The access token lacks the required scope",
        "instance": "/v1" + ADMIN,
        "request_id": "r-9",
        "error": "insufficient_scope",
        "required_scopes": ["payments.admin"],
    }


@pytest.mark.parametrize(
    ("path", "value", "request_id"),
    [
        pytest.param(PAYMENT, None, "a b", id="missing"),
        pytest.param("/api/payment/caf\u00e9 x", "Bearer " + "n" * 20, None, id="unknown"),
        pytest.param(PAYMENT, "Bearer a,b", "x", id="malformed"),
        pytest.param(APPLICATIONS, "Bearer {client_all}", "k", id="kind"),
        pytest.param(ADMIN, "Bearer {client_get}", "route", id="route"),
        pytest.param(PAYMENT, "Bearer {broken}", None, id="unavailable"),
    ],
)
def test_both_adapters_answer_the_same_bytes(
    path: str, value: str | None, request_id: str | None
) -> None:
    value = None if value is None else value.format(**tokens())
    answers = [
        make(ProblemRenderer())(path, value, request_id)
        for make in (starlette_client, flask_client)
    ]
    (status, _, body), (flask_status, _, flask_body) = answers
    assert (status, body) == (flask_status, flask_body)
    assert refusal_headers(answers[0]) == refusal_headers(answers[1])
    document = json.loads(body)
    assert document["instance"].startswith("/v1/")
    assert " " not in document["instance"]  # percent-encoded


@pytest.mark.parametrize("make_app", APPS)
def test_an_old_renderer_keeps_working(make_app: Callable[..., Any]) -> None:
    calls: list[tuple[str, str]] = []

    def legacy(error: AuthError, realm: str) -> tuple[int, list[tuple[str, str]], bytes]:
        calls.append((type(error).__name__, realm))
        status, headers, body = render_error(error, realm)
        return status, [*headers, ("x-legacy", "1")], body

    assert not takes_request(legacy)
    status, headers, _ = make_app(legacy)(PAYMENT)
    assert (status, headers.get("x-legacy") or headers.get("X-Legacy")) == (401, "1")
    assert calls == [("MissingCredentialsError", "api")]


@pytest.mark.parametrize("make_app", APPS)
def test_a_renderer_with_a_request_keyword_is_handed_the_request(
    make_app: Callable[..., Any],
) -> None:
    seen: list[RequestContext | None] = []

    def mine(
        error: AuthError, realm: str, *, request: RequestContext | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        seen.append(request)
        return render_error(error, realm)

    assert takes_request(mine)
    call = make_app(mine)
    call(PAYMENT, request_id="one")
    call(ADMIN, f"Bearer {token('client_get')}", request_id="two")

    assert [(r.method, r.path, r.root_path, r.request_id) for r in seen if r] == [
        ("GET", PAYMENT, "/v1", "one"),
        ("GET", ADMIN, "/v1", "two"),
    ]
    assert all("Bearer" not in repr(r.request_id) for r in seen if r)


def test_renderer_arity_is_read_from_the_signature() -> None:
    def keyword_only(error: AuthError, realm: str, *, request: Any = None) -> Any: ...
    def positional(error: AuthError, realm: str, request: Any) -> Any: ...
    def anything(error: AuthError, realm: str, **options: Any) -> Any: ...
    def other(error: AuthError, realm: str, req: Any = None) -> Any: ...

    assert takes_request(keyword_only)
    assert takes_request(positional)
    assert takes_request(anything)
    assert takes_request(ProblemRenderer())
    assert not takes_request(other)
    assert not takes_request(print)  # a builtin: called the old way


def test_a_problem_renderer_rejects_an_empty_type_base() -> None:
    with pytest.raises(ValueError, match="type_base"):
        ProblemRenderer(type_base="")
