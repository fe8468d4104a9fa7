"""The endpoint, the signing key and the tokens every variant is given.

The parent process creates them once per run and writes them to a temporary JSON file,
so the servers of the loopback figure (other processes) see the very same key and
tokens. Nothing here is a real secret: a fresh RSA key is made for every run.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://id.bench.test/"
AUDIENCE = "payments-api"
SCOPE = "payments.get"
ROUTE = "/api/payment/{payment_id}"
PATH = "/api/payment/pay_8Hq2ZkV1"
KID = "bench-1"
STATE_ENV = "BEARERGUARD_BENCH_STATE"


@dataclass(frozen=True)
class Fixtures:
    """The key and tokens of one run (what every variant must accept or refuse).

    Attributes:
        public_pem: The RS256 verification key (PEM).
        private_pem: The signing key, used only to mint the tokens below.
        static_ok: A static token granted ``payments.get``.
        static_noscope: A static token granted only ``payments.create``.
        jwt_ok: An RS256 access token with scope ``payments.get``.
        jwt_noscope: An RS256 access token with scope ``payments.create``.
        bad: A JWT-shaped token whose signature does not verify (and no static token).
    """

    public_pem: str
    private_pem: str
    static_ok: str
    static_noscope: str
    jwt_ok: str
    jwt_noscope: str
    bad: str

    @cached_property
    def public_key(self) -> Any:
        """The verification key as a ``cryptography`` object (parsed once)."""
        return serialization.load_pem_public_key(self.public_pem.encode())

    @cached_property
    def private_key(self) -> Any:
        """The signing key as a ``cryptography`` object."""
        return serialization.load_pem_private_key(self.private_pem.encode(), password=None)

    def static_table(self) -> dict[str, frozenset[str]]:
        """The static tokens and their scopes."""
        return {
            self.static_ok: frozenset({SCOPE}),
            self.static_noscope: frozenset({"payments.create"}),
        }

    def mint(self, scope: str = SCOPE, *, ttl: int = 3600, jti: str | None = None) -> str:
        """Another RS256 access token signed with this run's key."""
        return mint(self.private_key, scope, ttl=ttl, jti=jti)

    def dump(self, path: str) -> None:
        """Write the fixtures for another process (see :func:`load`)."""
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(asdict(self), handle)


def mint(private_key: Any, scope: str, *, ttl: int = 3600, jti: str | None = None) -> str:
    """An RFC 9068 style access token (``typ: at+jwt``), as an identity provider issues."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-42",
        "client_id": "dashboard",
        "scope": scope,
        "iat": now,
        "exp": now + ttl,
        "jti": jti or secrets.token_hex(8),
    }
    return jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": KID, "typ": "at+jwt"})


def create() -> Fixtures:
    """A fresh key and token set."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    jwt_ok = mint(key, SCOPE)
    head, body, signature = jwt_ok.split(".")
    # Flip one signature character: same shape, same claims, refused by every verifier.
    flipped = ("A" if signature[10] != "A" else "B").join((signature[:10], signature[11:]))
    return Fixtures(
        public_pem=public_pem,
        private_pem=private_pem,
        static_ok="bench_static_" + secrets.token_hex(16),
        static_noscope="bench_static_" + secrets.token_hex(16),
        jwt_ok=jwt_ok,
        jwt_noscope=mint(key, "payments.create"),
        bad=f"{head}.{body}.{flipped}",
    )


def load(path: str | None = None) -> Fixtures:
    """The fixtures written by the parent process (path from the environment)."""
    path = path or os.environ[STATE_ENV]
    with open(path, encoding="utf-8") as handle:
        return Fixtures(**json.load(handle))
