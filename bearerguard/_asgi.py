"""ASGI plumbing shared by the Starlette and FastAPI adapters (no token formats here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .exceptions import AuthError, MissingCredentialsError
from .guard import Guard
from .principal import Principal
from .rules import Requirement

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

PRINCIPAL_KEY = "bearerguard.principal"


def route_path(scope: Scope) -> str:
    """The path the app's router sees: ``path`` less ``root_path`` on a segment boundary.

    Mirrors Starlette's ``get_route_path``: a server may or may not include
    ``root_path`` in ``path``, and ``root_path="/v"`` must not eat ``/v1``.
    """
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if not root_path or not path.startswith(root_path):
        return path
    if len(path) == len(root_path):
        return ""
    if path[len(root_path)] == "/":
        return path[len(root_path) :]
    return path


def is_preflight(headers: list[tuple[bytes, bytes]]) -> bool:
    """A CORS preflight: ``Origin`` and ``Access-Control-Request-Method`` present."""
    origin = request_method = False
    for name, _ in headers:
        lowered = name.lower()
        if lowered == b"origin":
            origin = True
        elif lowered == b"access-control-request-method":
            request_method = True
    return origin and request_method


async def send_denial(scope: Scope, send: Send, guard: Guard, error: AuthError) -> None:
    """Answer a refused request or WebSocket handshake with the guard's rendering."""
    status, headers, body = guard.render(error)
    raw = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]
    if not any(name == b"content-length" for name, _ in raw):
        raw.append((b"content-length", str(len(body)).encode()))
    if scope["type"] == "websocket":
        if "websocket.http.response" in (scope.get("extensions") or {}):
            await send({"type": "websocket.http.response.start", "status": status, "headers": raw})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            # RFC 6455 section 7.4.1: 1008, policy violation.
            await send({"type": "websocket.close", "code": 1008})
        return
    if scope.get("method") == "HEAD":
        body = b""
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def enforce(scope: Scope, requirement: Requirement) -> Principal:
    """Apply a route declaration to the principal the middleware attached.

    Raises:
        AuthError: rendered by the middleware into the usual answer.
        RuntimeError: ``BearerGuardMiddleware`` is not installed.
    """
    if PRINCIPAL_KEY not in scope:
        raise RuntimeError("bearerguard: add BearerGuardMiddleware to the application")
    principal: Principal | None = scope[PRINCIPAL_KEY]
    if principal is None:
        raise MissingCredentialsError()
    requirement.authorize(principal)
    return principal
