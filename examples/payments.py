"""What both example apps share: a development signing key, client tokens and the guard.

Everything here is for running offline on a laptop: the RSA key is generated at start
and lives only in memory; the static client tokens are fixed development values.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from bearerguard import Guard, JWTVerifier, Principal, StaticTokenVerifier

ISSUER = "https://id.example.test/"
AUDIENCE = "payments-api"
APPLICATION_ID = "Hh3kR9vTq2LmX8wZ4bN7cP1sD6fG0jKy"  # a payment application's Client ID

# Development client tokens: a checkout server's, a read-only reporting job's, and an
# operator's with the scope "*" (full access).
CHECKOUT_TOKEN = "dev_client_checkout_2f9c7a41e8b35d60"
READONLY_TOKEN = "dev_client_readonly_8d1e4b7c2a9f6035"
OPERATOR_TOKEN = "dev_client_operator_5b0e9d3c7f1a2468"

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


def build_guard() -> Guard:
    """The payments API's guard: client tokens first, then OAuth JWTs."""
    clients = StaticTokenVerifier(
        {
            CHECKOUT_TOKEN: Principal(
                kind="client",
                subject="tok_dev_checkout",
                token_id="tok_dev_checkout",
                client_id=APPLICATION_ID,
                scopes=frozenset({"payments.create", "payments.get"}),
            ),
            READONLY_TOKEN: Principal(
                kind="client",
                subject="tok_dev_readonly",
                token_id="tok_dev_readonly",
                client_id=APPLICATION_ID,
                scopes=frozenset({"payments.get", "payments.user-instructions.get"}),
            ),
            OPERATOR_TOKEN: Principal(
                kind="client",
                subject="tok_dev_operator",
                token_id="tok_dev_operator",
                client_id=APPLICATION_ID,
                scopes=frozenset({"*"}),
            ),
        }
    )
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
