"""What a Starlette or FastAPI app declares public on its routes, read once.

The middleware calls :func:`public_rules` on its first request, when every route is
registered (``app.add_middleware`` builds the middleware stack then). It walks the
``.app`` chain to the router, descends into mounts, and makes a public rule for each
route whose endpoint, or one of whose FastAPI dependencies, carries the ``public`` or
``optional`` marker, and for FastAPI's own documentation routes (``docs_url``,
``redoc_url``, ``openapi_url``, the Swagger UI OAuth 2 redirect) unless told not to.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from ._routes import Access, access_of, declared_scopes, public_rule
from .rules import Rule

__all__ = [
    "dependency_calls",
    "find_routes",
    "public_rules",
    "route_access",
    "route_scopes",
    "walk_routes",
]

logger = logging.getLogger("bearerguard")

# FastAPI.setup() registers its documentation routes with endpoints defined in place.
_DOCS_QUALNAME = "FastAPI.setup.<locals>."
_DEPTH = 32  # more wrappers than any real stack has: a cycle, not an app


def find_routes(app: object) -> list[Any] | None:
    """The routes of the first object down the ``.app`` chain that has them."""
    for _ in range(_DEPTH):
        routes = getattr(app, "routes", None)
        if isinstance(routes, list):
            return routes
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


def walk_routes(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every route with its full router path template, mounts descended into.

    ``Host`` routes are skipped: a rule cannot tell hosts apart, so their routes stay
    under the guard's own rules rather than become public on every host.
    """
    for route in _expanded(routes):
        path = getattr(route, "path", None)
        if not isinstance(path, str) or type(route).__name__ == "Host":
            continue
        children = getattr(route, "routes", None)
        if isinstance(children, list) and not hasattr(route, "endpoint"):
            yield from walk_routes(children, prefix + path)
        else:
            yield prefix + path, route


def _expanded(routes: list[Any]) -> Iterator[Any]:
    """The routes, with those of routers FastAPI includes lazily in their place.

    Recent FastAPI versions keep an included router as one entry that builds its
    routes (prefix, dependencies and all) on demand; earlier ones copy the routes.
    """
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if callable(contexts):
            for context in contexts():
                yield getattr(context, "starlette_route", None) or context
        else:
            yield route


def is_docs_route(route: Any) -> bool:
    """True for a route FastAPI itself registered to serve its documentation."""
    endpoint = getattr(route, "endpoint", None)
    return getattr(endpoint, "__module__", "") == "fastapi.applications" and getattr(
        endpoint, "__qualname__", ""
    ).startswith(_DOCS_QUALNAME)


def dependency_calls(route: Any) -> Iterator[object]:
    """The callables of a FastAPI route's dependencies, its router's included, nested."""
    pending = [getattr(route, "dependant", None)]
    while pending:
        dependant = pending.pop()
        if dependant is not None:
            yield getattr(dependant, "call", None)
            pending.extend(getattr(dependant, "dependencies", ()) or ())


def route_access(route: Any) -> Access | None:
    """The access a route declares on its endpoint or its FastAPI dependencies."""
    found = access_of(getattr(route, "endpoint", None))
    for call in dependency_calls(route):
        if found == "public":
            break
        found = access_of(call) or found
    return found


def public_rules(app: object, *, docs: bool) -> list[Rule]:
    """Public rules for the routes an app declares public (and its docs, if ``docs``)."""
    routes = find_routes(app)
    if routes is None:
        return []
    rules = []
    for path, route in walk_routes(routes):
        if not ((docs and is_docs_route(route)) or route_access(route) is not None):
            continue
        methods = getattr(route, "methods", None)
        # A WebSocket route has no methods: its handshake counts as a GET.
        listed = methods if methods else (None if hasattr(route, "methods") else ["GET"])
        try:
            rules.append(public_rule(listed, path))
        except ValueError:
            # Fail closed: the route stays under the guard's own rules.
            logger.warning(
                "bearerguard: public route %r has a path no rule expresses; it stays protected",
                path,
            )
    return rules


def route_scopes(app: object) -> list[str]:
    """The scopes the app's route declarations require (``requires``, ``require_scopes``)."""
    routes = find_routes(app)
    if routes is None:
        return []
    return declared_scopes(
        call
        for _, route in walk_routes(routes)
        for call in (getattr(route, "endpoint", None), *dependency_calls(route))
    )
