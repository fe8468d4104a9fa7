"""What the core is told about a request: one small frozen value both adapters build."""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["PRINCIPAL_KEY", "RequestContext"]

PRINCIPAL_KEY = "bearerguard.principal"
"""Where the adapters attach the principal: ``scope[...]`` (ASGI), ``environ[...]`` (WSGI)."""


class RequestContext(NamedTuple):
    """The parts of a request that :meth:`Guard.decide <bearerguard.Guard.decide>` reads.

    The adapters build one per request from the ASGI scope or the WSGI environ; tests
    and other frameworks can build it directly. New fields get defaults, so code that
    builds it keeps working.

    Attributes:
        method: The request method as the server gave it.
        path: The path the application's router matches (without ``root_path`` or
            ``SCRIPT_NAME``): the rules match it.
        authorization: The raw ``Authorization`` value (ASGI bytes decoded as
            latin-1, as WSGI carries them), or None when absent.
        query: The raw query string, for the one-method check of RFC 6750 section 2.
        scheme: ``http`` or ``https`` (``ws``/``wss`` for WebSockets).
        host: The ``Host`` header, when known.
        root_path: The mount prefix (``root_path``, ``SCRIPT_NAME``).
        request_id: The caller's ``X-Request-ID``, when it sent one.
    """

    method: str
    path: str
    authorization: str | None = None
    query: str = ""
    scheme: str = "http"
    host: str = ""
    root_path: str = ""
    request_id: str | None = None
