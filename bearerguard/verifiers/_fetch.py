"""The one HTTP GET the verifiers make: bounded in time and size, no redirects.

JWKS documents, provider metadata and introspection answers all come through here, so
each gets the same limits: a timeout that bounds the whole body read (a server that
dribbles bytes cannot hold a worker thread), a size cap, and no redirect followed
(keys and metadata come from the configured URL only).
"""

from __future__ import annotations

import time
import urllib.request
from typing import Any

__all__ = ["MAX_BYTES", "fetch_url"]

MAX_BYTES = 1 << 20


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect becomes an HTTPError: documents come from the configured URL only


_OPENER = urllib.request.build_opener(_NoRedirect())


def fetch_url(url: str, timeout: float) -> bytes:
    """GET a JSON document with a timeout and a size cap, following no redirect.

    ``timeout`` bounds each socket operation and the whole body read, so a server
    that dribbles bytes cannot hold a worker thread for long.

    Raises:
        urllib.error.URLError: the request failed or answered an HTTP error.
        ValueError: the body is over ``MAX_BYTES``.
        TimeoutError: the whole read took longer than ``timeout``.
    """
    deadline = time.monotonic() + timeout
    # The scheme is checked when the verifier is configured: https, or http to loopback.
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    chunks: list[bytes] = []
    size = 0
    with _OPENER.open(request, timeout=timeout) as response:
        while chunk := response.read1(65536):
            size += len(chunk)
            if size > MAX_BYTES:
                raise ValueError("document too large")
            if time.monotonic() > deadline:
                raise TimeoutError("fetch took too long")
            chunks.append(chunk)
    return b"".join(chunks)
