"""ASGI plumbing shared by the Starlette and FastAPI adapters (no token formats here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .context import PRINCIPAL_KEY, RequestContext
from .exceptions import AuthError, InvalidRequestError, MissingCredentialsError
from .guard import Guard
from .principal import Principal
from .rules import Requirement

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

__all__ = ["PRINCIPAL_KEY", "bare_context", "enforce", "request_context", "send_denial"]

_DUPLICATE = "More than one Authorization header"
# The tuple constructor, as namedtuple's own _make calls it, without the two Python
# frames of RequestContext(...) or _make: this runs on every request.
_new = tuple.__new__


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


def request_context(scope: Scope) -> RequestContext | None:
    """The core's view of an ``http`` or ``websocket`` scope; None for a CORS preflight.

    One pass over the headers. ``Authorization`` is matched case-insensitively (a
    server should lower-case header names but need not); values are latin-1, as WSGI
    carries them. A preflight (``OPTIONS`` with ``Origin`` and
    ``Access-Control-Request-Method``) passes without a token.

    Raises:
        InvalidRequestError: ``Authorization`` appears more than once (RFC 9110
            section 5.3).
    """
    # A WebSocket handshake is a GET (RFC 6455 section 4.1).
    method = scope["method"] if scope["type"] == "http" else "GET"
    headers = scope["headers"]
    authorization = host = request_id = None
    duplicate = False
    for name, value in headers:
        if len(name) == 13:
            if name == b"authorization" or name.lower() == b"authorization":
                duplicate = authorization is not None
                authorization = value.decode("latin-1")
        elif name == b"host":
            host = value
        elif name == b"x-request-id":
            request_id = value
    if method == "OPTIONS" and _is_preflight(headers):
        return None
    if duplicate:
        raise InvalidRequestError(_DUPLICATE)
    query: bytes = scope.get("query_string", b"")
    # Servers send root_path "" unless the app is mounted under a prefix.
    root_path: str = scope.get("root_path", "")
    return _new(
        RequestContext,
        (
            method,
            route_path(scope) if root_path else scope["path"],
            authorization,
            query.decode("latin-1") if query else "",
            scope.get("scheme", "http"),
            "" if host is None else host.decode("latin-1"),
            root_path,
            None if request_id is None else request_id.decode("latin-1"),
        ),
    )


def _is_preflight(headers: list[tuple[bytes, bytes]]) -> bool:
    """A CORS preflight's headers: ``Origin`` and ``Access-Control-Request-Method``."""
    names = {name.lower() for name, _ in headers}
    return b"origin" in names and b"access-control-request-method" in names


def bare_context(scope: Scope) -> RequestContext:
    """Method, path and request id of a scope whose headers could not be read in full
    (a duplicate ``Authorization``), for the refusal's rendering and its audit event."""
    request_id = next((v for n, v in scope["headers"] if n.lower() == b"x-request-id"), None)
    return RequestContext(
        scope["method"] if scope["type"] == "http" else "GET",
        route_path(scope),
        root_path=scope.get("root_path", ""),
        request_id=None if request_id is None else request_id.decode("latin-1"),
    )


async def send_denial(
    scope: Scope, send: Send, guard: Guard, error: AuthError, request: RequestContext | None = None
) -> None:
    """Answer a refused request or WebSocket handshake with the guard's rendering.

    ``request`` is handed to a renderer that takes one.
    """
    status, headers, body = guard.render(error, request)
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
