"""What both example apps share: a development signing key, client tokens and the guard.

Everything here runs offline on a laptop. The RSA key that signs OAuth access tokens is
generated at start and lives only in memory. Client tokens are real: a
:class:`~bearerguard.tokens.TokenManager` issues them into a SQLite file
(``examples/payments.db``, or the store URL in ``PAYMENTS_STORE``) and keeps only their
hashes; the plaintext of the demo tokens exists only in this process.

The dashboard (``/dashboard/``) manages payment applications and their tokens. Its
development login (``POST /dev/login``) hands any visitor an access token for the
merchant ``merchant-1``: it stands in for a real sign-in and must never be deployed.
Webhook secrets are sealed with ``BEARERGUARD_SECRET_KEY``; without it, a key that
lives only in this process is used. :func:`webhook_delivery` signs an event for an
application's merchant with its secret(s) and :func:`send_webhook` posts it (Standard
Webhooks; the merchant verifies with ``bearerguard.webhooks``).
"""

from __future__ import annotations

import functools
import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from bearerguard import ClientTokenVerifier, Guard, JWTVerifier
from bearerguard.dashboard import (
    ApplicationRegistry,
    ManagementAPI,
    SecretBox,
    audit_sink,
    new_secret_key,
    open_application_store,
)
from bearerguard.revocation import RevocationBus, open_bus
from bearerguard.stores import open_store
from bearerguard.tokens import TokenManager
from bearerguard.webhooks import Webhook, new_message_id

ISSUER = "https://id.example.test/"
AUDIENCE = "payments-api"
APPLICATION_ID = "Hh3kR9vTq2LmX8wZ4bN7cP1sD6fG0jKy"  # a payment application's Client ID
TOKEN_PREFIX = "pay_live_"
KNOWN_SCOPES = frozenset({"payments.create", "payments.get", "payments.user-instructions.get", "*"})
MANAGE_SCOPE = "applications.manage"  # what the dashboard's access token must grant
MERCHANT = "merchant-1"  # who the development login signs in
LOGIN_PATH = "/dev/login"


def store_url() -> str:
    """Where the example keeps its client tokens."""
    default = f"sqlite:///{Path(__file__).resolve().parent / 'payments.db'}"
    return os.environ.get("PAYMENTS_STORE", default)


@functools.cache
def revocation_bus() -> RevocationBus | None:
    """The revocation bus in ``PAYMENTS_BUS`` (``redis://...``, ``postgresql://...``), if any.

    With one, a token revoked in any process is refused by every worker at once.
    """
    url = os.environ.get("PAYMENTS_BUS")
    return open_bus(url) if url else None


@functools.cache
def token_manager() -> TokenManager:
    """The process's token manager (opening the store touches nothing yet)."""
    return TokenManager(
        open_store(store_url()),
        prefix=TOKEN_PREFIX,
        known_scopes=KNOWN_SCOPES,
        revocation_bus=revocation_bus(),
    )


@functools.cache
def management_api() -> ManagementAPI:
    """The dashboard's API and page over the process's registry of applications."""
    try:
        box = SecretBox.from_env()
    except ValueError:
        box = SecretBox(new_secret_key())  # webhook secrets readable by this process only
    # Every change is an audit event in the bearerguard log, as the guard's decisions are.
    registry = ApplicationRegistry(
        open_application_store(store_url()), token_manager(), box, on_event=audit_sink()
    )
    return ManagementAPI(registry, scope=MANAGE_SCOPE, login_url=LOGIN_PATH)


def webhook_delivery(
    client_id: str, event_type: str, data: Mapping[str, object]
) -> tuple[dict[str, str], bytes]:
    """The headers and body of a webhook to the merchant of application ``client_id``.

    Signed with the application's webhook secret, and also with the one it replaced
    while that one's grace lasts, so a merchant who has not yet switched still verifies.
    """
    secrets = management_api().registry.webhook_secrets(client_id)
    event = {
        "type": event_type,
        "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "data": dict(data),
    }
    body = json.dumps(event, separators=(",", ":")).encode()
    headers = Webhook(secrets).sign(new_message_id(), int(time.time()), body)
    return {**headers, "Content-Type": "application/json"}, body


def send_webhook(
    url: str, client_id: str, event_type: str, data: Mapping[str, object], *, timeout: float = 15
) -> int:
    """POST a signed event to a merchant's endpoint; its HTTP status (2xx: delivered).

    The specification advises a 15 to 30 second timeout and retries on anything else;
    this example sends once.
    """
    if not url.startswith(("https://", "http://")):
        raise ValueError("a webhook endpoint is an http(s) URL")
    headers, body = webhook_delivery(client_id, event_type, data)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as error:
        with error:  # the refusal's body, closed
            return error.code


def dev_login() -> dict[str, object]:
    """The development login's answer: an access token for the dashboard (never deploy)."""
    token = mint_access_token([MANAGE_SCOPE], subject=MERCHANT)
    return {"access_token": token, "token_type": "Bearer", "expires_in": 3600, "subject": MERCHANT}


@dataclass(frozen=True)
class DemoTokens:
    """Client tokens issued for the demo: a checkout server's, a read-only reporting
    job's, and an operator's with the scope ``*`` (full access)."""

    checkout: str
    readonly: str
    operator: str

    def __repr__(self) -> str:
        return "DemoTokens(<3 tokens>)"


DEMO_LABELS = ("Checkout server", "Reporting job", "Operator")


@functools.cache
def demo_tokens() -> DemoTokens:
    """Issue the demo's client tokens once per process (30 days, like short-lived keys).

    A token is shown only when issued, so the previous start's demo tokens can never be
    shown again: they are revoked and pruned here, and however often the demo starts,
    the store holds just this start's three (and no revoked or expired token).
    """
    manager = token_manager()
    for record in manager.list(APPLICATION_ID):
        if record.label in DEMO_LABELS:
            manager.revoke(record.id)
    manager.prune(timedelta(0))

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
        revocation_bus=revocation_bus(),
        public_paths=[
            "/health",
            "/docs",
            "/docs/oauth2-redirect",
            "/openapi.json",
            LOGIN_PATH,
            *management_api().public_paths,
        ],
    )
