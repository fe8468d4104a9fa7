"""The introspection request (RFC 7662 section 2.1) and its bounded read, sync and async.

Both drivers send the same bytes and read the same way: no redirect followed, status
200 only, ``identity`` encoding only (a compressed body would let a small answer
inflate past the size cap inside one chunk), at most ``MAX_RESPONSE_BYTES``, and within
``timeout`` overall: the async driver under one ``anyio.fail_after``, the blocking one
with httpx's per-operation timeouts plus a deadline checked as the body arrives.
"""

from __future__ import annotations

import base64
import functools
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus, urlencode

import anyio

if TYPE_CHECKING:
    import httpx2

__all__ = [
    "MAX_RESPONSE_BYTES",
    "Unavailable",
    "client_options",
    "form_request",
    "load_httpx",
    "read_async",
    "read_sync",
]

MAX_RESPONSE_BYTES = 64 * 1024


def load_httpx() -> Any:
    """The httpx2 module, or an ImportError that says how to install it."""
    try:
        import httpx2
    except ImportError:
        raise ImportError(
            'IntrospectionVerifier needs httpx2: pip install "bearerguard[introspection]"'
        ) from None
    return httpx2


def client_options(httpx: Any, timeout: float, max_connections: int) -> dict[str, Any]:
    """The options of every client a verifier opens, sync or async."""
    return {
        "verify": _tls_context(),
        "timeout": httpx.Timeout(timeout),
        "follow_redirects": False,  # credentials go to the configured endpoint only
        "limits": httpx.Limits(max_connections=max_connections),
    }


@functools.lru_cache(maxsize=1)
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle takes tens of milliseconds: once per process rather than
    # for every new client on the event loop, as httpx would.
    context: ssl.SSLContext = load_httpx().create_ssl_context()
    return context


class Unavailable(Exception):
    """The endpoint's answer cannot be used; the argument is the reason to log."""


def form_request(
    token: str, client_id: str, client_secret: str, *, basic: bool
) -> tuple[bytes, dict[str, str]]:
    """The form body and headers of an introspection request for ``token``.

    ``client_secret_basic`` form-encodes the id and the secret before joining them
    (RFC 6749 section 2.3.1), so a ``:`` or a space in either survives the trip.
    """
    fields = {"token": token, "token_type_hint": "access_token"}
    headers = {
        "Accept": "application/json",
        "Accept-Encoding": "identity",
        "Content-Type": "application/x-www-form-urlencoded",
    }
    if basic:
        credentials = f"{quote_plus(client_id)}:{quote_plus(client_secret)}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    else:
        fields.update(client_id=client_id, client_secret=client_secret)
    return urlencode(fields).encode("ascii"), headers


def read_sync(
    client: httpx2.Client, url: str, content: bytes, headers: dict[str, str], timeout: float
) -> bytes:
    """POST and read the body, blocking for about ``timeout`` at most."""
    deadline = time.monotonic() + timeout
    with client.stream("POST", url, content=content, headers=headers) as response:
        _check(response)
        return _collect(response.iter_raw(), deadline)


async def read_async(
    client: httpx2.AsyncClient, url: str, content: bytes, headers: dict[str, str], timeout: float
) -> bytes:
    """POST and read the body on the event loop, within ``timeout`` overall."""
    with anyio.fail_after(timeout):
        async with client, client.stream("POST", url, content=content, headers=headers) as response:
            _check(response)
            return await _acollect(response.aiter_raw())


def _check(response: httpx2.Response) -> None:
    if response.status_code != 200:
        # 401/403 mean this resource server's own credentials were refused: a
        # configuration fault the caller cannot fix, so "cannot decide" as well.
        raise Unavailable(f"HTTP {response.status_code}")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding != "identity":
        raise Unavailable("a compressed answer")
    length = response.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_RESPONSE_BYTES:
        raise Unavailable("the answer is too large")


def _collect(chunks: Iterator[bytes], deadline: float) -> bytes:
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise Unavailable("the answer is too large")
        if time.monotonic() > deadline:
            raise Unavailable("the answer took too long")
    return bytes(body)


async def _acollect(chunks: AsyncIterator[bytes]) -> bytes:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > MAX_RESPONSE_BYTES:
            raise Unavailable("the answer is too large")
    return bytes(body)
