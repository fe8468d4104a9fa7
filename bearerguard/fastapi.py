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

from fastapi import FastAPI, Security
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security.base import SecurityBase
from starlette.requests import HTTPConnection

from ._asgi import enforce
from ._asgi_routes import dependency_calls, route_access, walk_routes
from ._oauth2_flows import OAuth2Flows
from ._openapi import BEARER_DESCRIPTION, OAUTH2_SCHEME_NAME, SCHEME_NAME, Operation, describe
from ._routes import declare, mark, public
from .context import PRINCIPAL_KEY
from .exceptions import MissingCredentialsError
from .guard import Guard
from .principal import Principal
from .rules import Requirement

__all__ = [
    "OAUTH2_SCHEME_NAME",
    "SCHEME_NAME",
    "OAuth2Flows",
    "current_principal",
    "document_security",
    "optional_principal",
    "public",
    "require_scopes",
]

_MODEL = HTTPBearerModel(description=BEARER_DESCRIPTION)


class _RouteRequirement(SecurityBase):
    """One route's declaration, shaped as a FastAPI security scheme."""

    def __init__(self, requirement: Requirement) -> None:
        self.model = _MODEL
        self.scheme_name = SCHEME_NAME
        self.requirement = requirement
        declare(self, requirement)  # for the middleware's scopes_supported

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


def document_security(app: FastAPI, guard: Guard, *, oauth2: OAuth2Flows | None = None) -> None:
    """Make ``app``'s OpenAPI document say what ``guard`` and the routes enforce.

    Every protected operation gets its security requirement with its scopes, whether
    a route declaration or one of the guard's rules asks for them (any-of scopes as
    alternatives), its token kinds (``x-bearerguard`` and the description), and its
    400, 401, 403 and 503 answers as the guard renders them. Public operations show
    no security; ``optional_principal`` routes show that a token is optional.

    With ``oauth2`` the document also offers an OAuth 2.0 scheme with the provider's
    flows, so Swagger UI's Authorize dialog lists the scopes and can fetch a token.
    Call it once, after creating the app; the document is built when first asked for.

    Raises:
        RuntimeError: it was already called for this app.
    """
    generate = app.openapi
    if getattr(generate, _DOCUMENTED, False):
        raise RuntimeError("document_security() was already called for this app")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            describe(generate(), _operations(app, guard), guard, oauth2)
        return app.openapi_schema  # type: ignore[return-value]  # set by generate()

    setattr(openapi, _DOCUMENTED, True)
    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


_DOCUMENTED = "__bearerguard_documented__"


def _operations(app: FastAPI, guard: Guard) -> dict[tuple[str, str], Operation]:
    """What each documented operation demands, from the rules and the declarations."""
    found: dict[tuple[str, str], Operation] = {}
    for _, route in walk_routes(app.routes):
        path = getattr(route, "path_format", None)
        if not getattr(route, "include_in_schema", False) or path is None:
            continue
        declared = _declared(route)
        marked = route_access(route)
        for method in getattr(route, "methods", None) or ():
            central = guard.requirement(method, path)
            if marked is not None or central.public:
                # The middleware lets anonymous requests in; only declarations demand.
                if declared:
                    found[path, method.lower()] = Operation.combine(declared)
                else:
                    optional = marked == "optional"
                    found[path, method.lower()] = Operation("optional" if optional else "public")
            else:
                found[path, method.lower()] = Operation.combine([central, *declared])
    return found


def _declared(route: Any) -> list[Requirement]:
    """The requirements a route's dependencies (its router's included) declare."""
    requirements = []
    for call in dependency_calls(route):
        if isinstance(call, _RouteRequirement):
            requirements.append(call.requirement)
        elif call is current_principal:
            requirements.append(Requirement())
    return requirements
