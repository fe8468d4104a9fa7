"""Routes that declare their own access: the ``public`` marker, and rules made from routes.

A view or dependency carries its access as a function attribute, which the adapters
read once from the app's routing table (never per request) and turn into public
:class:`~bearerguard.Rule` objects the guard consults before the app runs. The route
declarations that require scopes (``requires``, ``require_scopes``) leave theirs the
same way, for the protected resource metadata's ``scopes_supported``. Nothing here
knows a framework or a token format.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar

from .rules import Requirement, Rule

__all__ = [
    "ACCESS",
    "REQUIREMENTS",
    "Access",
    "access_of",
    "declare",
    "declared_scopes",
    "mark",
    "public",
    "public_rule",
]

ACCESS = "__bearerguard_access__"
"""The function attribute that holds a route's declared access."""

REQUIREMENTS = "__bearerguard_requirements__"
"""The function attribute that holds the requirements a route declares, innermost first."""

Access = Literal["public", "optional"]
"""``public``: no token needed; ``optional``: no token needed, one presented is used."""

_F = TypeVar("_F", bound=Callable[..., Any])

# Starlette's "{name:convertor}" and Werkzeug's "<convertor(args):name>" placeholders.
_STARLETTE_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::([A-Za-z_]+))?\}")
_WERKZEUG_PARAM = re.compile(
    r"<(?:([A-Za-z_][A-Za-z0-9_]*)(?:\([^)]*\))?:)?([A-Za-z_][A-Za-z0-9_]*)>"
)


def mark(func: _F, access: Access) -> _F:
    """Record ``access`` on a view or dependency and return it unchanged."""
    setattr(func, ACCESS, access)
    return func


def declare(func: _F, requirement: Requirement) -> _F:
    """Record a route declaration's requirement on its view or dependency.

    ``functools.wraps`` copies the attribute from a wrapped view, so stacked
    declarations keep every requirement.
    """
    setattr(func, REQUIREMENTS, (*getattr(func, REQUIREMENTS, ()), requirement))
    return func


def declared_scopes(funcs: Iterable[object]) -> list[str]:
    """The scopes that the declarations on ``funcs`` require, each once, in order."""
    found: dict[str, None] = {}
    for func in funcs:
        for requirement in getattr(func, REQUIREMENTS, ()):
            if isinstance(requirement, Requirement):
                found.update(dict.fromkeys(requirement.scopes))
                found.update(dict.fromkeys(requirement.any_scopes))
    return list(found)


def public(view: _F) -> _F:
    """Declare a view public: it needs no token, with no entry in ``public_paths``.

    ```python
    @app.get("/health")
    @public
    async def health(): ...
    ```

    The middleware learns it from the app's routes when it first runs, so it still
    decides before the app: a token that is presented is verified, and a bad one is
    refused (401), as on every public path.
    """
    return mark(view, "public")


def access_of(func: object) -> Access | None:
    """The access a view or dependency declares, if any."""
    access = getattr(func, ACCESS, None)
    return access if access in ("public", "optional") else None


def public_rule(methods: Iterable[str] | None, template: str, *, werkzeug: bool = False) -> Rule:
    """A public rule for a route's methods (None: every method) and path template.

    Typed placeholders (``{id:int}``, ``<int:id>``) become one-segment parameters and
    ``path`` placeholders stay the rest of the path: the rule may match a few paths the
    router would not route, which then answer 404 without a token.
    """
    if werkzeug:
        path = _WERKZEUG_PARAM.sub(_werkzeug_placeholder, template)
    else:
        path = _STARLETTE_PARAM.sub(_starlette_placeholder, template)
    listed = sorted(methods) if methods else "*"
    return Rule(listed, path or "/", public=True)


def _starlette_placeholder(match: re.Match[str]) -> str:
    name, convertor = match.group(1), match.group(2)
    return f"{{{name}:path}}" if convertor == "path" else f"{{{name}}}"


def _werkzeug_placeholder(match: re.Match[str]) -> str:
    convertor, name = match.group(1), match.group(2)
    return f"{{{name}:path}}" if convertor == "path" else f"{{{name}}}"
