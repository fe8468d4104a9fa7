"""What a store keeps about a client token, and what issuing one hands back."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from ._format import generate_token, is_token_id, new_token_id

__all__ = [
    "IssuedToken",
    "MalformedRecordError",
    "TokenRecord",
    "TokenStatus",
    "mint",
]

TokenStatus = Literal["active", "expired", "revoked"]

# RFC 6749 section 3.3 scope-token, as bearerguard.scopes checks it.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_COLUMNS = (
    "id",
    "token_hash",
    "client_id",
    "label",
    "scopes",
    "created_at",
    "expires_at",
    "last_used_at",
    "revoked_at",
)


class MalformedRecordError(ValueError):
    """A stored row cannot be read as a token record: the token is refused (F-02)."""


def _utc(value: datetime) -> datetime:
    # Some drivers hand back naive datetimes (SQLAlchemy on SQLite): bearerguard
    # writes UTC, so naive means UTC. Comparing naive with aware would raise (C-05).
    if value.utcoffset() is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def _required_time(name: str, value: object) -> datetime:
    parsed = _parse_time(name, value)
    if parsed is None:
        raise MalformedRecordError(f"{name} is missing")
    return parsed


def _parse_time(name: str, value: object) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return _utc(value)
    if isinstance(value, str):
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        try:
            return _utc(datetime.fromisoformat(text))
        except ValueError:
            raise MalformedRecordError(f"{name} is not an ISO-8601 time") from None
    raise MalformedRecordError(f"{name} is not a time")


def _parse_scopes(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise MalformedRecordError("scopes is not a JSON array") from None
    if not isinstance(value, (list, tuple)):
        raise MalformedRecordError("scopes is not a list")
    for scope in value:
        if not isinstance(scope, str) or not _SCOPE_TOKEN.fullmatch(scope):
            raise MalformedRecordError("scopes holds an invalid scope")
    return tuple(sorted(set(value)))


def _parse_hash(value: object) -> bytes:
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value)
        except ValueError:
            raise MalformedRecordError("token_hash is not hexadecimal") from None
    if isinstance(value, (bytearray, memoryview)):
        value = bytes(value)
    if not isinstance(value, bytes) or len(value) != 32:
        raise MalformedRecordError("token_hash is not a SHA-256 digest")
    return value


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise MalformedRecordError(f"{name} is missing or not text")
    return value


def _successor(value: object) -> str | None:
    if value is None or is_token_id(value):
        return value  # type: ignore[return-value]
    raise MalformedRecordError("replaced_by is not a token id")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenRecord:
    """A client token as the store keeps it: never the plaintext.

    Attributes:
        id: The public token id (``tok_…``), safe to show and log.
        client_id: The payment application (Client ID) the token belongs to.
        label: A human description ("Checkout server").
        scopes: The granted scopes, sorted.
        created_at: When it was issued (UTC).
        expires_at: When it stops working (UTC), or None for never.
        last_used_at: When it was last used, to within the manager's
            ``last_used_interval``, or None.
        revoked_at: When it was revoked, or None.
        replaced_by: The id of the token that replaced this one by rotation, or None.
            A rotated token keeps working until its (shortened) ``expires_at``.
        token_hash: SHA-256 of the whole token, the store's lookup key. Left out of
            ``repr``; it cannot be turned back into the token.
    """

    id: str
    client_id: str
    label: str
    scopes: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    replaced_by: str | None = None
    token_hash: bytes = field(repr=False)

    def status(self, now: datetime) -> TokenStatus:
        """``"revoked"``, ``"expired"`` (at or after ``expires_at``) or ``"active"``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= _utc(now):
            return "expired"
        return "active"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the public fields (no hash); times in ISO-8601."""
        return {
            "id": self.id,
            "client_id": self.client_id,
            "label": self.label,
            "scopes": list(self.scopes),
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at),
            "last_used_at": _iso(self.last_used_at),
            "revoked_at": _iso(self.revoked_at),
            "replaced_by": self.replaced_by,
        }

    def to_row(self) -> dict[str, Any]:
        """The row a store writes: every column, scopes as a JSON array, UTC times."""
        return {
            "id": self.id,
            "token_hash": self.token_hash,
            "client_id": self.client_id,
            "label": self.label,
            "scopes": json.dumps(list(self.scopes), separators=(",", ":")),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
            "replaced_by": self.replaced_by,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> TokenRecord:
        """Read a stored row strictly (the inverse of :meth:`to_row`).

        Accepts times as datetimes (naive ones are UTC) or ISO-8601 text, scopes as a
        JSON array or a list, the hash as bytes or hex. ``replaced_by`` may be absent
        (a store written for schema version 1).

        Raises:
            MalformedRecordError: a column is missing or has the wrong shape.
        """
        try:
            values = {name: row[name] for name in _COLUMNS}
        except (KeyError, TypeError, IndexError):
            raise MalformedRecordError("a column is missing") from None
        return cls(
            id=_text("id", values["id"]),
            token_hash=_parse_hash(values["token_hash"]),
            client_id=_text("client_id", values["client_id"]),
            label=_text("label", values["label"]),
            scopes=_parse_scopes(values["scopes"]),
            created_at=_required_time("created_at", values["created_at"]),
            expires_at=_parse_time("expires_at", values["expires_at"]),
            last_used_at=_parse_time("last_used_at", values["last_used_at"]),
            revoked_at=_parse_time("revoked_at", values["revoked_at"]),
            replaced_by=_successor(row.get("replaced_by")),
        )


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A token just issued: the plaintext, once, and its record.

    Attributes:
        token: The plaintext token. Hand it to the client now: bearerguard keeps only
            its hash, so it cannot be shown again. Never part of ``repr``.
        record: The stored record.
    """

    token: str = field(repr=False)
    record: TokenRecord


def mint(
    prefix: str,
    *,
    client_id: str,
    label: str,
    scopes: tuple[str, ...],
    expires_at: datetime | None,
    now: datetime,
) -> IssuedToken:
    """A new random token with this prefix and its record (checked values only)."""
    token = generate_token(prefix)
    record = TokenRecord(
        id=new_token_id(),
        client_id=client_id,
        label=label,
        scopes=scopes,
        created_at=now,
        expires_at=expires_at,
        # The same digest as the guard's cache key (bearerguard.cache.token_key).
        token_hash=hashlib.sha256(token.encode()).digest(),
    )
    return IssuedToken(token, record)
