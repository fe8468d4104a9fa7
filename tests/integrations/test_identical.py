"""Both adapters give byte-identical answers for the same decision (issue 2, Adapters).

The ASGI middleware and the WSGI middleware are called directly, with no framework and
no test client in between, and their raw output is compared: the ASGI
``http.response.start``/``http.response.body`` messages against the WSGI
``start_response`` arguments and body iterable.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bearerguard import AuthError, Guard, InvalidRequestError, render_error
from bearerguard.starlette import BearerGuardMiddleware as ASGIMiddleware
from bearerguard.werkzeug import BearerGuardMiddleware as WSGIMiddleware

from ._support import (
    CASES,
    DUPLICATE,
    PAYMENT,
    Answer,
    asgi_answer,
    bad_request,
    http_scope,
    make_guard,
    run_asgi,
    run_wsgi,
    tokens,
    verifiers,
    wsgi_environ,
)

pytestmark = pytest.mark.anyio

REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 503: "Service Unavailable"}
REFUSALS = [param for param in CASES if param.values[2].refusal]


def _never_called(calls: list[str]) -> tuple[Any, Any]:
    async def asgi_app(scope: Any, receive: Any, send: Any) -> None:
        calls.append("asgi")

    def wsgi_app(environ: Any, start_response: Any) -> Any:
        calls.append("wsgi")
        return []

    return asgi_app, wsgi_app


async def _both(
    guard_factory: Any, method: str, path: str, value: str | None
) -> tuple[tuple[int, list[tuple[bytes, bytes]], bytes], tuple[str, list[tuple[str, str]], bytes]]:
    calls: list[str] = []
    asgi_app, wsgi_app = _never_called(calls)
    headers = [] if value is None else [(b"authorization", value.encode("latin-1"))]
    messages = await run_asgi(
        ASGIMiddleware(asgi_app, guard=guard_factory()), http_scope(method, path, headers)
    )
    wsgi = run_wsgi(WSGIMiddleware(wsgi_app, guard_factory()), wsgi_environ(method, path, value))
    assert calls == [], "a refused request never reaches the app"
    return asgi_answer(messages), wsgi


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize(("path", "authorization", "asgi_expected", "wsgi_expected"), REFUSALS)
async def test_refusals_are_byte_identical(
    method: str,
    path: str,
    authorization: list[str],
    asgi_expected: Answer,
    wsgi_expected: Answer,
) -> None:
    values = tokens()
    # What a WSGI server makes of repeated headers (gunicorn joins them with ","): the
    # same single value is given to both adapters, so the decision is the same.
    value = ",".join(template.format(**values) for template in authorization) or None

    (status, raw_headers, body), (line, headers, wsgi_body) = await _both(
        make_guard, method, path, value
    )

    assert line == f"{status} {REASONS[status]}"
    assert raw_headers == [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
    assert body == wsgi_body
    assert status == wsgi_expected.status
    assert headers == wsgi_expected.headers()  # exact order too
    assert body == (b"" if method == "HEAD" else wsgi_expected.body_bytes())


async def test_H10_duplicate_headers_render_like_any_invalid_request() -> None:
    guard = make_guard()
    messages = await run_asgi(
        ASGIMiddleware(_never_called([])[0], guard=guard),
        http_scope(
            "GET", PAYMENT, [(b"authorization", b"Bearer a"), (b"authorization", b"Bearer a")]
        ),
    )
    expected = bad_request(DUPLICATE)
    status, headers, body = asgi_answer(messages)
    assert (status, body) == (400, expected.body_bytes())
    assert headers == [(n.encode(), v.encode()) for n, v in expected.headers()]
    assert (status, [(n.decode(), v.decode()) for n, v in headers], body) == render_error(
        InvalidRequestError(DUPLICATE), "api"
    )


def _problem_renderer(error: AuthError, realm: str) -> tuple[int, list[tuple[str, str]], bytes]:
    body = json.dumps({"type": "about:blank", "status": error.status_code}).encode()
    headers = [("Content-Type", "application/problem+json"), ("X-Realm", realm)]
    return error.status_code, headers, body


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(None, id="missing"),
        pytest.param("Bearer", id="malformed"),
        pytest.param("Bearer {unknown}", id="unknown"),
        pytest.param("Bearer {oauth_none}", id="insufficient"),
        pytest.param("Bearer {down}", id="unavailable"),
    ],
)
@pytest.mark.parametrize("method", ["GET", "HEAD"])
async def test_custom_renderer_is_byte_identical(method: str, value: str | None) -> None:
    def factory() -> Guard:
        return Guard(
            verifiers(), rules=make_guard().rules, realm="payments", renderer=_problem_renderer
        )

    presented = None if value is None else value.format(**tokens())
    (status, raw_headers, body), (line, headers, wsgi_body) = await _both(
        factory, method, PAYMENT, presented
    )

    assert line.split(" ", 1)[0] == str(status)
    # Both adapters add the content-length a custom renderer leaves out; names are
    # lower-cased under ASGI (its header names are bytes, lower-case by convention).
    length = str(len(json.dumps({"type": "about:blank", "status": status}).encode()))
    assert headers == [
        ("Content-Type", "application/problem+json"),
        ("X-Realm", "payments"),
        ("content-length", length),
    ]
    assert raw_headers == [(n.lower().encode(), v.encode()) for n, v in headers]
    assert body == wsgi_body
    if method == "GET":
        assert json.loads(body)["status"] == status
    else:
        assert body == b""
