"""The dashboard for Flask: a blueprint with the API, the page and its assets.

```python
api = ManagementAPI(registry, login_url="/session/token")
guard = Guard([ClientTokenVerifier(manager)], public_paths=[*api.public_paths])
app.wsgi_app = BearerGuardMiddleware(app.wsgi_app, guard)
app.register_blueprint(blueprint(api))
```

The same routes and bodies as :func:`bearerguard.dashboard.starlette.router`; the
app's :class:`~bearerguard.werkzeug.BearerGuardMiddleware` verifies the token, and
refusals are rendered by its guard.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, request

from ..context import PRINCIPAL_KEY
from ..exceptions import AuthError
from ..werkzeug import GUARD_KEY, request_context, wsgi_denial
from ._api import ROUTES, ManagementAPI
from ._replies import Reply

__all__ = ["blueprint"]


def _response(reply: Reply) -> Response:
    return Response(reply.body, reply.status, headers=list(reply.headers))


def _flask_path(path: str) -> str:
    return path.replace("{", "<").replace("}", ">")


def _api_view(api: ManagementAPI, name: str) -> Callable[..., Response]:
    def view(**params: str) -> Response:
        guard = request.environ.get(GUARD_KEY)
        if guard is None:
            raise RuntimeError("bearerguard: wrap app.wsgi_app in BearerGuardMiddleware")
        try:
            principal = api.authorize(request.environ.get(PRINCIPAL_KEY))
            # At most one byte past the limit is read: enough for the API to answer 413.
            body = request.stream.read(api.max_body + 1)
            return _response(api.call(name, principal, params, body))
        except AuthError as error:
            # Reported and rendered as the Flask decorator's refusals are: with the
            # request, so the audit hook and a renderer that takes one see it.
            context = request_context(request.environ)
            guard.report_refusal(error, context, request.environ.get(PRINCIPAL_KEY))
            status, headers, chunks = wsgi_denial(guard, error, request.method, context)
            return Response(b"".join(chunks), status, headers=headers)

    view.__name__ = name
    return view


def blueprint(api: ManagementAPI, name: str = "bearerguard_dashboard") -> Blueprint:
    """The routes of :data:`ROUTES`, the page and its assets, under ``api.prefix``.

    Add ``api.public_paths`` to the guard's public paths.
    """
    bp = Blueprint(name, __name__, url_prefix=api.prefix)

    def page() -> Response:
        return _response(api.page.html(request.script_root + api.prefix))

    def asset(asset: str) -> Response:
        reply = api.page.asset(asset)
        if reply is None:
            return Response(b"Not Found", 404, mimetype="text/plain")
        return _response(reply)

    bp.add_url_rule("/", "page", page, methods=["GET"])
    bp.add_url_rule("/static/<asset>", "asset", asset, methods=["GET"])
    for route in ROUTES:
        bp.add_url_rule(
            _flask_path(route.path), route.name, _api_view(api, route.name), methods=[route.method]
        )
    return bp
