"""Starlette (and FastAPI) adapter: a pure ASGI middleware and an endpoint decorator.

```python
app.add_middleware(BearerGuardMiddleware, guard=guard)
```

The middleware decides every ``http`` and ``websocket`` scope before the app sees it,
passes ``lifespan`` through, and attaches the result as Starlette's
``AuthenticationMiddleware`` does (``request.user``, ``request.auth``) plus
``scope["bearerguard.principal"]``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from starlette.authentication import AuthCredentials, BaseUser, UnauthenticatedUser
from starlette.requests import HTTPConnection

from ._asgi import Receive, Scope, Send, bare_context, enforce, request_context, send_denial
from ._asgi_routes import public_rules, route_scopes
from ._routes import declare, public
from .context import PRINCIPAL_KEY, RequestContext
from .exceptions import AuthError
from .guard import Guard
from .principal import Principal
from .rules import Requirement

__all__ = [
    "ASGIApp",
    "BearerGuardMiddleware",
    "PrincipalCredentials",
    "PrincipalUser",
    "public",
    "requires",
]

_F = TypeVar("_F", bound=Callable[..., Any])
ASGIApp = Callable[[Scope, Receive, Send], Any]
"""An ASGI application: what the middleware wraps."""


class PrincipalUser(BaseUser):
    """``request.user`` for a verified token; ``.principal`` is the Principal."""

    __slots__ = ("principal",)

    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    @property
    def is_authenticated(self) -> bool:
        """Always True."""
        return True

    @property
    def display_name(self) -> str:
        """The principal's subject."""
        return self.principal.subject

    @property
    def identity(self) -> str:
        """The principal's subject."""
        return self.principal.subject

    def __repr__(self) -> str:
        return f"PrincipalUser({self.principal!r})"


class PrincipalCredentials(AuthCredentials):
    """``request.auth`` for a verified token: the granted scopes, as a sorted list.

    The list is built on first read, not per request: most endpoints never look.
    """

    def __init__(self, principal: Principal) -> None:
        # No super().__init__(): it would build the list that ``scopes`` builds lazily.
        self._principal = principal

    @functools.cached_property
    def scopes(self) -> list[str]:  # type: ignore[override]
        """The granted scopes, sorted."""
        return sorted(self._principal.scopes)


_ANONYMOUS_USER = UnauthenticatedUser()


class BearerGuardMiddleware:
    """Pure ASGI middleware that authenticates and authorizes with a :class:`Guard`.

    Args:
        app: The ASGI application to protect.
        guard: The guard that decides.
        public_docs: Serve FastAPI's own documentation routes (``docs_url``,
            ``redoc_url``, ``openapi_url``, the Swagger UI OAuth 2 redirect) without a
            token. False puts them under the guard's rules like any other path.

    Routes declared public on the route (``@public``, ``optional_principal``) are
    learned from the app's routing table on the first request and consulted after the
    guard's ``public_paths``, before its rules; the scopes routes require
    (``requires``, ``require_scopes``) join the rules' in the guard's
    ``scopes_supported`` (protected resource metadata) then.

    A CORS preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``)
    passes without a token. A WebSocket handshake is refused with an HTTP answer where
    the server offers ``websocket.http.response``, else closed with code 1008. An
    :class:`~bearerguard.exceptions.AuthError` raised by an endpoint or dependency
    (``requires``, ``require_scopes``) is rendered here, before the response starts.
    """

    def __init__(self, app: ASGIApp, guard: Guard, *, public_docs: bool = True) -> None:
        if not isinstance(guard, Guard):
            raise TypeError("guard must be a bearerguard.Guard")
        self.app = app
        self.guard = guard
        self.public_docs = public_docs
        # Routes declared public are read on the first request, when all are registered;
        # after it, the guard that knows them decides, at no cost per request.
        self._adecide: Callable[[RequestContext], Awaitable[Principal | None]] = self._learn

    async def _learn(self, request: RequestContext) -> Principal | None:
        rules = public_rules(self.app, docs=self.public_docs)
        scopes = route_scopes(self.app)
        guard = self.guard.with_rules(rules, scopes=scopes) if rules or scopes else self.guard
        self._adecide = guard.adecide
        return await self._adecide(request)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan, and what comes next
            return
        try:
            request = request_context(scope)
        except AuthError as error:
            # A duplicate Authorization header: refused before the guard is asked.
            request = bare_context(scope)
            self.guard.report_refusal(error, request, action="request")
            await send_denial(scope, send, self.guard, error, request)
            return
        try:
            principal = None if request is None else await self._adecide(request)
        except AuthError as error:
            await send_denial(scope, send, self.guard, error, request)
            return
        scope[PRINCIPAL_KEY] = principal
        if principal is None:
            scope["user"] = _ANONYMOUS_USER
            scope["auth"] = AuthCredentials()
        else:
            scope["user"] = PrincipalUser(principal)
            scope["auth"] = PrincipalCredentials(principal)
        try:
            await self.app(scope, receive, send)
        except AuthError as error:
            # Raised by a route declaration, which runs before any response starts.
            try:
                await send_denial(scope, send, self.guard, error, request)
            except Exception:
                # The app had already started its response (the server refuses a second
                # one): the error is the app's own, for its error path (case A-06).
                raise error from None
            self.guard.report_refusal(error, request, principal)


def requires(
    *scopes: str, any_scopes: Iterable[str] = (), kinds: Iterable[str] = ()
) -> Callable[[_F], _F]:
    """Declare what a Starlette endpoint requires (sync, async, or WebSocket).

    ```python
    @requires("payments.get")
    async def get_payment(request): ...
    ```

    The endpoint must take a ``request`` or ``websocket`` parameter. Refusals get the
    same answers as the middleware's (401 without a token, 403 without the scopes).
    """
    requirement = Requirement.build(scopes, any_scopes, kinds)

    def decorator(func: _F) -> _F:
        parameters = list(inspect.signature(func).parameters)
        name = next((p for p in parameters if p in ("request", "websocket")), None)
        if name is None:
            raise TypeError(f'{func.__qualname__} needs a "request" or "websocket" parameter')
        index = parameters.index(name)

        def connection(args: tuple[Any, ...], kwargs: dict[str, Any]) -> HTTPConnection:
            conn = kwargs.get(name, args[index] if index < len(args) else None)
            if not isinstance(conn, HTTPConnection):
                raise TypeError(f'"{name}" must be a Starlette Request or WebSocket')
            return conn

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                enforce(connection(args, kwargs).scope, requirement)
                return await func(*args, **kwargs)

            return declare(async_wrapper, requirement)  # type: ignore[return-value]

        @functools.wraps(func)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            enforce(connection(args, kwargs).scope, requirement)
            return func(*args, **kwargs)

        return declare(sync_wrapper, requirement)  # type: ignore[return-value]

    return decorator
