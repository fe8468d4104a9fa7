"""Management events: one for every change made through the registry.

```python
registry = ApplicationRegistry(store, manager, box, on_event=audit_sink(on_decision))
```

:func:`audit_sink` joins them with the guard's decisions: each becomes a
:class:`~bearerguard.audit.AuditEvent` (``action`` such as ``"token.revoked"``,
``subject`` who acted), written to the ``bearerguard`` logger and handed to the same
``on_decision`` hook the :class:`~bearerguard.Guard` is given. An event never carries
a token, a webhook secret or a hash: only ids, names and scopes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal

from ..audit import AuditEvent, DecisionHook, log_event

__all__ = ["EventHandler", "ManagementAction", "ManagementEvent", "audit_sink"]

logger = logging.getLogger("bearerguard")

ManagementAction = Literal[
    "application.created",
    "application.revoked",
    "application.webhook_secret_rotated",
    "token.created",
    "token.rotated",
    "token.revoked",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ManagementEvent:
    """A change to a payment application or one of its tokens, after it was written.

    Attributes:
        action: What changed (``"token.created"``, ...).
        actor: The OAuth subject who made the change, or None (a script, the CLI).
        client_id: The application's Client ID.
        token_id: The token concerned (``tok_…``), for token events.
        at: When the change was made (UTC).
        detail: Public particulars: ``label`` and ``scopes`` of a new token,
            ``replaced_by`` for a rotation, ``name`` of a new application.
    """

    action: ManagementAction
    actor: str | None
    client_id: str
    at: datetime
    token_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", MappingProxyType(dict(self.detail)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the event; ``at`` in ISO-8601."""
        return {
            "action": self.action,
            "actor": self.actor,
            "client_id": self.client_id,
            "token_id": self.token_id,
            "at": self.at.isoformat(),
            "detail": dict(self.detail),
        }

    def to_audit_event(self) -> AuditEvent:
        """The event as the guard's audit stream carries it (``outcome="allowed"``)."""
        return AuditEvent(
            action=self.action,
            outcome="allowed",
            status=201 if self.action.endswith("created") else 200,
            kind="oauth" if self.actor is not None else None,
            subject=self.actor,
            token_id=self.token_id,
            client_id=self.client_id,
            at=self.at,
        )


EventHandler = Callable[[ManagementEvent], None]
"""``on_event(event)``: called after each change; what it raises is logged, not raised."""


def audit_sink(on_decision: DecisionHook | None = None) -> EventHandler:
    """An ``on_event`` that logs each change as an audit event and hands it on.

    Args:
        on_decision: The hook given to ``Guard(on_decision=...)``, to see management
            changes in the same stream as decisions; None to log them only.
    """

    def sink(event: ManagementEvent) -> None:
        audited = event.to_audit_event()
        log_event(audited)
        if on_decision is not None:
            on_decision(audited)

    return sink


def emit(
    handler: EventHandler | None,
    action: ManagementAction,
    actor: str | None,
    client_id: str,
    at: datetime,
    token_id: str | None = None,
    **detail: Any,
) -> None:
    """Hand the event to ``handler``. The change is already made, so a failing handler
    is logged (by the exception's type: its text might quote anything) and swallowed."""
    if handler is None:
        return
    event = ManagementEvent(
        action=action, actor=actor, client_id=client_id, at=at, token_id=token_id, detail=detail
    )
    try:
        handler(event)
    except Exception as exc:
        logger.error("management event handler failed on %s: %s", event.action, type(exc).__name__)
