"""What the registry keeps about a payment application, and what creating one hands back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from ..tokens._records import MalformedRecordError, _iso, _parse_time, _required_time, _text

__all__ = ["COLUMNS", "Application", "ApplicationStatus", "CreatedApplication", "checked_text"]

ApplicationStatus = Literal["active", "revoked"]

COLUMNS = (
    "client_id",
    "name",
    "owner",
    "webhook_secret",
    "previous_webhook_secret",
    "previous_secret_expires_at",
    "created_at",
    "updated_at",
    "revoked_at",
)
"""The columns of an application row, in table order."""


def checked_text(value: object, what: str, longest: int) -> str:
    """``value`` stripped, when it is printable text of 1 to ``longest`` characters.

    Raises:
        ValueError: empty, too long, not text, or with control characters.
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{what} must be non-empty text")
    if len(value) > longest:
        raise ValueError(f"{what} must be at most {longest} characters")
    if not value.isprintable():
        raise ValueError(f"{what} must not contain control characters")
    return value.strip()


def _sealed(name: str, value: object, *, required: bool) -> bytes | None:
    if value is None and not required:
        return None
    if isinstance(value, (bytearray, memoryview)):
        value = bytes(value)
    if not isinstance(value, bytes) or not value:
        raise MalformedRecordError(f"{name} is not a sealed secret")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Application:
    """A payment application as the registry keeps it.

    Attributes:
        client_id: The public 32-character Client ID (:func:`~bearerguard.tokens.new_client_id`).
        name: A human name ("Web shop").
        owner: The OAuth subject (``sub``) of the merchant who manages it.
        created_at: When it was created (UTC).
        updated_at: When it last changed: created, secret rotated or revoked (UTC).
        revoked_at: When it was revoked, or None.
        webhook_secret: The sealed (encrypted) webhook secret; never the plaintext.
            Left out of ``repr`` and :meth:`to_dict`.
        previous_webhook_secret: The sealed secret it replaced, while that still signs.
        previous_secret_expires_at: Until when the previous secret signs, or None.
    """

    client_id: str
    name: str
    owner: str
    created_at: datetime
    updated_at: datetime
    revoked_at: datetime | None = None
    webhook_secret: bytes = field(repr=False)
    previous_webhook_secret: bytes | None = field(default=None, repr=False)
    previous_secret_expires_at: datetime | None = None

    def status(self) -> ApplicationStatus:
        """``"revoked"`` or ``"active"``."""
        return "active" if self.revoked_at is None else "revoked"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the public fields (no secrets); times in ISO-8601."""
        return {
            "client_id": self.client_id,
            "name": self.name,
            "owner": self.owner,
            "status": self.status(),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
            "revoked_at": _iso(self.revoked_at),
        }

    def to_row(self) -> dict[str, Any]:
        """The row a store writes: every column, sealed secrets as bytes, UTC times."""
        return {name: getattr(self, name) for name in COLUMNS}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Application:
        """Read a stored row strictly (the inverse of :meth:`to_row`).

        Raises:
            MalformedRecordError: a column is missing or has the wrong shape.
        """
        try:
            values = {name: row[name] for name in COLUMNS}
        except (KeyError, TypeError, IndexError):
            raise MalformedRecordError("a column is missing") from None
        return cls(
            client_id=_text("client_id", values["client_id"]),
            name=_text("name", values["name"]),
            owner=_text("owner", values["owner"]),
            webhook_secret=_sealed("webhook_secret", values["webhook_secret"], required=True)
            or b"",
            previous_webhook_secret=_sealed(
                "previous_webhook_secret", values["previous_webhook_secret"], required=False
            ),
            previous_secret_expires_at=_parse_time(
                "previous_secret_expires_at", values["previous_secret_expires_at"]
            ),
            created_at=_required_time("created_at", values["created_at"]),
            updated_at=_required_time("updated_at", values["updated_at"]),
            revoked_at=_parse_time("revoked_at", values["revoked_at"]),
        )


@dataclass(frozen=True, slots=True)
class CreatedApplication:
    """An application just created (or its secret just rotated), with the plaintext secret.

    Attributes:
        application: The stored application.
        webhook_secret: The plaintext webhook secret. Show it to the merchant now: it is
            never listed again (:meth:`ApplicationRegistry.webhook_secret` reads it back
            for signing). Never part of ``repr``.
    """

    application: Application
    webhook_secret: str = field(repr=False)
