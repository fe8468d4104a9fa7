"""Standard Webhooks signatures: ``v1`` HMAC-SHA256 over ``id.timestamp.body``.

The scheme (Standard Webhooks specification, "Signature scheme" and "Webhook headers"):
the sender signs ``f"{webhook-id}.{webhook-timestamp}.{body}"`` with HMAC-SHA256 under
the secret (``whsec_`` and base64 of the key bytes) and sends ``webhook-signature:
v1,<base64>``, several of them space-separated while a secret rotates. The receiver
checks the timestamp against a tolerance window (replays) and compares signatures in
constant time.

Written here rather than taken from the ``standardwebhooks`` package, whose 1.1.0 lets
``ValueError`` and ``binascii.Error`` escape on a malformed signature entry and
``UnicodeDecodeError`` on a body that is not UTF-8 (an attacker's 500), silently drops
characters that are not base64 from a secret, and signs an aware non-UTC ``datetime``
hours off (it replaces the zone instead of converting).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

__all__ = [
    "DEFAULT_TOLERANCE",
    "SECRET_ENV",
    "Webhook",
    "WebhookMessage",
    "WebhookVerificationError",
    "new_message_id",
]

SECRET_ENV = "WEBHOOK_SECRET"  # noqa: S105 - a variable name
"""The environment variable :meth:`Webhook.from_env` reads by default."""
DEFAULT_TOLERANCE = timedelta(minutes=5)
"""How far a ``webhook-timestamp`` may be from now, either way, by default."""

_PREFIX = "whsec_"
_MIN_SECRET_BYTES = 24  # the specification's range for symmetric secrets: 24 to 64 bytes
_MAX_SECRET_BYTES = 64
# A webhook-id is a visible ASCII header value with no "." (the specification: ids
# must not include "." so that "id.timestamp.body" splits one way only).
_MESSAGE_ID = re.compile(r"[!-\-/-~]{1,256}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # integer UNIX seconds; no sign, no fraction


_DESCRIPTIONS: Mapping[str, str] = {
    "missing_header": "webhook-id, webhook-timestamp and webhook-signature are required",
    "invalid_header": "webhook-id or webhook-timestamp is malformed",
    "timestamp_too_old": "webhook-timestamp is older than the tolerance allows",
    "timestamp_too_new": "webhook-timestamp is further ahead than the tolerance allows",
    "invalid_signature": "no v1 signature matches the webhook secret",
    "invalid_payload": "the webhook body is not JSON",
    "payload_too_large": "the webhook body is larger than this endpoint accepts",
}


class SupportsItems(Protocol):
    """Headers as a dict, Starlette's ``Headers`` or Werkzeug's ``Headers`` give them."""

    def items(self) -> Iterable[tuple[str, str]]: ...


class WebhookVerificationError(ValueError):
    """A webhook delivery is refused: missing or malformed headers, a timestamp outside
    the tolerance, no matching signature, or a body that is not JSON.

    ``error`` is a fixed code, ``description`` a fixed sentence: neither ever carries
    a header value, the body or a secret.
    """

    status_code = 400
    """The HTTP status a receiver answers (413 for ``payload_too_large``)."""

    def __init__(self, error: str) -> None:
        if error not in _DESCRIPTIONS:
            raise ValueError(f"unknown webhook error code {error!r}")
        self.error = error
        self.description = _DESCRIPTIONS[error]
        if error == "payload_too_large":
            self.status_code = 413
        super().__init__(self.description)

    def body(self) -> dict[str, str]:
        """The JSON document a receiver answers."""
        return {
            "message": "Webhook refused",
            "error": self.error,
            "error_description": self.description,
        }


@dataclass(frozen=True, slots=True)
class WebhookMessage:
    """A verified delivery: its id (the idempotency key), when it was sent, the raw
    body the signature covers, and that body parsed as JSON."""

    id: str
    timestamp: datetime
    body: bytes = field(repr=False)
    payload: Any = field(repr=False)


def new_message_id() -> str:
    """A fresh ``webhook-id``: ``msg_`` and 24 random URL-safe characters."""
    return "msg_" + secrets.token_urlsafe(18)


def _decode_secret(secret: str | bytes) -> bytes:
    if isinstance(secret, bytes):
        key = secret
    elif isinstance(secret, str):
        text = secret.strip().removeprefix(_PREFIX)
        try:
            # Unpadded base64 is common in the wild (the reference libraries accept it).
            key = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a webhook secret is whsec_ and base64 (standard alphabet)") from None
    else:
        raise TypeError("a webhook secret is a str (whsec_...) or bytes")
    if not _MIN_SECRET_BYTES <= len(key) <= _MAX_SECRET_BYTES:
        raise ValueError("a webhook secret holds 24 to 64 bytes (Standard Webhooks)")
    return key


class Webhook:
    """Signs and verifies webhook deliveries with one or several secrets.

    ```python
    from bearerguard.webhooks import Webhook

    webhook = Webhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    headers = webhook.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}')
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    ```

    Several secrets (a rotation: the new one first) sign every delivery with each, and
    a delivery verifies when any of its ``v1`` signatures matches any of them.

    Args:
        secrets: ``whsec_...`` strings (or the key bytes); one, or several.
        tolerance: How far ``webhook-timestamp`` may be from now, either way.
        clock: Wall clock in UNIX seconds (tests inject one).

    Raises:
        ValueError: no secret, a secret that is not base64 of 24 to 64 bytes, or a
            negative tolerance. The message never carries the secret.
    """

    def __init__(
        self,
        secrets: str | bytes | Iterable[str | bytes],
        *,
        tolerance: timedelta = DEFAULT_TOLERANCE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        given = [secrets] if isinstance(secrets, (str, bytes)) else list(secrets)
        self._keys = tuple(_decode_secret(secret) for secret in given)
        if not self._keys:
            raise ValueError("a Webhook needs at least one secret")
        if not isinstance(tolerance, timedelta) or tolerance < timedelta(0):
            raise ValueError("tolerance must be a timedelta of zero or more")
        self.tolerance = tolerance
        self._clock = clock

    def __repr__(self) -> str:
        return f"Webhook(<{len(self._keys)} secret(s)>, tolerance={self.tolerance!r})"

    @classmethod
    def from_env(cls, name: str = SECRET_ENV, **options: Any) -> Webhook:
        """The secrets in the environment variable ``name`` (``WEBHOOK_SECRET``), several
        separated by commas (the current one first); ``options`` as for the class.

        Raises:
            ValueError: the variable is unset or empty, or holds a bad secret.
        """
        value = os.environ.get(name, "")
        parts = [part for part in value.split(",") if part.strip()]
        if not parts:
            raise ValueError(f"set {name} to the webhook secret (whsec_...)")
        return cls(parts, **options)

    def _signatures(self, msg_id: str, timestamp: str, body: bytes) -> list[bytes]:
        content = b"%s.%s.%s" % (msg_id.encode("ascii"), timestamp.encode("ascii"), body)
        return [hmac.new(key, content, hashlib.sha256).digest() for key in self._keys]

    def sign(self, msg_id: str, timestamp: datetime | int, body: bytes | str) -> dict[str, str]:
        """The three headers of a delivery of ``body`` (sent as these exact bytes).

        Args:
            msg_id: The delivery's id, kept across retries (:func:`new_message_id`).
            timestamp: When this attempt is sent: an aware ``datetime`` or UNIX seconds.
            body: The body as sent; a str is encoded as UTF-8.

        Raises:
            ValueError: an id with ``.``, spaces or non-ASCII characters, or a naive
                or negative timestamp.
        """
        if not isinstance(msg_id, str) or not _MESSAGE_ID.fullmatch(msg_id):
            raise ValueError("a webhook id is 1 to 256 visible ASCII characters, without '.'")
        if isinstance(timestamp, datetime):
            if timestamp.utcoffset() is None:
                raise ValueError("a webhook timestamp datetime must be timezone-aware")
            seconds = int(timestamp.timestamp())
        elif isinstance(timestamp, int) and not isinstance(timestamp, bool):
            seconds = timestamp
        else:
            raise TypeError("a webhook timestamp is an aware datetime or int UNIX seconds")
        if not 0 <= seconds < 10**12:
            raise ValueError("a webhook timestamp is UNIX seconds from 0")
        data = body.encode() if isinstance(body, str) else bytes(body)
        signatures = self._signatures(msg_id, str(seconds), data)
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(seconds),
            "webhook-signature": " ".join(
                "v1," + base64.b64encode(signature).decode("ascii") for signature in signatures
            ),
        }

    def verify(self, body: bytes | str, headers: SupportsItems) -> Any:
        """Verify a delivery and return its JSON payload (see :meth:`verify_message`)."""
        return self.verify_message(body, headers).payload

    def verify_message(self, body: bytes | str, headers: SupportsItems) -> WebhookMessage:
        """Verify a delivery: headers present and well formed, timestamp within the
        tolerance, one ``v1`` signature matching (constant-time), body JSON.

        Args:
            body: The raw body as received (never a re-serialized JSON).
            headers: The request's headers, any case (a dict, Starlette's or Werkzeug's).

        Raises:
            WebhookVerificationError: the delivery is refused; ``error`` says why.
        """
        found = {key.lower(): value for key, value in headers.items()}
        msg_id = found.get("webhook-id")
        stamp = found.get("webhook-timestamp")
        header = found.get("webhook-signature")
        if not (msg_id and stamp and header):
            raise WebhookVerificationError("missing_header")
        if not (_MESSAGE_ID.fullmatch(msg_id) and _TIMESTAMP.fullmatch(stamp)):
            raise WebhookVerificationError("invalid_header")
        offset = int(stamp) - self._clock()
        if offset < -self.tolerance.total_seconds():
            raise WebhookVerificationError("timestamp_too_old")
        if offset > self.tolerance.total_seconds():
            raise WebhookVerificationError("timestamp_too_new")
        data = body.encode() if isinstance(body, str) else bytes(body)
        expected = self._signatures(msg_id, stamp, data)
        if not any(
            hmac.compare_digest(candidate, signature)
            for candidate in _v1_signatures(header)
            for signature in expected
        ):
            raise WebhookVerificationError("invalid_signature")
        try:
            payload = json.loads(data)
        except (ValueError, RecursionError):  # JSONDecodeError, UnicodeDecodeError, nesting
            raise WebhookVerificationError("invalid_payload") from None
        when = datetime.fromtimestamp(int(stamp), tz=timezone.utc)
        return WebhookMessage(id=msg_id, timestamp=when, body=data, payload=payload)


def _v1_signatures(header: str) -> Iterable[bytes]:
    """The decoded ``v1`` signatures of a ``webhook-signature`` header.

    Other versions (``v1a`` is ed25519) and malformed entries are skipped, not fatal:
    the specification has the receiver try each signature until one matches.
    """
    for entry in header.split(" "):
        version, comma, encoded = entry.partition(",")
        if version != "v1" or not comma:
            continue
        try:
            yield base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):  # ValueError: a non-ASCII str
            continue
