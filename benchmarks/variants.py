"""Load every variant module and the references."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .fixtures import Fixtures
from .registry import DECODE, REGISTRY, Variant, register

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
    return REGISTRY
