"""Client tokens (API keys) issued by a :class:`~bearerguard.tokens.TokenManager`.

The cost of a request is bounded before any I/O: a token with the manager's prefix
but the wrong length, alphabet or checksum is refused offline (C-03), so a spray of
random strings never reaches the store (L-01). A well-formed token is looked up by
the SHA-256 of the whole token on a unique index, then the digests are compared with
:func:`hmac.compare_digest` (C-08, C-10).

There is deliberately no ``averify``: the stores are blocking, so under ASGI the
guard runs :meth:`ClientTokenVerifier.verify` in a worker thread and the event loop
never waits on the database. A cache hit never reaches the verifier at all.

The bundled stores answer every lookup within their ``timeout`` and let at most
``max_concurrency`` lookups wait at once (:mod:`bearerguard.stores`); a store that
times out, is busy or fails is 503 with ``Retry-After`` (F-01), logged by the
exception's type alone: a driver's message may quote parameters.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..exceptions import ServiceUnavailableError, UnauthenticatedError
from ..principal import Principal
from ..tokens import MalformedRecordError, TokenRecord
from ..tokens._format import is_token_id

if TYPE_CHECKING:
    from ..guard import Guard
    from ..tokens import TokenManager

__all__ = ["ClientTokenVerifier"]

logger = logging.getLogger("bearerguard")

# One description for malformed, unknown and mismatched tokens: no oracle (C-10).
_INVALID = "The access token is invalid"
_EXPIRED = "The access token expired"
_REVOKED = "The access token was revoked"


def _row_id(row: Mapping[str, object]) -> str:
    token_id = row.get("id")
    return token_id if is_token_id(token_id) else "?"  # type: ignore[return-value]


class ClientTokenVerifier:
    """Verify client tokens against a :class:`~bearerguard.tokens.TokenManager`'s store.

    Owns every token that starts with the manager's prefix (a cheap, offline test),
    so a token with that prefix is never offered to another verifier (C-11).

    The principal has kind ``"client"``, ``subject`` and ``token_id`` set to the
    token id, the token's ``client_id``, scopes and ``expires_at``, and the label in
    ``claims["label"]``.

    Args:
        manager: The manager whose tokens to accept.
    """

    kind = "client"

    def __init__(self, manager: TokenManager) -> None:
        self.manager = manager
        self._prefix = manager.prefix

    def __repr__(self) -> str:
        return f"ClientTokenVerifier(prefix={self._prefix!r})"

    def accepts(self, token: str) -> bool:
        """True for a well-formed token with the manager's prefix.

        Raises:
            UnauthenticatedError: the token has the prefix but a wrong length, alphabet
                or checksum. Refused here, offline, the guard spends no single flight,
                cache entry or worker thread on it (C-03, L-01).
        """
        if not token.startswith(self._prefix):
            return False
        if not self.manager.is_well_formed(token):
            raise UnauthenticatedError(_INVALID)
        return True

    def verify(self, token: str) -> Principal:
        """Check format offline, then look the token's digest up in the store.

        Raises:
            UnauthenticatedError: malformed, unknown, revoked or expired (401), or
                its stored record is corrupt (F-02).
            ServiceUnavailableError: the store failed, timed out or was busy (503, F-01).
        """
        manager = self.manager
        if not manager.is_well_formed(token):
            raise UnauthenticatedError(_INVALID)
        digest = hashlib.sha256(token.encode()).digest()
        try:
            row = manager.store.find_by_hash(digest)
        except Exception as exc:
            # The type only (StoreTimeoutError, StoreBusyError, ...): a driver's
            # message may quote parameters.
            logger.error("client token store failed: %s", type(exc).__name__)
            raise ServiceUnavailableError() from None
        if row is None:
            raise UnauthenticatedError(_INVALID)
        try:
            record = TokenRecord.from_row(row)
        except MalformedRecordError as exc:
            logger.warning(
                "refusing client token %s: its stored record is malformed: %s", _row_id(row), exc
            )
            raise UnauthenticatedError(_INVALID) from None
        if not hmac.compare_digest(record.token_hash, digest):
            logger.error("client token store returned the wrong row for %s", record.id)
            raise UnauthenticatedError(_INVALID)
        return self._principal(record)

    def _principal(self, record: TokenRecord) -> Principal:
        if record.revoked_at is not None:
            raise UnauthenticatedError(_REVOKED)
        expires_at = record.expires_at
        deadline = self.manager.changed_deadline(record.id)
        if deadline is not None:
            # Revoked or rotated here after the row was read: honour it now.
            if deadline == -math.inf:
                raise UnauthenticatedError(_REVOKED)
            if expires_at is None or expires_at.timestamp() > deadline:
                expires_at = datetime.fromtimestamp(deadline, timezone.utc)
        if expires_at is not None and expires_at.timestamp() <= self.manager.clock():
            raise UnauthenticatedError(_EXPIRED)
        return Principal(
            kind="client",
            subject=record.id,
            scopes=frozenset(record.scopes),
            client_id=record.client_id,
            token_id=record.id,
            expires_at=expires_at,
            claims={"label": record.label},
        )

    def record_use(self, principal: Principal) -> None:
        """Note a use for ``last_used_at`` (the guard calls this on every use)."""
        self.manager.record_use(principal)

    def bind_guard(self, guard: Guard) -> None:
        """Let the manager's revoke and rotate drop entries from this guard's cache."""
        self.manager.bind_guard(guard)
