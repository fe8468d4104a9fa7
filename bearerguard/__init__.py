"""bearerguard: bearer-token authentication and scope-based authorization for ASGI and WSGI.

```python
from bearerguard import Guard, JWTVerifier, Rule, StaticTokenVerifier

guard = Guard(
    [
        StaticTokenVerifier({"dev-token": ["payments.get"]}),
        JWTVerifier(issuer="https://id.example.com/", audience="payments-api"),
    ],
    rules=[Rule("GET", "/api/payment/{payment_id}", scopes=["payments.get"])],
    public_paths=["/health"],
)
```

Adapters live in their own modules and are never imported from here:
``bearerguard.starlette``, ``bearerguard.fastapi``, ``bearerguard.werkzeug`` and
``bearerguard.flask``.
"""

from __future__ import annotations

from .context import RequestContext
from .exceptions import (
    AuthError,
    InsufficientScopeError,
    InvalidRequestError,
    MissingCredentialsError,
    ServiceUnavailableError,
    UnauthenticatedError,
    render_error,
)
from .guard import Guard, Renderer
from .principal import JSONClaims, Principal
from .rules import Requirement, Rule
from .verifier import AsyncVerifier, Verifier
from .verifiers import (
    ANY_AUDIENCE,
    ClientTokenVerifier,
    IntrospectionVerifier,
    JWTVerifier,
    StaticTokenVerifier,
)

__version__ = "0.2.0"

__all__ = [
    "ANY_AUDIENCE",
    "AsyncVerifier",
    "AuthError",
    "ClientTokenVerifier",
    "Guard",
    "InsufficientScopeError",
    "IntrospectionVerifier",
    "InvalidRequestError",
    "JSONClaims",
    "JWTVerifier",
    "MissingCredentialsError",
    "Principal",
    "Renderer",
    "RequestContext",
    "Requirement",
    "Rule",
    "ServiceUnavailableError",
    "StaticTokenVerifier",
    "UnauthenticatedError",
    "Verifier",
    "__version__",
    "render_error",
]
