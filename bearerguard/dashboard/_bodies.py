"""Reading the management API's JSON bodies: every problem named by its field.

Each reader returns the checked values or raises :class:`InvalidBody` with one
``(field, message)`` per problem, all of them at once, before anything is written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Set
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from ..tokens import MAX_LABEL_LENGTH
from ._records import checked_text
from ._registry import MAX_NAME_LENGTH

__all__ = ["MAX_GRACE", "InvalidBody", "NewToken", "grace", "new_application", "new_token"]

MAX_GRACE = timedelta(days=30)
"""The longest grace a rotation may give the old token or secret."""
_DEFAULT_GRACE = timedelta(hours=24)
_LATEST_EXPIRY = timedelta(days=3660)  # ten years: past that, say "never"


class InvalidBody(ValueError):
    """The body is not what the route takes; ``problems`` lists ``(field, message)``."""

    def __init__(self, problems: list[tuple[str | None, str]]) -> None:
        self.problems = problems
        super().__init__("; ".join(message for _, message in problems))


def parse(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}``.

    Raises:
        InvalidBody: not UTF-8 JSON, or not an object.
    """
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidBody([(None, "the body must be a JSON object")]) from None
    if not isinstance(value, dict):
        raise InvalidBody([(None, "the body must be a JSON object")])
    return value


def _text(document: dict[str, Any], field: str, longest: int, problems: list[Any]) -> str:
    try:
        return checked_text(document.get(field), field, longest)
    except ValueError as exc:
        problems.append((field, str(exc)))
        return ""


def new_application(body: bytes) -> str:
    """``{"name": "Web shop"}``: the name."""
    document = parse(body)
    problems: list[tuple[str | None, str]] = []
    name = _text(document, "name", MAX_NAME_LENGTH, problems)
    if problems:
        raise InvalidBody(problems)
    return name


NewToken = tuple[str, tuple[str, ...], "datetime | None"]


def _expiry(value: object, now: datetime, problems: list[Any]) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        problems.append(("expires_at", "expires_at must be a date (YYYY-MM-DD) or null"))
        return None
    try:
        if len(value) == 10:
            # A date is the day the token stops working: at its start, 00:00 UTC, so
            # the list shows the date the merchant picked.
            day = date.fromisoformat(value)
            expires = datetime.combine(day, time(), timezone.utc)
        else:
            expires = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        problems.append(("expires_at", "expires_at must be a date (YYYY-MM-DD) or null"))
        return None
    if expires.utcoffset() is None:
        problems.append(("expires_at", "expires_at needs a time zone (or give a date)"))
        return None
    if expires <= now:
        problems.append(
            ("expires_at", "expires_at must be in the future (a date from tomorrow on)")
        )
    elif expires - now > _LATEST_EXPIRY:
        problems.append(("expires_at", "expires_at must be within ten years"))
    else:
        return expires.astimezone(timezone.utc)
    return None


def new_token(body: bytes, known_scopes: Set[str], now: datetime) -> NewToken:
    """``{"label": ..., "scopes": [...], "expires_at": "2026-12-31" | null}``."""
    document = parse(body)
    problems: list[tuple[str | None, str]] = []
    label = _text(document, "label", MAX_LABEL_LENGTH, problems)
    scopes = document.get("scopes")
    if not isinstance(scopes, list) or not all(isinstance(scope, str) for scope in scopes):
        problems.append(("scopes", "scopes must be a list of scope names"))
        scopes = []
    elif not scopes:
        problems.append(("scopes", "select at least one scope"))
    else:
        unknown = sorted(set(scopes) - known_scopes)
        if unknown:
            problems.append(("scopes", f"unknown scope: {', '.join(unknown)[:200]}"))
    expires_at = _expiry(document.get("expires_at"), now, problems)
    if problems:
        raise InvalidBody(problems)
    return label, tuple(scopes), expires_at


def grace(body: bytes) -> timedelta:
    """``{"grace_seconds": 3600}`` (optional, default a day, at most 30 days)."""
    document = parse(body)
    value = document.get("grace_seconds")
    if value is None:
        return _DEFAULT_GRACE
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 <= value <= MAX_GRACE.total_seconds()
    ):
        raise InvalidBody(
            [("grace_seconds", f"grace_seconds must be 0 to {int(MAX_GRACE.total_seconds())}")]
        )
    return timedelta(seconds=value)
