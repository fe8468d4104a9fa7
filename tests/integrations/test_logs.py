"""No token, nor any 8-character piece of one, reaches a log record (G-01).

Every refusal path of the answers table runs through both middlewares with logging at
DEBUG, plus verifiers that misbehave in the ways that leak: an exception whose message
quotes the token, and a refusal whose description quotes it.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bearerguard import Guard, Principal, ServiceUnavailableError, UnauthenticatedError
from bearerguard.starlette import BearerGuardMiddleware as ASGIMiddleware
from bearerguard.werkzeug import BearerGuardMiddleware as WSGIMiddleware

from ._support import (
    CASES,
    PAYMENT,
    http_scope,
    make_guard,
    run_asgi,
    run_wsgi,
    tokens,
    wsgi_environ,
)

pytestmark = pytest.mark.anyio


async def _ok_asgi(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def _ok_wsgi(environ: Any, start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b""]


def pieces(secret: str, size: int = 8) -> set[str]:
    """Every substring of ``size`` characters (the whole secret when shorter)."""
    if len(secret) <= size:
        return {secret}
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def assert_no_secret_logged(records: list[logging.LogRecord], secrets: list[str]) -> None:
    forbidden = set().union(*(pieces(s) for s in secrets if len(s) >= 8))
    for record in records:
        text = " ".join(
            [record.getMessage(), repr(record.args), record.exc_text or "", str(record.exc_info)]
        )
        leaked = [piece for piece in forbidden if piece in text]
        assert not leaked, f"{record.name}: {record.getMessage()!r} leaks {leaked[:3]}"


async def _drive(guard_factory: Any, method: str, path: str, value: str | None) -> None:
    headers = [] if value is None else [(b"authorization", value.encode("latin-1"))]
    await run_asgi(
        ASGIMiddleware(_ok_asgi, guard=guard_factory()), http_scope(method, path, headers)
    )
    run_wsgi(WSGIMiddleware(_ok_wsgi, guard_factory()), wsgi_environ(method, path, value))


async def test_G01_no_token_in_logs_on_any_refusal_path(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    values = tokens()
    presented: list[str] = []

    for param in CASES:
        path, authorization, _, _ = param.values
        for template in authorization:
            value = template.format(**values)
            presented.append(value.partition(" ")[2].strip() or value)
        value = ",".join(template.format(**values) for template in authorization) or None
        await _drive(make_guard, "GET", path, value)
        await _drive(make_guard, "HEAD", path, value)
        # The same token again: the cached refusal path.
        guard = make_guard()
        headers = [] if value is None else [(b"authorization", value.encode("latin-1"))]
        for _ in range(2):
            await run_asgi(ASGIMiddleware(_ok_asgi, guard=guard), http_scope("GET", path, headers))

    assert caplog.records, "the refusal paths log something (at least the 503s)"
    assert_no_secret_logged(caplog.records, [*presented, *values.values()])


class _Leaky:
    """A badly written custom verifier: its errors quote the token."""

    kind = "leaky"

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def accepts(self, token: str) -> bool:
        if self.mode == "accepts":
            raise ValueError(f"cannot classify {token}")
        return token.startswith("lk_")

    def verify(self, token: str) -> Principal:
        if self.mode == "refuse":
            raise UnauthenticatedError(f"unknown token {token}")
        if self.mode == "unavailable":
            raise ServiceUnavailableError(f"store down while reading {token[:12]}")
        if self.mode == "return":
            return token  # type: ignore[return-value]
        raise KeyError(token)


@pytest.mark.parametrize("mode", ["accepts", "refuse", "unavailable", "return", "raise"])
async def test_G01_G02_a_leaky_verifier_does_not_leak_through_bearerguard(
    mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "lk_Tq83NvX0pLm2Zr7Wc5Yd"

    def factory() -> Guard:
        return Guard([_Leaky(mode)])

    messages = await run_asgi(
        ASGIMiddleware(_ok_asgi, guard=factory()),
        http_scope("GET", PAYMENT, [(b"authorization", f"Bearer {secret}".encode())]),
    )
    line, headers, body = run_wsgi(
        WSGIMiddleware(_ok_wsgi, factory()), wsgi_environ("GET", PAYMENT, f"Bearer {secret}")
    )

    assert_no_secret_logged(caplog.records, [secret])
    start = messages[0]
    assert start["status"] == int(line[:3])
    for piece in pieces(secret):
        assert piece.encode() not in messages[1]["body"]
        assert piece.encode() not in body
        assert all(piece.encode() not in value for _, value in start["headers"])
        assert all(piece not in value for _, value in headers)
