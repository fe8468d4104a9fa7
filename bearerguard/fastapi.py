"""FastAPI dependencies on top of :class:`bearerguard.starlette.BearerGuardMiddleware`.

The middleware verifies the token; these dependencies only read its result, so a route
declaration costs one cheap dependency, not a second verification. They also register a
bearer security scheme in the OpenAPI document, so ``/docs`` offers an Authorize button.

```python
@app.get("/api/payment/{payment_id}")
async def get_payment(payment_id: str, principal: Principal = require_scopes("payments.get")):
    ...
```
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import Security
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase
from starlette.requests import HTTPConnection

from ._asgi import enforce
from ._routes import mark, public
from .context import PRINCIPAL_KEY
from .exceptions import MissingCredentialsError
from .principal import Principal
from .rules import Requirement

__all__ = [
    "SCHEME_NAME",
    "current_principal",
    "optional_principal",
    "public",
    "require_scopes",
]

SCHEME_NAME = "BearerGuard"
"""The security scheme's name in the OpenAPI document."""

_MODEL = HTTPBearerModel(description="A bearer token: an OAuth access token or a client token.")


class _RouteRequirement(SecurityBase):
    """One route's declaration, shaped as a FastAPI security scheme."""

    def __init__(self, requirement: Requirement) -> None:
        self.model = _MODEL
        self.scheme_name = SCHEME_NAME
        self.requirement = requirement

    async def __call__(self, request: HTTPConnection) -> Principal:
        return enforce(request.scope, self.requirement)


def require_scopes(*scopes: str, any_scopes: Iterable[str] = (), kinds: Iterable[str] = ()) -> Any:
    """A dependency that demands a principal with these scopes (and kind).

    Use it in ``dependencies=[...]``, as a parameter default
    (``principal: Principal = require_scopes("payments.get")``) or in
    ``Annotated[Principal, require_scopes(...)]``. All of ``scopes`` must be granted;
    at least one of ``any_scopes`` when given; ``kinds`` limits the token kinds.
    """
    requirement = Requirement.build(scopes, any_scopes, kinds)
    documented = list(dict.fromkeys([*requirement.scopes, *requirement.any_scopes]))
    return Security(_RouteRequirement(requirement), scopes=documented)


async def current_principal(request: HTTPConnection) -> Principal:
    """``Depends(current_principal)``: the verified principal, or a 401 answer."""
    if PRINCIPAL_KEY not in request.scope:
        raise RuntimeError("bearerguard: add BearerGuardMiddleware to the application")
    principal: Principal | None = request.scope.get(PRINCIPAL_KEY)
    if principal is None:
        raise MissingCredentialsError()
    return principal


async def optional_principal(request: HTTPConnection) -> Principal | None:
    """``Depends(optional_principal)``: the verified principal, or None without a token.

    The route needs no ``public_paths`` entry: the middleware learns from the app's
    routes that a token is optional here. A token that is sent is still verified, and
    a bad one is refused (401) before the endpoint runs.
    """
    if PRINCIPAL_KEY not in request.scope:
        raise RuntimeError("bearerguard: add BearerGuardMiddleware to the application")
    principal: Principal | None = request.scope[PRINCIPAL_KEY]
    return principal


mark(optional_principal, "optional")
