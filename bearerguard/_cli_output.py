"""What the ``bearerguard`` command prints: records, tables and JSON, never a stray token."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any, TextIO

from .tokens import IssuedToken, TokenRecord

__all__ = [
    "SHOWN_ONCE",
    "describe",
    "print_issued",
    "print_json",
    "print_table",
    "safe",
    "status",
    "when",
]

SHOWN_ONCE = (
    "bearerguard: this token is shown only now and cannot be shown again (only its hash "
    "is kept); put it in the client's secret store or environment, never in code"
)


def safe(text: str) -> str:
    """``text`` fit for a terminal."""
    # Stored text reaches a terminal: no control sequences (labels are checked on
    # issue, but a row may have been edited by hand).
    return "".join(char if char.isprintable() else "?" for char in text)


def when(value: datetime | None, empty: str = "-") -> str:
    """A time as ``2026-03-01 00:00:00Z``, or ``empty``."""
    if value is None:
        return empty
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def print_json(document: Any, out: TextIO) -> None:
    """``document`` as indented JSON."""
    out.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def status(record: TokenRecord, now: datetime) -> str:
    """``active``, ``expired``, ``revoked``, or ``rotated`` while a replaced token still works."""
    current = record.status(now)
    return "rotated" if current == "active" and record.replaced_by is not None else current


def describe(record: TokenRecord, now: datetime, out: TextIO) -> None:
    """One record, a field a line."""
    current = status(record, now)
    if current == "rotated":
        current += f" into {record.replaced_by}, works until {when(record.expires_at)}"
    lines = [
        ("id", record.id),
        ("client id", record.client_id),
        ("label", safe(record.label)),
        ("scopes", " ".join(record.scopes) or "-"),
        ("status", current),
        ("created", when(record.created_at)),
        ("expires", when(record.expires_at, "never")),
        ("last used", when(record.last_used_at, "never")),
        ("revoked", when(record.revoked_at)),
        ("successor", record.replaced_by or "-"),
    ]
    for name, value in lines:
        out.write(f"{name + ':':<11}{value}\n")


def print_table(rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """Rows in columns, the first row the header."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        out.write(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
        out.write("\n")


def print_issued(
    issued: IssuedToken, headline: str, now: datetime, json_out: bool, out: TextIO
) -> None:
    """A new token: its record, then the token alone on the last line; a warning on stderr."""
    if json_out:
        print_json({"token": issued.token, "record": issued.record.to_dict()}, out)
    else:
        out.write(headline + "\n")
        describe(issued.record, now, out)
        out.write(issued.token + "\n")
    sys.stderr.write(SHOWN_ONCE + "\n")
