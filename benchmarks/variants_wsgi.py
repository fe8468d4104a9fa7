"""WSGI variants: Flask, bare, peers, a hand-written limit, bearerguard's WSGI adapter."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import jwt
from flask import Flask

from bearerguard.werkzeug import BearerGuardMiddleware

from .fixtures import AUDIENCE, ISSUER, SCOPE, Fixtures
from .registry import DECODE, Variant, register
from .variants_asgi import CACHE_TTL, bearerguard_guard, pyjwt_decode

FLASK_ROUTE = "/api/payment/<payment_id>"


def flask_app(decorate: Any = None) -> Flask:
    app = Flask("bench")

    def get_payment(payment_id: str) -> dict[str, str]:
        return {"id": payment_id}

    view = decorate(get_payment) if decorate is not None else get_payment
    app.add_url_rule(FLASK_ROUTE, "get_payment", view, methods=["GET"])
    return app


def _answer(status: str, body: dict[str, str], challenge: str) -> tuple[str, list[Any], bytes]:
    raw = json.dumps(body).encode()
    headers = [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(raw))),
        ("WWW-Authenticate", challenge),
    ]
    return status, headers, raw


_UNAUTHENTICATED = _answer("401 Unauthorized", {"message": "Unauthenticated"}, 'Bearer realm="api"')
_INVALID = _answer(
    "401 Unauthorized",
    {"message": "Unauthenticated", "error": "invalid_token"},
    'Bearer error="invalid_token"',
)
_FORBIDDEN = _answer(
    "403 Forbidden",
    {"message": "Insufficient permissions", "error": "insufficient_scope"},
    'Bearer error="insufficient_scope"',
)


class HandWrittenMiddleware:
    """The practical limit under WSGI: one environ lookup and a dict lookup."""

    def __init__(self, app: Any, table: dict[str, frozenset[str]]) -> None:
        self.app = app
        self.table = table

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        value = environ.get("HTTP_AUTHORIZATION")
        if value is None or value[:7].lower() != "bearer ":
            answer = _UNAUTHENTICATED
        else:
            scopes = self.table.get(value[7:])
            if scopes is None:
                answer = _INVALID
            elif SCOPE not in scopes:
                answer = _FORBIDDEN
            else:
                environ["bench.scopes"] = scopes
                return self.app(environ, start_response)  # type: ignore[no-any-return]
        start_response(answer[0], answer[1])
        return [answer[2]]


class HandWrittenJWTMiddleware:
    """The practical limit of a cache miss under WSGI: pyjwt's decode, nothing else."""

    def __init__(self, app: Any, fixtures: Fixtures) -> None:
        self.app = app
        self.fixtures = fixtures

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        value = environ.get("HTTP_AUTHORIZATION")
        if value is None or value[:7].lower() != "bearer ":
            answer = _UNAUTHENTICATED
        else:
            try:
                claims = pyjwt_decode(self.fixtures, value[7:])
            except jwt.PyJWTError:
                answer = _INVALID
            else:
                if SCOPE not in claims.get("scope", "").split():
                    answer = _FORBIDDEN
                else:
                    environ["bench.claims"] = claims
                    return self.app(environ, start_response)  # type: ignore[no-any-return]
        start_response(answer[0], answer[1])
        return [answer[2]]


def build_bare(fixtures: Fixtures) -> Flask:
    return flask_app()


def build_handwritten(fixtures: Fixtures) -> Flask:
    app = flask_app()
    app.wsgi_app = HandWrittenMiddleware(app.wsgi_app, fixtures.static_table())  # type: ignore[method-assign]
    return app


def build_handwritten_jwt(fixtures: Fixtures) -> Flask:
    app = flask_app()
    app.wsgi_app = HandWrittenJWTMiddleware(app.wsgi_app, fixtures)  # type: ignore[method-assign]
    return app


def build_httpauth(fixtures: Fixtures) -> Flask:
    from flask_httpauth import HTTPTokenAuth

    auth = HTTPTokenAuth(scheme="Bearer")
    table = fixtures.static_table()

    @auth.verify_token
    def verify_token(token: str) -> frozenset[str] | None:
        return table.get(token)

    @auth.get_user_roles
    def get_user_roles(user: frozenset[str]) -> list[str]:
        return list(user)

    return flask_app(auth.login_required(role=SCOPE))


def build_authlib(fixtures: Fixtures) -> Flask:
    from authlib.integrations.flask_oauth2 import ResourceProtector
    from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
    from joserfc.jwk import RSAKey

    key = RSAKey.import_key(fixtures.public_pem)  # parsed once, not per request

    class Validator(JWTBearerTokenValidator):  # type: ignore[misc]
        def get_jwks(self) -> Any:
            return key

    protector = ResourceProtector()
    protector.register_token_validator(Validator(issuer=ISSUER, resource_server=AUDIENCE))
    return flask_app(protector(SCOPE))


def build_bearerguard(fixtures: Fixtures, *, cache_ttl: float = CACHE_TTL) -> Flask:
    app = flask_app()
    app.wsgi_app = BearerGuardMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, bearerguard_guard(fixtures, cache_ttl=cache_ttl)
    )
    return app


def build_bearerguard_decorator(fixtures: Fixtures) -> Flask:
    from bearerguard.flask import require_scopes

    app = flask_app(require_scopes(SCOPE))
    app.wsgi_app = BearerGuardMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, bearerguard_guard(fixtures, rules=False)
    )
    return app


B = "flask/bare"
register(Variant(B, "Flask, bare", "wsgi", build_bare, role="floor", kind="none", loopback=True))
register(
    Variant(
        "flask/handwritten",
        "hand-written WSGI, dict lookup",
        "wsgi",
        build_handwritten,
        floor=B,
        role="limit",
        kind="static",
        loopback=True,
        note="`environ.get` + dict lookup: the practical limit",
    )
)
register(
    Variant(
        "flask/handwritten-pyjwt",
        "hand-written WSGI, pyjwt RS256 per request",
        "wsgi",
        build_handwritten_jwt,
        floor=B,
        role="limit",
        miss=True,
        reference=DECODE,
        quick=False,
        note="`environ.get` + `jwt.decode`: the practical limit of a cache miss",
    )
)
register(
    Variant(
        "flask/httpauth",
        "flask-httpauth HTTPTokenAuth, static dict",
        "wsgi",
        build_httpauth,
        floor=B,
        kind="static",
        loopback=True,
        note="`verify_token` dict lookup, `login_required(role=...)` for the scope",
    )
)
register(
    Variant(
        "flask/authlib",
        "Authlib ResourceProtector, RFC 9068 JWT validator (RS256 per request)",
        "wsgi",
        build_authlib,
        floor=B,
        miss=True,
        reference=DECODE,
        note="`JWTBearerTokenValidator`, key imported once; Authlib has no token cache",
    )
)
register(
    Variant(
        "flask/bearerguard-static",
        "bearerguard WSGI adapter, static token (cache hit)",
        "wsgi",
        build_bearerguard,
        floor=B,
        role="bearerguard",
        kind="static",
        note="`app.wsgi_app = BearerGuardMiddleware(...)`, `Rule` in the guard",
    )
)
register(
    Variant(
        "flask/bearerguard-jwt-hit",
        "bearerguard WSGI adapter, JWT RS256 (cache hit)",
        "wsgi",
        build_bearerguard,
        floor=B,
        role="bearerguard",
        loopback=True,
        note="`app.wsgi_app = BearerGuardMiddleware(...)`, `Rule` in the guard",
    )
)
register(
    Variant(
        "flask/bearerguard-jwt-miss",
        "bearerguard WSGI adapter, JWT RS256 (cache miss)",
        "wsgi",
        lambda f: build_bearerguard(f, cache_ttl=0),
        floor=B,
        role="bearerguard",
        miss=True,
        reference=DECODE,
        quick=False,
        note="`Guard(cache_ttl=0)`",
    )
)
register(
    Variant(
        "flask/bearerguard-decorator",
        "bearerguard WSGI adapter + `flask.require_scopes` (JWT, cache hit)",
        "wsgi",
        build_bearerguard_decorator,
        floor=B,
        role="bearerguard",
        quick=False,
        note="middleware verifies (no rules); the view decorator checks scopes",
    )
)
