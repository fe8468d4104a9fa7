"""WSGI adapter: wraps any WSGI application (Werkzeug, Flask, others).

```python
app.wsgi_app = BearerGuardMiddleware(app.wsgi_app, guard)   # Flask
```

The principal is put in ``environ["bearerguard.principal"]`` (None when anonymous).
Flask is not needed; only the standard WSGI protocol is used.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .exceptions import AuthError
from .guard import Guard

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["BearerGuardMiddleware", "wsgi_denial"]

PRINCIPAL_KEY = "bearerguard.principal"
GUARD_KEY = "bearerguard.guard"

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    503: "Service Unavailable",
}


def wsgi_denial(
    guard: Guard, error: AuthError, method: str
) -> tuple[str, list[tuple[str, str]], list[bytes]]:
    """Render a refusal as a WSGI ``(status line, headers, body iterable)``."""
    status, headers, body = guard.render(error)
    if not any(name.lower() == "content-length" for name, _ in headers):
        headers = [*headers, ("content-length", str(len(body)))]
    line = f"{status} {_REASONS.get(status, 'Error')}"
    return line, headers, [] if method == "HEAD" else [body]


class BearerGuardMiddleware:
    """WSGI middleware that authenticates and authorizes with a :class:`Guard`.

    Args:
        app: The WSGI application to protect.
        guard: The guard that decides.

    Rules match ``PATH_INFO``: the path the application routes on, relative to
    ``SCRIPT_NAME`` when it is mounted. A server joins repeated ``Authorization``
    headers with a comma, which makes them malformed (400).
    """

    def __init__(self, app: WSGIApplication, guard: Guard) -> None:
        if not isinstance(guard, Guard):
            raise TypeError("guard must be a bearerguard.Guard")
        self.app = app
        self.guard = guard

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        guard = self.guard
        method: str = environ.get("REQUEST_METHOD", "GET")
        try:
            if (
                method == "OPTIONS"
                and "HTTP_ORIGIN" in environ
                and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
            ):
                principal = None
            else:
                path = _router_path(environ)
                value: str | None = environ.get("HTTP_AUTHORIZATION")
                # PEP 3333 carries header bytes as latin-1 text: ASCII text encodes back
                # to the very bytes, which the cache-hit path hashes as ASGI's raw ones.
                raw = value.encode() if value is not None and value.isascii() else None
                found = guard._check_cached_raw(method, path, raw)
                if found is None or isinstance(found, bytes):
                    principal = guard._check_full(method, path, value, found)
                else:
                    principal = found
        except AuthError as error:
            status, headers, body = wsgi_denial(guard, error, method)
            start_response(status, headers)
            return body
        environ[GUARD_KEY] = guard
        environ[PRINCIPAL_KEY] = principal
        return self.app(environ, start_response)


def _router_path(environ: dict[str, Any]) -> str:
    path: str = environ.get("PATH_INFO", "")
    if path.isascii():
        return path
    # PEP 3333 native strings carry the bytes as latin-1; routers decode them as UTF-8.
    return path.encode("latin-1", "replace").decode("utf-8", "replace")
