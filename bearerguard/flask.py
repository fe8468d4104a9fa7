"""Flask helpers on top of :class:`bearerguard.werkzeug.BearerGuardMiddleware`.

```python
app.wsgi_app = BearerGuardMiddleware(app.wsgi_app, guard)

@app.get("/api/payment/<payment_id>")
@require_scopes("payments.get")
def get_payment(payment_id):
    return {"id": payment_id, "client": current_principal.client_id}
```
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from flask import Response, request
from werkzeug.local import LocalProxy

from ._routes import declare, mark, public
from .context import PRINCIPAL_KEY
from .exceptions import AuthError, MissingCredentialsError
from .guard import Guard
from .principal import Principal
from .rules import Requirement
from .werkzeug import GUARD_KEY, request_context, wsgi_denial

__all__ = ["current_principal", "public", "require_scopes"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _principal() -> Principal | None:
    return cast("Principal | None", request.environ.get(PRINCIPAL_KEY))


current_principal: Principal = cast("Principal", LocalProxy(_principal))
"""The verified principal of the current request; a proxy to None when anonymous."""


class _Refused(Exception):
    def __init__(self, guard: Guard, error: AuthError) -> None:
        self.guard = guard
        self.error = error


def require_scopes(
    *scopes: str,
    any_scopes: Iterable[str] = (),
    kinds: Iterable[str] = (),
    optional: bool = False,
) -> Callable[[_F], _F]:
    """Decorate a view: its caller must hold these scopes (and be of these kinds).

    Place it below ``@app.route``. Refusals get the same answers as the middleware's,
    and so does an :class:`~bearerguard.exceptions.AuthError` the view raises itself.

    With ``optional=True`` a request without a token reaches the view anonymously
    (``current_principal`` is None), as with flask-httpauth's ``optional``; the
    middleware learns this from the app and needs no ``public_paths`` entry. A token
    that is presented must still be valid (401) and hold the scopes (403).
    """
    requirement = Requirement.build(scopes, any_scopes, kinds)

    def decorator(view: _F) -> _F:
        def guard_and_principal() -> tuple[Guard, Principal | None]:
            environ = request.environ
            guard: Guard | None = environ.get(GUARD_KEY)
            if guard is None:
                raise RuntimeError("bearerguard: wrap app.wsgi_app in BearerGuardMiddleware")
            principal: Principal | None = environ.get(PRINCIPAL_KEY)
            if principal is None:
                if optional:
                    return guard, None
                raise _Refused(guard, MissingCredentialsError())
            try:
                guard.authorize(principal, requirement)
            except AuthError as error:
                raise _Refused(guard, error) from None
            return guard, principal

        def refusal(guard: Guard, error: AuthError) -> Response:
            environ = request.environ
            context = request_context(environ)
            guard.report_refusal(error, context, environ.get(PRINCIPAL_KEY))
            status, headers, body = wsgi_denial(guard, error, request.method, context)
            return Response(body, status=status, headers=headers)

        # An AuthError the view raises itself (a token acting for another application,
        # say) gets the same answer, as under ASGI.
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    guard, _ = guard_and_principal()
                except _Refused as refused:
                    return refusal(refused.guard, refused.error)
                try:
                    return await view(*args, **kwargs)
                except AuthError as error:
                    return refusal(guard, error)

            declare(async_wrapper, requirement)
            return cast("_F", mark(async_wrapper, "optional") if optional else async_wrapper)

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                guard, _ = guard_and_principal()
            except _Refused as refused:
                return refusal(refused.guard, refused.error)
            try:
                return view(*args, **kwargs)
            except AuthError as error:
                return refusal(guard, error)

        declare(wrapper, requirement)
        return cast("_F", mark(wrapper, "optional") if optional else wrapper)

    return decorator
