"""Small real HTTP servers on 127.0.0.1 for the discovery and introspection tests.

``LocalServer`` answers each path with a :class:`Reply` (or a function of the request
returning one) and records every request it received. ``IntrospectionServer`` adds an
RFC 7662 endpoint over a table of opaque tokens, checking the client's credentials.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote_plus


@dataclass
class Reply:
    """What the server answers: ``delay`` seconds of silence first (``release`` ends it)."""

    status: int = 200
    body: bytes | dict[str, Any] | list[Any] = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    length: bool = True  # False: no Content-Length, the body ends when the server closes
    dribble: float = 0.0  # seconds between 1 KiB pieces of the body, when set

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


@dataclass
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        return {name: values[0] for name, values in parse_qs(self.body.decode()).items()}


Route = Reply | Callable[[Seen], Reply]


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up mid-request (the timeout and size-cap tests)


class LocalServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 with switchable routes (``port`` 0: any)."""

    def __init__(self, port: int = 0) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self.arrived = threading.Semaphore(0)  # released once per request received
        self._release = threading.Event()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else a body write waits on a delayed ACK

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command,
                    self.path,
                    {name.lower(): value for name, value in self.headers.items()},
                    self.rfile.read(length),
                )
                with server._lock:
                    server.requests.append(seen)
                server.arrived.release()
                route = server.routes.get(self.path.split("?")[0], Reply(404, b"{}"))
                reply = route(seen) if callable(route) else route
                if reply.delay:
                    server._release.wait(reply.delay)
                body = reply.payload()
                try:
                    self.send_response(reply.status)
                    headers = {"Content-Type": "application/json", **reply.headers}
                    for name, value in headers.items():
                        self.send_header(name, value)
                    if reply.length:
                        self.send_header("Content-Length", str(len(body)))
                    else:
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    self.end_headers()
                    if reply.dribble:
                        for start in range(0, len(body), 1024):
                            self.wfile.write(body[start : start + 1024])
                            if server._release.wait(reply.dribble):
                                break
                    else:
                        self.wfile.write(body)
                except OSError:  # the client gave up (timeout tests)
                    pass

            do_GET = _handle
            do_POST = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = _Quiet(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        self._stopped = False

    def url(self, path: str = "") -> str:
        return self.base + path

    def paths(self) -> list[str]:
        with self._lock:
            return [seen.path for seen in self.requests]

    def count(self, path: str | None = None) -> int:
        with self._lock:
            return sum(1 for seen in self.requests if path is None or seen.path == path)

    def release(self) -> None:
        """End every delay, now and later."""
        self._release.set()

    def stop(self) -> None:
        """Close the listening socket: later connections are refused."""
        if not self._stopped:
            self._stopped = True
            self._release.set()
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)


CLIENT_ID = "rs client:1"  # a space and a colon: RFC 6749 section 2.3.1 encoding matters
CLIENT_SECRET = "s3cr%t+/="


class IntrospectionServer(LocalServer):
    """An RFC 7662 endpoint at ``/introspect`` over ``tokens: {token: response}``.

    Unknown tokens are ``{"active": false}``. The client must authenticate with
    ``method`` ("client_secret_basic" or "client_secret_post"), else 401. ``reply``,
    when set, replaces every answer (failure modes); ``delay`` slows every answer.
    """

    def __init__(self, method: str = "client_secret_basic") -> None:
        super().__init__()
        self.method = method
        self.tokens: dict[str, dict[str, Any]] = {}
        self.reply: Reply | None = None
        self.delay = 0.0
        self.endpoint = self.url("/introspect")
        self.routes["/introspect"] = self._introspect

    def authenticated(self, seen: Seen) -> bool:
        form = seen.form()
        if self.method == "client_secret_post":
            return form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET
        header = seen.headers.get("authorization", "")
        if not header.startswith("Basic ") or "client_secret" in form:
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return (unquote_plus(user), unquote_plus(password)) == (CLIENT_ID, CLIENT_SECRET)

    def _introspect(self, seen: Seen) -> Reply:
        if self.reply is not None:
            return self.reply
        if seen.method != "POST" or not self.authenticated(seen):
            return Reply(401, {"error": "invalid_client"}, delay=self.delay)
        form = seen.form()
        response = self.tokens.get(form.get("token", ""), {"active": False})
        return Reply(200, response, delay=self.delay)

    def introspections(self) -> int:
        return self.count("/introspect")


def active(**claims: Any) -> dict[str, Any]:
    """A good introspection response for a day from now; ``name=None`` removes a claim.

    A day, not minutes: test parameters are built at collection, and the whole suite
    may take longer than a few minutes before they run.
    """
    response: dict[str, Any] = {
        "active": True,
        "iss": "http://127.0.0.1",
        "aud": "payments-api",
        "sub": "user-1",
        "client_id": "dashboard",
        "scope": "payments.get payments.create",
        "exp": int(time.time()) + 86400,
        "iat": int(time.time()) - 10,
        "jti": "at-1",
        "token_type": "Bearer",
    }
    response.update(claims)
    return {name: value for name, value in response.items() if value is not None}
