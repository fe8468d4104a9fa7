"""The dashboard for Starlette and FastAPI: a router with the API, the page and its assets.

```python
api = ManagementAPI(registry, login_url="/session/token")
guard = Guard([ClientTokenVerifier(manager)], public_paths=[*api.public_paths])
app.add_middleware(BearerGuardMiddleware, guard=guard)
app.mount(api.prefix, router(api))
```

The app's :class:`~bearerguard.starlette.BearerGuardMiddleware` verifies the token and
renders refusals; the routes run the registry's blocking calls in a worker thread.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial

import anyio.to_thread
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router

from .._asgi import enforce
from ._api import ROUTES, ManagementAPI
from ._replies import Reply

__all__ = ["router"]

_Endpoint = Callable[[Request], Awaitable[Response]]


def _response(reply: Reply) -> Response:
    return Response(reply.body, reply.status, headers=dict(reply.headers))


async def _body(request: Request, limit: int) -> bytes:
    # At most one byte past the limit is read: enough for the API to answer 413.
    chunks, size = [], 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)[: limit + 1]


def _api_endpoint(api: ManagementAPI, name: str) -> _Endpoint:
    async def endpoint(request: Request) -> Response:
        principal = enforce(request.scope, api.requirement)  # before reading the body
        body = await _body(request, api.max_body)
        params = {key: str(value) for key, value in request.path_params.items()}
        reply = await anyio.to_thread.run_sync(partial(api.call, name, principal, params, body))
        return _response(reply)

    return endpoint


def router(api: ManagementAPI) -> Router:
    """The routes of :data:`ROUTES`, the page at ``/`` and ``/static/page.{js,css}``.

    Mount it at ``api.prefix`` and add ``api.public_paths`` to the guard's public paths.
    """

    async def page(request: Request) -> Response:
        return _response(api.page.html(request.scope.get("root_path", "")))

    async def asset(request: Request) -> Response:
        reply = api.page.asset(request.path_params["asset"])
        if reply is None:
            return Response(b"Not Found", 404, media_type="text/plain")
        return _response(reply)

    routes = [
        Route("/", page, methods=["GET"]),
        Route("/static/{asset}", asset, methods=["GET"]),
        *(
            Route(route.path, _api_endpoint(api, route.name), methods=[route.method])
            for route in ROUTES
        ),
    ]
    return Router(routes)
