"""What becomes of a refusal: rendered as an answer, reported to the audit hook.

:class:`Refusing` is a base of :class:`~bearerguard.Guard`. Nothing here runs for a
request that is let in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from .exceptions import (
    BUILT_IN_ERRORS,
    AuthError,
    InsufficientScopeError,
    ServiceUnavailableError,
    render_error,
)

if TYPE_CHECKING:
    from ._observe import Observer
    from .context import RequestContext
    from .principal import Principal
    from .rendering import Rendered

__all__ = ["Refusing"]


class Refusing:
    """The refusal methods of :class:`~bearerguard.Guard`: rendering and reporting."""

    if TYPE_CHECKING:
        realm: str
        _renderer: Callable[[AuthError, str, RequestContext | None], Rendered] | None
        _observer: Observer

    def render(
        self, error: AuthError, request: RequestContext | None = None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Render an error with the configured renderer: ``(status, headers, body)``.

        ``request`` is the request refused, for renderers that take one (None: none).
        """
        if self._renderer is not None:
            return self._renderer(error, self.realm, request)
        if type(error) not in BUILT_IN_ERRORS:
            return render_error(error, self.realm)
        status, headers, body = _render_built_in(
            type(error),  # type: ignore[arg-type]  # classes hash (mypy sees the instance's)
            error.description,
            getattr(error, "required_scopes", ()),
            getattr(error, "retry_after", 0),
            self.realm,
        )
        return status, list(headers), body  # a fresh list: callers may extend it

    def report_refusal(
        self,
        error: AuthError,
        request: RequestContext | None = None,
        principal: Principal | None = None,
        *,
        action: str = "route",
    ) -> None:
        """Log a refusal that :meth:`decide` did not make and hand it to ``on_decision``.

        The adapters call it for a route declaration's refusal or an error the app
        raised (``action="route"``), and for a request refused before the guard was
        asked (``action="request"``); :meth:`decide` reports its own.
        """
        self._observer.refused(request, error, principal=principal, action=action)


# The default rendering of a built-in error depends only on these fields, and a flood
# of refusals (a token spray) renders the same few answers again and again.
@functools.lru_cache(maxsize=256)
def _render_built_in(
    kind: type[AuthError],
    description: str,
    required_scopes: tuple[str, ...],
    retry_after: int,
    realm: str,
) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    if kind is InsufficientScopeError:
        error: AuthError = InsufficientScopeError(description, required_scopes=required_scopes)
    elif kind is ServiceUnavailableError:
        error = ServiceUnavailableError(description, retry_after=retry_after)
    else:
        error = kind(description)
    status, headers, body = render_error(error, realm)
    return status, tuple(headers), body
