"""Webhook secrets: generated here, kept encrypted at rest with the operator's key.

A webhook secret must be read back to sign deliveries, so it cannot be hashed like a
client token. It is sealed with AES-256-GCM (``cryptography``, which PyJWT's
``crypto`` extra installs) under a key the operator provides, and the application's
Client ID is bound in as associated data: a sealed secret copied onto another
application's row does not open (NIST SP 800-38D, section 5.2.1.2).

```python
box = SecretBox.from_env()          # BEARERGUARD_SECRET_KEY=<key>[,<older key>...]
sealed = box.seal(secret, client_id)
box.open(sealed, client_id)         # the secret again
```

A sealed value is ``version (1 byte) | key id (4) | nonce (12) | ciphertext + tag``.
The key id (the first 4 bytes of the key's SHA-256) picks the key that opens it, so
keys rotate by putting the new one first and keeping the old ones after it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "SECRET_KEY_ENV",
    "WEBHOOK_SECRET_PREFIX",
    "SecretBox",
    "SecretBoxError",
    "new_secret_key",
    "new_webhook_secret",
]

SECRET_KEY_ENV = "BEARERGUARD_SECRET_KEY"  # noqa: S105 - a variable name
"""The environment variable :meth:`SecretBox.from_env` reads by default."""
WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix
"""Webhook secrets look like Standard Webhooks' ``whsec_`` and base64 of 32 bytes."""

_VERSION = b"\x01"
_KEY_ID_LENGTH = 4
_NONCE_LENGTH = 12  # NIST SP 800-38D section 8.2: 96-bit random nonces
_AAD_PREFIX = b"bearerguard webhook secret\x00"


class SecretBoxError(ValueError):
    """A sealed secret cannot be opened: wrong or missing key, or altered bytes.

    The message never carries key material or the sealed bytes.
    """


def new_secret_key() -> str:
    """A new operator key: 32 random bytes, URL-safe base64 (for ``BEARERGUARD_SECRET_KEY``)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def new_webhook_secret() -> str:
    """A new webhook secret: ``whsec_`` and the base64 of 32 random bytes."""
    return WEBHOOK_SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _decode_key(text: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise ValueError("a secret key is URL-safe base64 of 32 bytes (new_secret_key())") from None
    if len(key) != 32:
        raise ValueError("a secret key is URL-safe base64 of 32 bytes (new_secret_key())")
    return key


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()[:_KEY_ID_LENGTH]


class SecretBox:
    """Seal and open secrets with AES-256-GCM under the operator's keys.

    Args:
        keys: One or more keys as URL-safe base64 of 32 bytes (:func:`new_secret_key`).
            The first seals; every key opens what it sealed, so an old key stays listed
            until the secrets it sealed have been rotated.

    Raises:
        ValueError: no key, or a key that is not base64 of 32 bytes.
    """

    def __init__(self, keys: str | Iterable[str]) -> None:
        listed = [keys] if isinstance(keys, str) else list(keys)
        decoded = [_decode_key(key) for key in listed if key.strip()]
        if not decoded:
            raise ValueError("a SecretBox needs at least one key (new_secret_key())")
        self._sealing = (_key_id(decoded[0]), AESGCM(decoded[0]))
        self._opening = {_key_id(key): AESGCM(key) for key in reversed(decoded)}

    def __repr__(self) -> str:
        return f"SecretBox(<{len(self._opening)} keys>)"

    @classmethod
    def from_env(cls, name: str = SECRET_KEY_ENV) -> SecretBox:
        """The box for the comma-separated keys in the environment variable ``name``.

        Raises:
            ValueError: the variable is unset or empty, or holds a bad key.
        """
        value = os.environ.get(name, "")
        if not value.strip():
            raise ValueError(
                f"set {name} to a secret key (python -c 'from bearerguard.dashboard "
                "import new_secret_key; print(new_secret_key())')"
            )
        return cls(value.split(","))

    def seal(self, secret: str, context: str) -> bytes:
        """Encrypt ``secret``, bound to ``context`` (the application's Client ID)."""
        key_id, aead = self._sealing
        nonce = secrets.token_bytes(_NONCE_LENGTH)
        sealed = aead.encrypt(nonce, secret.encode(), _AAD_PREFIX + context.encode())
        return _VERSION + key_id + nonce + sealed

    def open(self, sealed: bytes, context: str) -> str:
        """Decrypt what :meth:`seal` made for the same ``context``.

        Raises:
            SecretBoxError: unknown version or key, altered bytes, or another context.
        """
        sealed = bytes(sealed)
        head = 1 + _KEY_ID_LENGTH
        if len(sealed) < head + _NONCE_LENGTH + 16 or sealed[:1] != _VERSION:
            raise SecretBoxError("the sealed secret is not in a known format")
        aead = self._opening.get(sealed[1:head])
        if aead is None:
            raise SecretBoxError("the sealed secret was made with a key that is not configured")
        nonce, body = sealed[head : head + _NONCE_LENGTH], sealed[head + _NONCE_LENGTH :]
        try:
            return aead.decrypt(nonce, body, _AAD_PREFIX + context.encode()).decode()
        except (InvalidTag, UnicodeDecodeError):
            raise SecretBoxError("the sealed secret does not open with this key") from None
