"""Audit events: one per decision, for a ``Guard(on_decision=...)`` hook and the log.

An :class:`AuditEvent` says what was decided about a request (or, with another
``action``, what an operator changed: :func:`bearerguard.dashboard.audit_sink` turns
the dashboard's changes into events such as ``"token.revoked"``) without ever holding
the token: the token is named by the public id its verifier gave it (``token_id``),
else by the first 12 hex digits of its SHA-256 digest, the guard's cache key
(``token_hash``), which lets the refusals of one token be told apart from a spray of
many without making the token recoverable.

Every event is also written to the ``bearerguard`` logger (:func:`log_event`), its
fields as the record's ``extra`` attributes: refusals (and 503s) at INFO, successes
at DEBUG.

```python
from bearerguard import Guard, StaticTokenVerifier
from bearerguard.audit import AuditEvent

events: list[AuditEvent] = []
guard = Guard([StaticTokenVerifier({"dev-token": ["payments.get"]})], on_decision=events.append)
```
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from .context import RequestContext
from .exceptions import AuthError, ServiceUnavailableError
from .principal import Principal

__all__ = [
    "REQUEST",
    "ROUTE",
    "AuditEvent",
    "DecisionHook",
    "Outcome",
    "allowed",
    "log_event",
    "refused",
    "short_hash",
]

logger = logging.getLogger("bearerguard")

Outcome = Literal["allowed", "refused", "unavailable"]

REQUEST = "request"
"""The ``action`` of the guard's own decision on a request."""
ROUTE = "route"
"""The ``action`` of a refusal by a route declaration (or the app) after the guard allowed."""

# Header values and paths come from the caller: bounded and with no control character
# (a newline in a plain-text log would forge a record of its own).
_MAX_PATH = 1000
_MAX_REQUEST_ID = 128
_HASH_DIGITS = 12


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEvent:
    """One decision, or one management action, as the audit hook and the log see it.

    Attributes:
        action: ``"request"`` for the guard's decision on a request, ``"route"`` for a
            refusal by a route declaration (or an error the app raised) after the guard
            let the request in; a management change its own (``"token.revoked"``...).
        outcome: ``"allowed"``, ``"refused"`` (4xx) or ``"unavailable"`` (503).
        status: The HTTP status answered (200 for a request let through).
        error: The RFC 6750 error code of a refusal (None: allowed, or no credentials).
        description: The fixed description answered with a refusal.
        kind: The principal's kind, or the kind of the verifier that refused.
        subject: The principal's subject (for a management action: who acted).
        token_id: The public id of the token, when its verifier gave one (for a
            management action: the token acted upon).
        token_hash: The first 12 hex digits of the token's SHA-256 digest, when the
            event has no ``token_id``; a refusal has it for any token that parses.
        client_id: The principal's client (OAuth client or payment application).
        method: The request method.
        path: The router path (control characters escaped, at most 1000 characters).
        request_id: The caller's ``X-Request-ID`` (escaped, at most 128 characters).
        cache: ``"hit"`` or ``"miss"`` when a token was looked up, else None.
        latency: Seconds the verifier took on a cache miss, else None.
        at: When it was decided (UTC).
    """

    action: str = REQUEST
    outcome: Outcome
    status: int
    error: str | None = None
    description: str | None = None
    kind: str | None = None
    subject: str | None = None
    token_id: str | None = None
    token_hash: str | None = None
    client_id: str | None = None
    method: str | None = None
    path: str | None = None
    request_id: str | None = None
    cache: Literal["hit", "miss"] | None = None
    latency: float | None = None
    at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the event (``at`` in ISO 8601), as the log's ``extra``."""
        document = asdict(self)
        document["at"] = self.at.isoformat()
        return document


DecisionHook = Callable[[AuditEvent], None]
"""``on_decision(event)``: called once per decision, on the request's thread or loop."""


def short_hash(key: bytes) -> str:
    """The ``token_hash`` of a cache key (a token's SHA-256 digest): 12 hex digits."""
    return key.hex()[:_HASH_DIGITS]


def _printable(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = text[:limit]
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _request_fields(request: RequestContext | None) -> dict[str, Any]:
    if request is None:
        return {}
    return {
        "method": _printable(request.method, 32),
        "path": _printable(request.path, _MAX_PATH),
        "request_id": _printable(request.request_id, _MAX_REQUEST_ID),
    }


def _principal_fields(principal: Principal | None) -> dict[str, Any]:
    if principal is None:
        return {}
    return {
        "kind": principal.kind,
        "subject": principal.subject,
        "token_id": principal.token_id,
        "client_id": principal.client_id,
    }


def allowed(
    request: RequestContext | None,
    principal: Principal | None,
    *,
    key: bytes | None = None,
    cache: Literal["hit", "miss"] | None = None,
    latency: float | None = None,
) -> AuditEvent:
    """The event of a request let through (``principal`` None: anonymous, public).

    The token is named by its id when its verifier gave it one, else by ``key``.
    """
    named = principal is not None and principal.token_id is not None
    return AuditEvent(
        outcome="allowed",
        status=200,
        token_hash=None if key is None or named else short_hash(key),
        cache=cache,
        latency=latency,
        **_request_fields(request),
        **_principal_fields(principal),
    )


def refused(
    request: RequestContext | None,
    error: AuthError,
    *,
    principal: Principal | None = None,
    kind: str | None = None,
    key: bytes | None = None,
    cache: Literal["hit", "miss"] | None = None,
    latency: float | None = None,
    action: str = REQUEST,
) -> AuditEvent:
    """The event of a refusal (``unavailable`` for a 503).

    ``kind`` names the verifier that refused when there is no principal.
    """
    unavailable = isinstance(error, ServiceUnavailableError)
    fields = _principal_fields(principal)
    if principal is None and kind is not None:
        fields["kind"] = kind
    return AuditEvent(
        action=action,
        outcome="unavailable" if unavailable else "refused",
        status=error.status_code,
        error=error.error_code,
        description=error.description,
        token_hash=None if key is None else short_hash(key),
        cache=cache,
        latency=latency,
        **_request_fields(request),
        **fields,
    )


# A 503 is INFO too: the verifier's own WARNING says why, once a while, not per request.
_LEVELS = {"allowed": logging.DEBUG, "refused": logging.INFO, "unavailable": logging.INFO}


def log_event(event: AuditEvent) -> None:
    """Write the event to the ``bearerguard`` logger, its fields as ``extra``.

    Refusals and ``unavailable`` at INFO, the rest at DEBUG; any other ``action``
    than a request's or a route's at INFO whatever its outcome.
    """
    if event.action in (REQUEST, ROUTE):
        level = _LEVELS.get(event.outcome, logging.INFO)
    else:
        level = logging.INFO
    if not logger.isEnabledFor(level):
        return
    name = event.token_id or event.token_hash
    who = f"token {name}" if name else "no token"
    if event.kind and name:
        who = f"{event.kind} {who}"
    args: tuple[object, ...]
    if event.outcome == "allowed":
        message, args = "%s %s %s %s: %s", (event.method, event.path, who)
    else:
        answer = event.description or event.error or "no credentials"
        message, args = (
            "%s %s %s %s: %s %s (%s)",
            (event.method, event.path, event.status, answer, who),
        )
    logger.log(level, message, event.action, event.outcome, *args, extra=event.to_dict())
