"""Load every variant module, the references, and issue 4's targets."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .fixtures import Fixtures
from .registry import DECODE, REGISTRY, TARGETS, Target, Variant, register

# Variant modules; one that cannot import (a peer not installed, a feature not yet in
# the library) is reported as skipped with its reason, and the rest still run.
MODULES = (
    "benchmarks.variants_asgi",
    "benchmarks.variants_fastapi",
    "benchmarks.variants_wsgi",
    "benchmarks.variants_client",
    "benchmarks.extras",
)

SKIPPED: dict[str, str] = {}


def _pyjwt_decode(fixtures: Fixtures) -> Callable[[], Any]:
    from .variants_asgi import pyjwt_decode

    token = fixtures.jwt_ok
    return lambda: pyjwt_decode(fixtures, token)


def load_all() -> dict[str, Variant]:
    """Import the variant modules once; returns the registry."""
    if DECODE in REGISTRY:
        return REGISTRY
    register(
        Variant(
            DECODE,
            "pyjwt `jwt.decode` alone (RS256, same token and checks)",
            "func",
            _pyjwt_decode,
            role="floor",
            note="the reference for every cache-miss row",
        )
    )
    for module in MODULES:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            SKIPPED[module.rsplit(".", 1)[-1]] = f"{type(exc).__name__}: {exc}"
    _targets()
    return REGISTRY


def _targets() -> None:
    TARGETS.extend(
        [
            Target(
                "ASGI, cached token, rule in middleware",
                ("starlette/bearerguard-jwt-hit", "starlette/bearerguard-static"),
                "overhead_us",
                1.5,
                peer="AuthenticationMiddleware static +3.3 µs; RS256+TTLCache +6.6 µs",
                limit="hand-written +0.9 µs",
                context=("starlette/handwritten", "starlette/authmw-static"),
            ),
            Target(
                "WSGI (Flask), cached token",
                ("flask/bearerguard-jwt-hit", "flask/bearerguard-static"),
                "overhead_us",
                2.0,
                peer="flask-httpauth +17 µs",
                limit="hand-written +1.4 µs",
                context=("flask/handwritten", "flask/httpauth"),
            ),
            Target(
                "FastAPI require_scopes dependency",
                ("fastapi/bearerguard-require-scopes",),
                "overhead_us",
                12.0,
                peer="HTTPBearer + SecurityScopes + cache +31 µs",
                context=("fastapi/empty-dependency", "fastapi/httpbearer-jwt-ttlcache"),
            ),
            Target(
                "JWT RS256, cache miss",
                ("starlette/bearerguard-jwt-miss", "flask/bearerguard-jwt-miss"),
                "decode_ratio",
                1.05,
                peer="pyjwt decode alone 67 µs",
                context=("starlette/handwritten-pyjwt", "flask/handwritten-pyjwt"),
            ),
            Target(
                "loopback req/s, cached token",
                (
                    "starlette/bearerguard-jwt-hit",
                    "fastapi/bearerguard-require-scopes",
                    "flask/bearerguard-jwt-hit",
                ),
                "rps_ratio",
                0.97,
                peer="AuthenticationMiddleware 0.95x",
                limit="hand-written 0.96x",
                context=("starlette/handwritten", "flask/handwritten"),
            ),
        ]
    )
    if "starlette/bearerguard-client-hit" in REGISTRY:
        TARGETS.append(
            Target(
                "malformed / random client-token spray",
                ("spray",),
                "spray",
                0.95,
            )
        )
