"""What both example apps share: a development signing key, client tokens and the guard.

Everything here runs offline on a laptop. The RSA key that signs OAuth access tokens is
generated at start and lives only in memory. Client tokens are real: a
:class:`~bearerguard.tokens.TokenManager` issues them into a SQLite file
(``examples/payments.db``, or the store URL in ``PAYMENTS_STORE``) and keeps only their
hashes; the plaintext of the demo tokens exists only in this process.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from bearerguard import ClientTokenVerifier, Guard, JWTVerifier
from bearerguard.stores import open_store
from bearerguard.tokens import TokenManager

ISSUER = "https://id.example.test/"
AUDIENCE = "payments-api"
APPLICATION_ID = "Hh3kR9vTq2LmX8wZ4bN7cP1sD6fG0jKy"  # a payment application's Client ID
TOKEN_PREFIX = "pay_live_"
KNOWN_SCOPES = frozenset({"payments.create", "payments.get", "payments.user-instructions.get", "*"})


def store_url() -> str:
    """Where the example keeps its client tokens."""
    default = f"sqlite:///{Path(__file__).resolve().parent / 'payments.db'}"
    return os.environ.get("PAYMENTS_STORE", default)


@functools.cache
def token_manager() -> TokenManager:
    """The process's token manager (opening the store touches nothing yet)."""
    return TokenManager(open_store(store_url()), prefix=TOKEN_PREFIX, known_scopes=KNOWN_SCOPES)


@dataclass(frozen=True)
class DemoTokens:
    """Client tokens issued for the demo: a checkout server's, a read-only reporting
    job's, and an operator's with the scope ``*`` (full access)."""

    checkout: str
    readonly: str
    operator: str

    def __repr__(self) -> str:
        return "DemoTokens(<3 tokens>)"


@functools.cache
def demo_tokens() -> DemoTokens:
    """Issue the demo's client tokens once per process (30 days, like short-lived keys)."""
    manager = token_manager()

    def issue(label: str, scopes: list[str]) -> str:
        issued = manager.issue(
            client_id=APPLICATION_ID, label=label, scopes=scopes, expires_in=timedelta(days=30)
        )
        return issued.token

    return DemoTokens(
        checkout=issue("Checkout server", ["payments.create", "payments.get"]),
        readonly=issue("Reporting job", ["payments.get", "payments.user-instructions.get"]),
        operator=issue("Operator", ["*"]),
    )


def __getattr__(name: str) -> str:
    # CHECKOUT_TOKEN and friends are issued on first use, not at import.
    attribute = {
        "CHECKOUT_TOKEN": "checkout",
        "READONLY_TOKEN": "readonly",
        "OPERATOR_TOKEN": "operator",
    }.get(name)
    if attribute is None:
        raise AttributeError(name)
    token: str = getattr(demo_tokens(), attribute)
    return token


_SIGNING_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def mint_access_token(
    scopes: Iterable[str] = ("payments.get",), *, subject: str = "user-42", ttl: int = 3600
) -> str:
    """An OAuth access token, as the identity provider would issue it (for the demo)."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "client_id": "dashboard",
        "scope": " ".join(scopes),
        "iat": now,
        "exp": now + ttl,
        "jti": f"at-{now}",
    }
    return jwt.encode(claims, _SIGNING_KEY, algorithm="RS256", headers={"kid": "dev-1"})


def build_guard(manager: TokenManager | None = None) -> Guard:
    """The payments API's guard: client tokens first, then OAuth JWTs."""
    clients = ClientTokenVerifier(manager or token_manager())
    oauth = JWTVerifier(
        key=_SIGNING_KEY.public_key(),
        algorithms=["RS256"],
        issuer=ISSUER,
        audience=AUDIENCE,
    )
    return Guard(
        [clients, oauth],
        public_paths=["/health", "/docs", "/docs/oauth2-redirect", "/openapi.json"],
    )
