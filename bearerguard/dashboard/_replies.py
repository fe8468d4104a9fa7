"""What the framework-free core hands an adapter to send: status, headers, body."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = ["Reply", "json_reply"]

_JSON_HEADERS = (
    ("content-type", "application/json"),
    # RFC 9111 section 5.2.2.5: a plaintext token or secret must never be cached.
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
)


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer to send as it is: status, headers (``(name, value)`` strings), body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


def json_reply(status: int, document: Any, *extra: tuple[str, str]) -> Reply:
    """A JSON answer with the API's headers, ``Cache-Control: no-store`` among them."""
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    return Reply(status, (*_JSON_HEADERS, *extra), body)
