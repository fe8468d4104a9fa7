"""Checks of what a caller gives :class:`~bearerguard.tokens.TokenManager`.

Each returns the value to store, or raises ``ValueError`` with a message fit for an
operator; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from ..scopes import validate_scopes
from ._format import is_client_id, is_token_id

if TYPE_CHECKING:
    from ._records import TokenRecord

__all__ = [
    "MAX_LABEL_LENGTH",
    "UnknownTokenError",
    "aware",
    "check_client_id",
    "check_label",
    "check_scopes",
    "expiry",
    "rotation_times",
]

MAX_LABEL_LENGTH = 100


class UnknownTokenError(ValueError):
    """No token has this id (a ``ValueError``: it is bad input)."""

    @classmethod
    def for_id(cls, token_id: object) -> UnknownTokenError:
        """The error for ``token_id``, which it quotes only when shaped like a token id.

        Whatever else was given (a pasted token, say) is not repeated.
        """
        if is_token_id(token_id):
            return cls(f"no token with id {token_id}")
        return cls("no token with that id (token ids look like tok_ and 20 letters and digits)")


def aware(value: datetime, name: str) -> datetime:
    """``value`` in UTC; it must be a timezone-aware datetime."""
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime")
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (for example datetime.now(timezone.utc))")
    return value.astimezone(timezone.utc)


def check_client_id(client_id: object) -> str:
    """A 32-character Client ID."""
    if not is_client_id(client_id):
        raise ValueError("client_id must be 32 ASCII letters and digits (new_client_id())")
    return client_id  # type: ignore[return-value]


def check_label(label: object) -> str:
    """A label: 1 to ``MAX_LABEL_LENGTH`` printable characters."""
    if not isinstance(label, str) or not label.strip():
        raise ValueError("label must be non-empty text")
    if len(label) > MAX_LABEL_LENGTH:
        raise ValueError(f"label must be at most {MAX_LABEL_LENGTH} characters")
    if not label.isprintable():
        raise ValueError("label must not contain control characters")
    return label


def check_scopes(scopes: Iterable[str], known_scopes: frozenset[str] | None) -> tuple[str, ...]:
    """At least one valid scope name (from ``known_scopes`` when given), sorted, unique."""
    if isinstance(scopes, str):
        raise ValueError("give scopes as a list, not a string")
    try:
        names = validate_scopes(tuple(scopes))
    except TypeError:
        raise ValueError("scopes must be a list of scope names") from None
    if not names:
        raise ValueError("give at least one scope")
    if known_scopes is not None:
        unknown = sorted(set(names) - known_scopes)
        if unknown:
            raise ValueError(f"unknown scope: {', '.join(unknown)}")
    return tuple(sorted(set(names)))


def expiry(
    now: datetime, expires_in: timedelta | None, expires_at: datetime | None
) -> datetime | None:
    """The expiry time ``expires_in`` from ``now``, or ``expires_at``, or None (never)."""
    if expires_in is not None and expires_at is not None:
        raise ValueError("give expires_in or expires_at, not both")
    if expires_in is not None:
        if not isinstance(expires_in, timedelta):
            raise ValueError("expires_in must be a timedelta")
        if expires_in <= timedelta(0):
            raise ValueError("expires_in must be positive")
        try:
            return now + expires_in
        except OverflowError:
            raise ValueError("expires_in is too far in the future") from None
    if expires_at is not None:
        expires_at = aware(expires_at, "expires_at")
        if expires_at <= now:
            raise ValueError("expires_at must be in the future")
        return expires_at
    return None


def rotation_times(
    record: TokenRecord, now: datetime, grace: timedelta, expires_in: timedelta | None
) -> tuple[datetime, datetime | None]:
    """When a rotated token stops working, and when its successor expires.

    The old token works ``grace`` longer, never longer than it would have; the new one
    lives ``expires_in``, by default as long as the old one was issued for.
    """
    try:
        old_deadline = now + grace
    except OverflowError:
        raise ValueError("grace is too long") from None
    if record.expires_at is not None:
        old_deadline = min(old_deadline, record.expires_at)
        if expires_in is None:
            expires_in = max(record.expires_at - record.created_at, timedelta(seconds=1))
    return old_deadline, expiry(now, expires_in, None)
