"""Renderers: how a refusal becomes ``(status, headers, body)``.

A renderer is ``renderer(error, realm)``; one that also takes a ``request`` keyword
(``renderer(error, realm, *, request)``) is handed the request's
:class:`~bearerguard.RequestContext` (method, path, request id), or None when the
error did not come from a request. The guard looks at the signature once, when it is
built, so renderers written before the keyword existed keep working unchanged.

:class:`ProblemRenderer` answers in RFC 9457 problem details
(``application/problem+json``), with the same RFC 6750 ``WWW-Authenticate`` challenge
as the default JSON renderer:

```python
from bearerguard import Guard, StaticTokenVerifier
from bearerguard.rendering import ProblemRenderer

guard = Guard([StaticTokenVerifier({"dev-token": ["payments.get"]})], renderer=ProblemRenderer())
```
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import quote

from .context import RequestContext
from .exceptions import AuthError, error_headers

__all__ = [
    "PROBLEM_JSON",
    "ContextRenderer",
    "ProblemRenderer",
    "Rendered",
    "Renderer",
    "bind_renderer",
    "takes_request",
]

Rendered = tuple[int, list[tuple[str, str]], bytes]
"""``(status, headers, body)``: ``headers`` a list of ``(name, value)`` strings."""

Renderer = Callable[[AuthError, str], Rendered]
"""``renderer(error, realm) -> (status, headers, body)``."""

PROBLEM_JSON = "application/problem+json"

# RFC 3986 section 3.3: what a path segment may hold unescaped, and "/" between them.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_MAX_REQUEST_ID = 128


class ContextRenderer(Protocol):
    """A renderer that is handed the request: ``renderer(error, realm, *, request)``."""

    def __call__(
        self, error: AuthError, realm: str, *, request: RequestContext | None
    ) -> Rendered: ...


def takes_request(renderer: Callable[..., Rendered]) -> bool:
    """True when the renderer accepts a ``request`` keyword (or any keyword)."""
    try:
        parameters = inspect.signature(renderer).parameters.values()
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        return False
    return any(
        parameter.kind is inspect.Parameter.VAR_KEYWORD
        or (
            parameter.name == "request"
            and parameter.kind
            in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        )
        for parameter in parameters
    )


def bind_renderer(
    renderer: Renderer | ContextRenderer,
) -> Callable[[AuthError, str, RequestContext | None], Rendered]:
    """The renderer called one way: ``render(error, realm, request)``, whatever it takes."""
    if takes_request(renderer):
        with_request: Any = renderer

        def render(error: AuthError, realm: str, request: RequestContext | None) -> Rendered:
            result: Rendered = with_request(error, realm, request=request)
            return result

        return render
    plain: Any = renderer

    def render_plain(error: AuthError, realm: str, request: RequestContext | None) -> Rendered:
        result: Rendered = plain(error, realm)
        return result

    return render_plain


class ProblemRenderer:
    """Render refusals as RFC 9457 problem details (``application/problem+json``).

    Args:
        type_base: A URI the error code is appended to for ``type`` (say
            ``"https://api.example.com/problems/"`` gives
            ``https://api.example.com/problems/invalid_token``); by default ``type`` is
            ``about:blank`` and ``title`` the HTTP status phrase (RFC 9457 section 4.2.1).

    The document has ``type``, ``title``, ``status``, ``detail`` (the error's fixed
    description), ``instance`` (the request's path, percent-encoded, when known) and
    ``request_id`` (the caller's ``X-Request-ID``, when it sent one), plus the members of
    the default JSON body (``error``, ``error_description``, ``required_scopes``) as
    extensions. Headers are the default renderer's (``Cache-Control: no-store``, the
    ``WWW-Authenticate`` challenge, ``Retry-After`` for a 503) with the problem type.
    """

    def __init__(self, *, type_base: str | None = None) -> None:
        if type_base is not None and not (isinstance(type_base, str) and type_base):
            raise ValueError("type_base must be a non-empty URI")
        self.type_base = type_base

    def __repr__(self) -> str:
        return f"ProblemRenderer(type_base={self.type_base!r})"

    def __call__(
        self, error: AuthError, realm: str, *, request: RequestContext | None = None
    ) -> Rendered:
        """Render ``error`` for ``request`` (None: no request known)."""
        body = json.dumps(self.document(error, request), separators=(",", ":")).encode()
        return error.status_code, error_headers(error, realm, PROBLEM_JSON, body), body

    def document(self, error: AuthError, request: RequestContext | None) -> dict[str, Any]:
        """The problem details object for ``error``."""
        status = error.status_code
        if self.type_base is None:
            kind, title = "about:blank", _phrase(status)
        else:
            kind, title = self.type_base + (error.error_code or "missing_token"), error.message
        document: dict[str, Any] = {
            "type": kind,
            "title": title,
            "status": status,
            "detail": error.description,
        }
        if request is not None:
            document["instance"] = quote(request.root_path + request.path, safe=_PATH_SAFE)
            if request.request_id:
                document["request_id"] = request.request_id[:_MAX_REQUEST_ID]
        extensions = error.body()
        extensions.pop("message", None)
        for name, value in extensions.items():
            document.setdefault(name, value)
        return document


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
