"""WSGI adapter: wraps any WSGI application (Werkzeug, Flask, others).

```python
app.wsgi_app = BearerGuardMiddleware(app.wsgi_app, guard)   # Flask
```

The principal is put in ``environ["bearerguard.principal"]`` (None when anonymous).
Flask is not needed; only the standard WSGI protocol is used.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ._wsgi_routes import find_app, public_rules, route_scopes
from .context import PRINCIPAL_KEY, RequestContext
from .exceptions import AuthError
from .guard import Guard
from .principal import Principal

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["GUARD_KEY", "BearerGuardMiddleware", "request_context", "wsgi_denial"]

GUARD_KEY = "bearerguard.guard"
"""Where the middleware leaves its guard in ``environ``, for the Flask helpers."""
# The tuple constructor, as namedtuple's own _make calls it, without the two Python
# frames of RequestContext(...) or _make: this runs on every request.
_new = tuple.__new__

_REASONS = {
    200: "OK",  # the guard's own answers (protected resource metadata)
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


def wsgi_denial(
    guard: Guard, error: AuthError, method: str, request: RequestContext | None = None
) -> tuple[str, list[tuple[str, str]], list[bytes]]:
    """Render a refusal as a WSGI ``(status line, headers, body iterable)``.

    ``request`` is handed to a renderer that takes one.
    """
    status, headers, body = guard.render(error, request)
    if not any(name.lower() == "content-length" for name, _ in headers):
        headers = [*headers, ("content-length", str(len(body)))]
    line = f"{status} {_REASONS.get(status, 'Error')}"
    return line, headers, [] if method == "HEAD" else [body]


class BearerGuardMiddleware:
    """WSGI middleware that authenticates and authorizes with a :class:`Guard`.

    Args:
        app: The WSGI application to protect.
        guard: The guard that decides.

    Views a Flask app declares public (``@public``, ``require_scopes(optional=True)``)
    are learned from its URL map on the first request and consulted after the guard's
    ``public_paths``, before its rules.

    Rules match ``PATH_INFO``: the path the application routes on, relative to
    ``SCRIPT_NAME`` when it is mounted. A server joins repeated ``Authorization``
    headers with a comma, which makes them malformed (400).
    """

    def __init__(self, app: WSGIApplication, guard: Guard) -> None:
        if not isinstance(guard, Guard):
            raise TypeError("guard must be a bearerguard.Guard")
        self.app = app
        self.guard = guard
        # A Flask app's views are registered after app.wsgi_app is wrapped: the ones
        # declared public are read on the first request; after it, the guard that knows
        # them decides, at no cost per request.
        self._decide: Callable[[RequestContext], Principal | None] = self._learn

    def _learn(self, request: RequestContext) -> Principal | None:
        routed = find_app(self.app)
        rules = [] if routed is None else public_rules(routed)
        scopes = [] if routed is None else route_scopes(routed)
        guard = self.guard.with_rules(rules, scopes=scopes) if rules or scopes else self.guard
        self._decide = guard.decide
        return self._decide(request)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        guard = self.guard
        request = request_context(environ)
        try:
            principal = None if request is None else self._decide(request)
        except AuthError as error:
            method = environ.get("REQUEST_METHOD", "")
            status, headers, body = wsgi_denial(guard, error, method, request)
            start_response(status, headers)
            return body
        environ[GUARD_KEY] = guard
        environ[PRINCIPAL_KEY] = principal
        return self.app(environ, start_response)


def request_context(environ: WSGIEnvironment) -> RequestContext | None:
    """The core's view of a WSGI request; None for a CORS preflight.

    PEP 3333 strings carry the header bytes as latin-1 text. A preflight (``OPTIONS``
    with ``Origin`` and ``Access-Control-Request-Method``) passes without a token.
    """
    method: str = environ.get("REQUEST_METHOD", "GET")
    if (
        method == "OPTIONS"
        and "HTTP_ORIGIN" in environ
        and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ
    ):
        return None
    path: str = environ.get("PATH_INFO", "")
    if not path.isascii():
        # PEP 3333 native strings carry the bytes as latin-1; routers decode them as UTF-8.
        path = path.encode("latin-1", "replace").decode("utf-8", "replace")
    return _new(
        RequestContext,
        (
            method,
            path,
            environ.get("HTTP_AUTHORIZATION"),
            environ.get("QUERY_STRING", ""),
            environ.get("wsgi.url_scheme", "http"),
            environ.get("HTTP_HOST", ""),
            environ.get("SCRIPT_NAME", ""),
            environ.get("HTTP_X_REQUEST_ID"),
        ),
    )
