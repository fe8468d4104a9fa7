"""FastAPI variants: bare, HTTPBearer + SecurityScopes, bearerguard's dependency."""

from __future__ import annotations

from typing import Any

import jwt
from cachetools import TTLCache
from fastapi import Depends, FastAPI, HTTPException, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes

from bearerguard import Principal
from bearerguard.fastapi import require_scopes
from bearerguard.starlette import BearerGuardMiddleware

from .fixtures import ROUTE, SCOPE, Fixtures
from .registry import Variant, register
from .variants_asgi import CACHE_TTL, bearerguard_guard, pyjwt_decode

# FastAPI reads these annotations at run time: they must resolve at module level.
_BEARER = HTTPBearer(auto_error=False)


def _fastapi_bare() -> Any:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get(ROUTE)
    async def get_payment(payment_id: str) -> dict[str, str]:
        return {"id": payment_id}

    return app


async def _nothing() -> None:
    return None


def build_fastapi_empty_dependency(fixtures: Fixtures) -> Any:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @app.get(ROUTE)
    async def get_payment(payment_id: str, nothing: None = Depends(_nothing)) -> dict[str, str]:
        return {"id": payment_id}

    return app


def build_fastapi_httpbearer(fixtures: Fixtures) -> Any:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    cache: TTLCache[str, dict[str, Any]] = TTLCache(maxsize=10_000, ttl=CACHE_TTL)

    async def claims_for(
        security_scopes: SecurityScopes,
        credentials: HTTPAuthorizationCredentials | None = Depends(_BEARER),
    ) -> dict[str, Any]:
        if credentials is None:
            raise HTTPException(401, "Unauthenticated", {"WWW-Authenticate": "Bearer"})
        token = credentials.credentials
        try:
            claims = cache[token]
        except KeyError:
            try:
                claims = pyjwt_decode(fixtures, token)
            except jwt.PyJWTError:
                raise HTTPException(
                    401, "invalid_token", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
                ) from None
            cache[token] = claims
        granted = set(claims.get("scope", "").split())
        if not all(scope in granted for scope in security_scopes.scopes):
            raise HTTPException(403, "insufficient_scope")
        return claims

    @app.get(ROUTE)
    async def get_payment(
        payment_id: str,
        claims: dict[str, Any] = Security(claims_for, scopes=[SCOPE]),
    ) -> dict[str, str]:
        return {"id": payment_id}

    return app


def build_fastapi_bearerguard(fixtures: Fixtures, *, dependency: bool) -> Any:
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    if dependency:

        @app.get(ROUTE)
        async def get_payment(
            payment_id: str, principal: Principal = require_scopes(SCOPE)
        ) -> dict[str, str]:
            return {"id": payment_id}

    else:

        @app.get(ROUTE)
        async def get_payment_rule(payment_id: str) -> dict[str, str]:
            return {"id": payment_id}

    app.add_middleware(
        BearerGuardMiddleware, guard=bearerguard_guard(fixtures, rules=not dependency)
    )
    return app


F = "fastapi/bare"
register(
    Variant(
        F,
        "FastAPI, bare",
        "asgi",
        lambda f: _fastapi_bare(),
        role="floor",
        kind="none",
        loopback=True,
    )
)
register(
    Variant(
        "fastapi/empty-dependency",
        "FastAPI, one empty async dependency (no auth)",
        "asgi",
        build_fastapi_empty_dependency,
        floor=F,
        role="floor",
        kind="none",
        note="`Depends(async def nothing(): ...)`: what any route-level declaration costs",
    )
)
register(
    Variant(
        "fastapi/httpbearer-jwt-ttlcache",
        "FastAPI HTTPBearer + SecurityScopes, pyjwt RS256 + TTLCache",
        "asgi",
        build_fastapi_httpbearer,
        floor=F,
        loopback=True,
        note="`Security(dep, scopes=[...])` with `Depends(HTTPBearer(auto_error=False))`",
    )
)
register(
    Variant(
        "fastapi/bearerguard-require-scopes",
        "bearerguard, `require_scopes` on the route (JWT, cache hit)",
        "asgi",
        lambda f: build_fastapi_bearerguard(f, dependency=True),
        floor=F,
        role="bearerguard",
        loopback=True,
        note="middleware verifies (no rules); the route's dependency only checks scopes",
    )
)
register(
    Variant(
        "fastapi/bearerguard-rule",
        "bearerguard, `Rule` in the middleware (JWT, cache hit)",
        "asgi",
        lambda f: build_fastapi_bearerguard(f, dependency=False),
        floor=F,
        role="bearerguard",
        quick=False,
        note="the same decision with no FastAPI dependency at all",
    )
)
