"""What a Flask app declares public on its views, read once from ``app.url_map``.

The WSGI middleware wraps ``app.wsgi_app``, a method of the Flask app, before any view
is registered; so it finds the app now (down the ``.app`` chain of other middleware,
then the method's ``__self__``) and reads its URL map on the first request. Only the
Werkzeug routing API (``url_map.iter_rules()``, ``view_functions``) is used.
"""

from __future__ import annotations

import logging
from typing import Any

from ._routes import access_of, declared_scopes, public_rule
from .rules import Rule

__all__ = ["find_app", "public_rules", "route_scopes"]

logger = logging.getLogger("bearerguard")

_DEPTH = 32


def find_app(app: object) -> Any | None:
    """The object with a Werkzeug ``url_map`` and ``view_functions`` behind ``app``."""
    for _ in range(_DEPTH):
        if hasattr(app, "url_map") and isinstance(getattr(app, "view_functions", None), dict):
            return app
        owner = getattr(app, "__self__", None)  # a bound app.wsgi_app
        app = owner if owner is not None else getattr(app, "app", None)
        if app is None:
            return None
    return None


def public_rules(app: Any) -> list[Rule]:
    """Public rules for the views that declare ``public`` or ``optional`` access."""
    rules = []
    for rule in app.url_map.iter_rules():
        if access_of(app.view_functions.get(rule.endpoint)) is None:
            continue
        if rule.host or rule.subdomain:
            continue  # a rule cannot tell hosts apart: stay protected on every host
        try:
            rules.append(public_rule(rule.methods, rule.rule, werkzeug=True))
        except ValueError:
            # Fail closed: the view stays under the guard's own rules.
            logger.warning(
                "bearerguard: public view %r has a path no rule expresses; it stays protected",
                rule.rule,
            )
    return rules


def route_scopes(app: Any) -> list[str]:
    """The scopes the app's views declare with ``require_scopes``."""
    return declared_scopes(app.view_functions.values())
