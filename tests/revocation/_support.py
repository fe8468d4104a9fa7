"""Helpers for the revocation tests: a TCP proxy that can cut and stall, JWTs, a wait."""

from __future__ import annotations

import contextlib
import secrets
import selectors
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt

from bearerguard import JWTVerifier

ISSUER = "https://id.example.test/"
AUDIENCE = "payments-api"
SECRET = secrets.token_bytes(32)


def jwt_verifier(**options: Any) -> JWTVerifier:
    return JWTVerifier(
        key=SECRET, algorithms=["HS256"], issuer=ISSUER, audience=AUDIENCE, **options
    )


def mint(subject: str = "user-1", *, lifetime: float = 600, iat: float | None = None) -> str:
    now = time.time() if iat is None else iat
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "jti": secrets.token_hex(8),
        "iat": int(now),
        "exp": int(now + lifetime),
        "scope": "payments.get",
    }
    return jwt.encode(claims, SECRET, algorithm="HS256")


def refused(guard: Any, token: str) -> bool:
    """True when the guard refuses the token (401); False when it accepts it."""
    from bearerguard import UnauthenticatedError

    try:
        guard.check("GET", "/x", f"Bearer {token}")
    except UnauthenticatedError:
        return True
    return False


def crosses(listener: Any, publisher: Any) -> None:
    """A token revoked through ``publisher`` is soon refused by a guard on ``listener``."""
    from bearerguard import Guard, StaticTokenVerifier

    guard = Guard([StaticTokenVerifier({"dev-token": ["a"]})], revocation_bus=listener)
    wait_for(lambda: listener.stats().connected, timeout=5)
    assert guard.check("GET", "/x", "Bearer dev-token") is not None
    Guard([StaticTokenVerifier({"dev-token": ["a"]})], revocation_bus=publisher).revoke("dev-token")
    wait_for(lambda: refused(guard, "dev-token"), timeout=2)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> float:
    """Poll until ``condition()``; the seconds it took. Fails the test on timeout."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.01)
    return time.monotonic() - started


class Proxy:
    """A loopback TCP proxy in front of a server: ``cut()`` drops every connection and
    refuses new ones, ``stall()`` keeps them open but forwards nothing, ``restore()``
    goes back to forwarding."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self.mode = "forward"
        self._closed = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        registered: dict[socket.socket, socket.socket] = {}
        while not self._closed:
            with self._lock:
                pairs = list(self._pairs)
                mode = self.mode
            wanted = set() if mode == "stall" else {s for pair in pairs for s in pair}
            for sock in list(registered):
                if sock not in wanted:
                    selector.unregister(sock)
                    del registered[sock]
            for a, b in pairs:
                for one, other in ((a, b), (b, a)):
                    if one in wanted and one not in registered:
                        selector.register(one, selectors.EVENT_READ)
                        registered[one] = other
            for key, _ in selector.select(timeout=0.02):
                sock = key.fileobj
                if sock is self._listener:
                    self._accept()
                    continue
                other = registered.get(sock)  # type: ignore[arg-type]
                try:
                    data = sock.recv(65536)  # type: ignore[union-attr]
                    if not data:
                        raise OSError("closed")
                    other.sendall(data)  # type: ignore[union-attr]
                except OSError:
                    self._drop(sock)  # type: ignore[arg-type]
        selector.close()

    def _accept(self) -> None:
        client, _ = self._listener.accept()
        if self.mode == "cut":
            client.close()
            return
        try:
            server = socket.create_connection(self.target, timeout=2)
        except OSError:
            client.close()
            return
        server.settimeout(None)
        with self._lock:
            self._pairs.append((client, server))

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            for pair in list(self._pairs):
                if sock in pair:
                    self._pairs.remove(pair)
                    for s in pair:
                        s.close()

    def cut(self) -> None:
        with self._lock:
            self.mode = "cut"
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for s in pair:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()

    def stall(self) -> None:
        with self._lock:
            self.mode = "stall"

    def restore(self) -> None:
        with self._lock:
            self.mode = "forward"

    def close(self) -> None:
        self.cut()
        self._closed = True
        self._thread.join(2)
        self._listener.close()


class Introspection:
    """A minimal RFC 7662 endpoint on 127.0.0.1 over ``tokens: {token: response}``."""

    CLIENT = ("resource-server", "s3cret")

    def __init__(self) -> None:
        import json
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import parse_qs

        tokens: dict[str, dict[str, Any]] = {}
        self.tokens = tokens

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                body = json.dumps(tokens.get(form.get("token", [""])[0], {"active": False}))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_port}/introspect"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def issue(self) -> str:
        token = secrets.token_urlsafe(24)
        now = int(time.time())
        self.tokens[token] = {
            "active": True,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "user-7",
            "client_id": "dashboard",
            "scope": "payments.get",
            "iat": now,
            "exp": now + 600,
            "jti": secrets.token_hex(8),
        }
        return token

    def verifier(self) -> Any:
        from bearerguard import IntrospectionVerifier

        return IntrospectionVerifier(
            endpoint=self.endpoint,
            client_id=self.CLIENT[0],
            client_secret=self.CLIENT[1],
            audience=AUDIENCE,
            accepts=lambda token: "." not in token,
        )

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
