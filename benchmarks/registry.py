"""The variant registry: every app the benchmark measures.

A variant module calls :func:`register` at import time. Adding a variant (a new peer, a
new verifier) means writing one builder and one call; the checks, the timing, the
loopback servers and the report pick it up by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from .fixtures import Fixtures

Interface = Literal["asgi", "wsgi", "func"]
Role = Literal["floor", "peer", "limit", "bearerguard"]


@dataclass(frozen=True)
class Variant:
    """One app to measure.

    Attributes:
        name: Unique id, ``framework/what`` (``starlette/bearerguard-jwt-hit``).
        label: What the table shows.
        interface: ``asgi`` or ``wsgi`` app, or ``func``: a plain callable measured as
            a reference (pyjwt's own decode).
        floor: The bare app of the same framework its overhead is measured against
            (empty for a floor or a ``func``).
        build: ``build(fixtures) -> app`` (or, for ``func``, a no-argument callable).
        role: ``floor``, ``peer``, ``limit`` (a hand-written practical limit) or
            ``bearerguard``.
        kind: Which tokens the variant is given: ``static``, ``jwt`` or ``client``
            (any variant is also refused the ``bad`` token and no token).
        miss: True when the variant defeats its cache (each request verifies).
        reference: A ``func`` variant its added cost is divided by, measured in the
            same round (pyjwt's decode for a JWT miss, the store lookup for a client
            token miss).
        loopback: Also served by uvicorn/gunicorn for the throughput figure.
        quick: Part of the ``--quick`` run.
        note: How the variant is built, for the report.
    """

    name: str
    label: str
    interface: Interface
    build: Callable[[Fixtures], Any]
    floor: str = ""
    role: Role = "peer"
    kind: Literal["static", "jwt", "client", "none"] = "jwt"
    miss: bool = False
    reference: str = ""
    loopback: bool = False
    quick: bool = True
    note: str = ""
    tokens: Callable[[Fixtures], tuple[str, str]] | None = field(default=None, repr=False)

    def good_and_lacking(self, fixtures: Fixtures) -> tuple[str, str]:
        """The token that must pass, and the one that lacks ``payments.get``."""
        if self.tokens is not None:
            return self.tokens(fixtures)
        if self.kind == "static":
            return fixtures.static_ok, fixtures.static_noscope
        return fixtures.jwt_ok, fixtures.jwt_noscope


REGISTRY: dict[str, Variant] = {}
DECODE = "ref/pyjwt-decode"
"""pyjwt's own ``jwt.decode`` of the RS256 token: the reference of every JWT miss."""


def register(variant: Variant) -> Variant:
    """Add a variant; names are unique."""
    if variant.name in REGISTRY:
        raise ValueError(f"variant {variant.name!r} registered twice")
    REGISTRY[variant.name] = variant
    return variant


@dataclass
class ExtraResult:
    """What an extra measurement (memory, spray) reports.

    Attributes:
        title: The section's title.
        rows: ``(what, figure, note)`` rows for its table.
    """

    title: str
    rows: list[tuple[str, str, str]] = field(default_factory=list)


# name -> extra(fixtures, quick) -> ExtraResult; run after the two figures.
EXTRAS: dict[str, Callable[[Fixtures, bool], ExtraResult]] = {}
