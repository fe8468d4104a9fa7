"""Fixtures for the JWT verifier and JWKS tests: real keys, a token minter, a real
JWKS server on 127.0.0.1, and injectable clocks.

Keys are generated once per session (RSA generation is the slow part). Tokens are
signed with PyJWT's own algorithm objects, so the raw builder can sign any bytes at
all as header or payload (duplicate members, UTF-16, lone surrogates, deep nesting).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import get_default_algorithms

from bearerguard import JWTVerifier

ISSUER = "https://as.example.com"
AUDIENCE = "payments-api"
NOW = 1_800_000_000.0  # a fixed wall-clock second for verifiers built with clock=


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class Keys:
    """The session's signing keys and helpers to mint tokens with them."""

    rsa: rsa.RSAPrivateKey
    rsa2: rsa.RSAPrivateKey
    ec: ec.EllipticCurvePrivateKey
    hmac: bytes
    issuer: str = ISSUER
    audience: str = AUDIENCE
    now: float = NOW

    def private(self, alg: str) -> Any:
        return {"RS256": self.rsa, "PS256": self.rsa, "ES256": self.ec, "HS256": self.hmac}[alg]

    def public(self, alg: str) -> Any:
        key = self.private(alg)
        return key if isinstance(key, bytes) else key.public_key()

    def rsa_public_pem(self) -> bytes:
        return self.rsa.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Good claims relative to NOW; ``name=None`` removes a claim."""
        claims: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": "user-1",
            "exp": int(NOW) + 300,
            "iat": int(NOW) - 10,
            "jti": "tok-1",
            "scope": "payments.get payments.create",
        }
        claims.update(overrides)
        return {name: value for name, value in claims.items() if value is not None}

    def token(
        self,
        alg: str = "RS256",
        *,
        key: Any = None,
        headers: dict[str, Any] | None = None,
        **overrides: Any,
    ) -> str:
        """A JWT signed by PyJWT with the claims above (``kid`` etc. via headers)."""
        return jwt.encode(
            self.claims(**overrides),
            self.private(alg) if key is None else key,
            algorithm=alg,
            headers=headers,
        )

    def raw(
        self,
        header: bytes | dict[str, Any],
        payload: bytes | dict[str, Any],
        alg: str = "RS256",
        *,
        key: Any = None,
    ) -> str:
        """Sign exactly these header and payload bytes (no JSON canonicalisation)."""
        if isinstance(header, dict):
            header = json.dumps(header).encode()
        if isinstance(payload, dict):
            payload = json.dumps(payload).encode()
        signing_input = f"{b64url(header)}.{b64url(payload)}"
        algorithm = get_default_algorithms()[alg]
        prepared = algorithm.prepare_key(self.private(alg) if key is None else key)
        signature = algorithm.sign(signing_input.encode(), prepared)
        return f"{signing_input}.{b64url(signature)}"

    def jwk(self, alg: str, kid: str | None, *, key: Any = None, **extra: Any) -> dict[str, Any]:
        """The public JWK of a key, as an issuer publishes it."""
        public = self.public(alg) if key is None else key.public_key()
        document: dict[str, Any] = json.loads(get_default_algorithms()[alg].to_jwk(public))
        if kid is not None:
            document["kid"] = kid
        document.update(extra)
        return document


@pytest.fixture(scope="session")
def keys() -> Keys:
    return Keys(
        rsa=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa2=rsa.generate_private_key(public_exponent=65537, key_size=2048),
        ec=ec.generate_private_key(ec.SECP256R1()),
        hmac=secrets.token_bytes(32),
    )


@pytest.fixture
def make_verifier(keys: Keys, wall: FakeClock) -> Any:
    """``make_verifier(alg, **options)``: a JWTVerifier for the session key of ``alg``,
    pinned to our issuer and audience, reading the injected wall clock."""

    def make(alg: str = "RS256", **options: Any) -> JWTVerifier:
        if "jwks_url" not in options:
            options.setdefault("key", keys.public(alg))
        options.setdefault("algorithms", [alg])
        options.setdefault("issuer", ISSUER)
        options.setdefault("audience", AUDIENCE)
        options.setdefault("clock", wall)
        return JWTVerifier(**options)

    return make


class FakeClock:
    """A clock that moves only when told to (monotonic timer or wall clock)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def timer() -> FakeClock:
    return FakeClock()


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock(NOW)


class JWKSServer:
    """A real HTTP server on 127.0.0.1 serving a switchable JWKS document.

    ``body``/``status``/``delay``/``dribble``/``location`` change what the next
    request gets;
    ``requests`` and ``responses`` count requests received and answered; ``started``
    is set by the first request; ``release()`` ends delays early; ``stop()`` closes
    the port so the next fetch is refused by the operating system.
    """

    def __init__(self) -> None:
        self.body = b'{"keys": []}'
        self.status = 200
        self.delay = 0.0
        self.dribble = 0.0  # seconds between body bytes, when set
        self.location: str | None = None
        self.requests = 0
        self.responses = 0
        self.paths: list[str] = []
        self.started = threading.Event()  # set when a request arrives (for ordering)
        self._release = threading.Event()  # ends every delay at teardown
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.requests += 1
                    server.paths.append(self.path)
                server.started.set()
                if server.delay:
                    server._release.wait(server.delay)
                self.send_response(server.status)
                if server.location is not None:
                    self.send_header("Location", server.location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                try:
                    if server.dribble:
                        for index in range(len(server.body)):
                            self.wfile.write(server.body[index : index + 1])
                            self.wfile.flush()
                            if server._release.wait(server.dribble):
                                break
                    else:
                        self.wfile.write(server.body)
                except OSError:  # the client gave up (timeout tests)
                    pass
                with server._lock:
                    server.responses += 1

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/jwks.json"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        self._stopped = False

    def publish(self, *jwks: dict[str, Any]) -> None:
        self.body = json.dumps({"keys": list(jwks)}).encode()
        self.status = 200

    def settle(self) -> None:
        """Wait until every request received so far has been answered."""
        wait_until(lambda: self.responses >= self.requests)

    def release(self) -> None:
        """End the current delay (and every later one) now."""
        self._release.set()

    def stop(self) -> None:
        """Close the listening socket: later connections are refused."""
        if not self._stopped:
            self._stopped = True
            self._release.set()
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=5)


@pytest.fixture
def jwks_server() -> Iterator[JWKSServer]:
    server = JWKSServer()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def attacker_server() -> Iterator[JWKSServer]:
    """A second server standing for an attacker's host; it must never be asked."""
    server = JWKSServer()
    try:
        yield server
    finally:
        server.stop()


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    """Poll a condition for a real-thread test (never a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


@pytest.fixture
def until() -> Any:
    return wait_until
