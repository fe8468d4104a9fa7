"""ASGI variants: Starlette and FastAPI, bare, peers, a hand-written limit, bearerguard."""

from __future__ import annotations

import json
from typing import Any

import jwt
from cachetools import TTLCache
from starlette.applications import Starlette
from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    SimpleUser,
    requires,
)
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bearerguard import Guard, JWTVerifier, Rule, StaticTokenVerifier
from bearerguard.starlette import BearerGuardMiddleware

from .fixtures import AUDIENCE, ISSUER, ROUTE, SCOPE, Fixtures
from .registry import DECODE, Variant, register

Scope = dict[str, Any]


# Longer than a full run, so that a cache hit stays a hit for the whole measurement
# (for the peers' caches as for bearerguard's).
CACHE_TTL = 3600.0


def bearerguard_guard(
    fixtures: Fixtures, *, cache_ttl: float = CACHE_TTL, rules: bool = True
) -> Guard:
    """The guard of every bearerguard variant: static tokens first, then RS256 JWTs."""
    return Guard(
        [
            StaticTokenVerifier(fixtures.static_table()),
            JWTVerifier(
                key=fixtures.public_key, algorithms=["RS256"], issuer=ISSUER, audience=AUDIENCE
            ),
        ],
        rules=[Rule("GET", ROUTE, scopes=[SCOPE])] if rules else (),
        cache_ttl=cache_ttl,
    )


def pyjwt_decode(fixtures: Fixtures, token: str) -> dict[str, Any]:
    """What a peer calls per request: pyjwt's decode with the verifier's checks."""
    return jwt.decode(  # type: ignore[no-any-return]
        token,
        fixtures.public_key,
        algorithms=["RS256"],
        audience=AUDIENCE,
        issuer=ISSUER,
        leeway=30,
        options={"require": ["exp"]},
    )


# -- Starlette -----------------------------------------------------------------------


async def payment(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["payment_id"]})


@requires(SCOPE)
async def payment_requires(request: Request) -> Response:
    return JSONResponse({"id": request.path_params["payment_id"]})


def starlette_app(endpoint: Any = payment) -> Starlette:
    return Starlette(routes=[Route(ROUTE, endpoint, methods=["GET"])])


class NoOpMiddleware:
    """The cheapest pure ASGI layer there is: the floor of any middleware."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


def _answer(status: int, body: dict[str, str], challenge: bytes) -> tuple[dict[str, Any], ...]:
    raw = json.dumps(body).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(raw)).encode()),
            (b"www-authenticate", challenge),
        ],
    }
    return start, {"type": "http.response.body", "body": raw}


_UNAUTHENTICATED = _answer(401, {"message": "Unauthenticated"}, b'Bearer realm="api"')
_INVALID = _answer(
    401, {"message": "Unauthenticated", "error": "invalid_token"}, b'Bearer error="invalid_token"'
)
_FORBIDDEN = _answer(
    403,
    {"message": "Insufficient permissions", "error": "insufficient_scope"},
    b'Bearer error="insufficient_scope"',
)


class HandWrittenMiddleware:
    """The practical limit: a raw header scan and a dict lookup, nothing else.

    No b64token check, no hashing, no rules, no expiry: what a team writes in ten
    minutes for a fixed table of tokens that all need ``payments.get``.
    """

    def __init__(self, app: Any, table: dict[str, frozenset[str]]) -> None:
        self.app = app
        self.table = {token.encode(): scopes for token, scopes in table.items()}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        value = None
        for name, raw in scope["headers"]:
            if name == b"authorization":
                value = raw
                break
        if value is None or value[:7].lower() != b"bearer ":
            answer = _UNAUTHENTICATED
        else:
            scopes = self.table.get(value[7:])
            if scopes is None:
                answer = _INVALID
            elif SCOPE not in scopes:
                answer = _FORBIDDEN
            else:
                scope["user"] = scopes
                await self.app(scope, receive, send)
                return
        await send(answer[0])
        await send(answer[1])


class HandWrittenJWTMiddleware:
    """The practical limit of a cache miss: a raw header scan and pyjwt's decode."""

    def __init__(self, app: Any, fixtures: Fixtures) -> None:
        self.app = app
        self.fixtures = fixtures

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        value = None
        for name, raw in scope["headers"]:
            if name == b"authorization":
                value = raw
                break
        if value is None or value[:7].lower() != b"bearer ":
            answer = _UNAUTHENTICATED
        else:
            try:
                claims = pyjwt_decode(self.fixtures, value[7:].decode("latin-1"))
            except jwt.PyJWTError:
                answer = _INVALID
            else:
                if SCOPE not in claims.get("scope", "").split():
                    answer = _FORBIDDEN
                else:
                    scope["user"] = claims
                    await self.app(scope, receive, send)
                    return
        await send(answer[0])
        await send(answer[1])


def _bearer(conn: HTTPConnection) -> str:
    value = conn.headers.get("authorization")
    if value is None:
        raise AuthenticationError("missing")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("missing")
    return token


class StaticBackend(AuthenticationBackend):
    """Starlette's documented way: a backend looking tokens up in a dict."""

    def __init__(self, table: dict[str, frozenset[str]]) -> None:
        self.table = table

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser]:
        scopes = self.table.get(_bearer(conn))
        if scopes is None:
            raise AuthenticationError("invalid")
        return AuthCredentials(scopes), SimpleUser("static")


class JWTBackend(AuthenticationBackend):
    """A backend decoding RS256 with pyjwt, optionally memoised in a ``TTLCache``."""

    def __init__(self, fixtures: Fixtures, *, cached: bool) -> None:
        self.fixtures = fixtures
        self.cache: TTLCache[str, dict[str, Any]] | None = (
            TTLCache(maxsize=10_000, ttl=CACHE_TTL) if cached else None
        )

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, SimpleUser]:
        token = _bearer(conn)
        cache = self.cache
        claims = None
        if cache is not None:
            try:
                claims = cache[token]  # [] not .get(): the fast way to ask a TTLCache
            except KeyError:
                claims = None
        if claims is None:
            try:
                claims = pyjwt_decode(self.fixtures, token)
            except jwt.PyJWTError:
                raise AuthenticationError("invalid") from None
            if cache is not None:
                cache[token] = claims
        return AuthCredentials(claims.get("scope", "").split()), SimpleUser(claims["sub"])


def _on_error(conn: HTTPConnection, exc: AuthenticationError) -> Response:
    return JSONResponse(
        {"message": "Unauthenticated"},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="api"'},
    )


def build_bare(fixtures: Fixtures) -> Starlette:
    return starlette_app()


def build_noop(fixtures: Fixtures) -> Starlette:
    app = starlette_app()
    app.add_middleware(NoOpMiddleware)
    return app


def build_handwritten(fixtures: Fixtures) -> Starlette:
    app = starlette_app()
    app.add_middleware(HandWrittenMiddleware, table=fixtures.static_table())
    return app


def build_handwritten_jwt(fixtures: Fixtures) -> Starlette:
    app = starlette_app()
    app.add_middleware(HandWrittenJWTMiddleware, fixtures=fixtures)
    return app


def build_authmw_static(fixtures: Fixtures) -> Starlette:
    app = starlette_app(payment_requires)
    app.add_middleware(
        AuthenticationMiddleware, backend=StaticBackend(fixtures.static_table()), on_error=_on_error
    )
    return app


def build_authmw_jwt(fixtures: Fixtures, *, cached: bool) -> Starlette:
    app = starlette_app(payment_requires)
    app.add_middleware(
        AuthenticationMiddleware, backend=JWTBackend(fixtures, cached=cached), on_error=_on_error
    )
    return app


def build_bearerguard(fixtures: Fixtures, *, cache_ttl: float = CACHE_TTL) -> Starlette:
    app = starlette_app()
    app.add_middleware(
        BearerGuardMiddleware, guard=bearerguard_guard(fixtures, cache_ttl=cache_ttl)
    )
    return app


S = "starlette/bare"
register(
    Variant(S, "Starlette, bare", "asgi", build_bare, role="floor", kind="none", loopback=True)
)
register(
    Variant(
        "starlette/noop",
        "no-op pure ASGI layer",
        "asgi",
        build_noop,
        floor=S,
        role="floor",
        kind="none",
        note="the cheapest middleware: `await self.app(scope, receive, send)`",
    )
)
register(
    Variant(
        "starlette/handwritten",
        "hand-written ASGI, dict lookup",
        "asgi",
        build_handwritten,
        floor=S,
        role="limit",
        kind="static",
        loopback=True,
        note="raw header scan + dict lookup, no hashing, no checks: the practical limit",
    )
)
register(
    Variant(
        "starlette/handwritten-pyjwt",
        "hand-written ASGI, pyjwt RS256 per request",
        "asgi",
        build_handwritten_jwt,
        floor=S,
        role="limit",
        miss=True,
        reference=DECODE,
        note="raw header scan + `jwt.decode`: the practical limit of a cache miss",
    )
)
register(
    Variant(
        "starlette/authmw-static",
        "Starlette AuthenticationMiddleware, static dict",
        "asgi",
        build_authmw_static,
        floor=S,
        kind="static",
        note="backend: `Headers.get` + dict; endpoint `@requires`",
    )
)
register(
    Variant(
        "starlette/authmw-jwt",
        "Starlette AuthenticationMiddleware, pyjwt RS256 per request",
        "asgi",
        lambda f: build_authmw_jwt(f, cached=False),
        floor=S,
        miss=True,
        reference=DECODE,
        note="decodes every request",
    )
)
register(
    Variant(
        "starlette/authmw-jwt-ttlcache",
        "Starlette AuthenticationMiddleware, pyjwt RS256 + TTLCache",
        "asgi",
        lambda f: build_authmw_jwt(f, cached=True),
        floor=S,
        loopback=True,
        note="cachetools `TTLCache[token]` (the fast `[]`, not `.get`), keyed by the token",
    )
)
register(
    Variant(
        "starlette/bearerguard-static",
        "bearerguard, static token (cache hit)",
        "asgi",
        build_bearerguard,
        floor=S,
        role="bearerguard",
        kind="static",
        note="`BearerGuardMiddleware`, `Rule` in the guard",
    )
)
register(
    Variant(
        "starlette/bearerguard-jwt-hit",
        "bearerguard, JWT RS256 (cache hit)",
        "asgi",
        build_bearerguard,
        floor=S,
        role="bearerguard",
        loopback=True,
        note="`BearerGuardMiddleware`, `Rule` in the guard",
    )
)
register(
    Variant(
        "starlette/bearerguard-jwt-miss",
        "bearerguard, JWT RS256 (cache miss)",
        "asgi",
        lambda f: build_bearerguard(f, cache_ttl=0),
        floor=S,
        role="bearerguard",
        miss=True,
        reference=DECODE,
        note="`Guard(cache_ttl=0)`: the same token is verified on every request",
    )
)
