"""TokenManager: issue, list, show, revoke and rotate client tokens over a store."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from ..scopes import validate_scopes
from ._changes import Cache, Changes, Publisher, publish
from ._checks import (
    MAX_LABEL_LENGTH,
    UnknownTokenError,
    check_client_id,
    check_label,
    check_scopes,
    expiry,
    rotation_times,
)
from ._format import (
    DEFAULT_PREFIX,
    is_token_id,
    is_well_formed,
    token_pattern,
    validate_prefix,
)
from ._records import IssuedToken, MalformedRecordError, TokenRecord, mint
from ._store import Row, TokenStore
from ._usage import UsageRecorder

if TYPE_CHECKING:
    import re

    from ..principal import Principal

__all__ = ["MAX_LABEL_LENGTH", "TokenManager", "UnknownTokenError"]

logger = logging.getLogger("bearerguard")

_DEFAULT_GRACE = timedelta(hours=24)
_Records = list[TokenRecord]


class TokenManager:
    """Issue and manage client tokens kept in a store.

    Args:
        store: Any object with the :class:`~bearerguard.tokens.TokenStore` methods.
            Nothing is asked of it until a method here is called.
        prefix: The prefix of new tokens, also the only prefix the verifier accepts:
            lower-case words joined by ``_``, ending in ``_`` (``pay_live_``).
        known_scopes: When given, ``issue`` refuses any scope not in it.
        last_used_interval: Least time between two ``last_used_at`` writes for one
            token, in seconds. The first use is written within about a second.
        clock: Wall clock in UNIX seconds (tests inject one).
        revocation_bus: A :mod:`bearerguard.revocation` bus: ``revoke`` and ``rotate``
            publish the token's cache key on it, so every subscribed guard evicts it.

    Raises:
        ValueError: a bad prefix, scope name or interval.
    """

    def __init__(
        self,
        store: TokenStore,
        *,
        prefix: str = DEFAULT_PREFIX,
        known_scopes: Iterable[str] | None = None,
        last_used_interval: float = 60.0,
        clock: Callable[[], float] = time.time,
        revocation_bus: Publisher | None = None,
    ) -> None:
        self.store = store
        self.revocation_bus = revocation_bus
        self.prefix = validate_prefix(prefix)
        self.pattern: re.Pattern[str] = token_pattern(self.prefix)
        self.known_scopes: frozenset[str] | None = (
            None
            if known_scopes is None
            else frozenset(validate_scopes(tuple(known_scopes), what="known scope"))
        )
        self.clock = clock
        self._usage = UsageRecorder(self._write_uses, interval=last_used_interval)
        self.last_used_interval = self._usage.interval
        self._changes = Changes()

    def __repr__(self) -> str:
        return f"TokenManager({self.store!r}, prefix={self.prefix!r})"

    def now(self) -> datetime:
        """The manager's clock as an aware UTC datetime."""
        return datetime.fromtimestamp(self.clock(), timezone.utc)

    def is_well_formed(self, token: str) -> bool:
        """True when ``token`` has this manager's prefix, length, alphabet and checksum."""
        return is_well_formed(token, self.prefix)

    # -- issuing ------------------------------------------------------------------------

    def issue(
        self,
        *,
        client_id: str,
        label: str,
        scopes: Iterable[str],
        expires_in: timedelta | None = None,
        expires_at: datetime | None = None,
    ) -> IssuedToken:
        """Issue a new token; its plaintext is in the result and nowhere else.

        Args:
            client_id: The payment application's 32-character Client ID.
            label: What the token is for, 1 to 100 printable characters.
            scopes: At least one scope (from ``known_scopes`` when configured).
            expires_in: Lifetime from now; or
            expires_at: An aware expiry time in the future. Neither: never expires.

        Raises:
            ValueError: any argument is invalid; nothing is written.
        """
        now = self.now()
        issued = mint(
            self.prefix,
            client_id=check_client_id(client_id),
            label=check_label(label),
            scopes=check_scopes(scopes, self.known_scopes),
            expires_at=expiry(now, expires_in, expires_at),
            now=now,
        )
        self.store.add(issued.record)
        logger.info(
            "issued client token %s for client %s", issued.record.id, issued.record.client_id
        )
        return issued

    # -- reading ------------------------------------------------------------------------

    def get(self, token_id: str) -> TokenRecord | None:
        """The record of a token id, or None when there is none.

        Raises:
            MalformedRecordError: the stored row is corrupt.
        """
        if not is_token_id(token_id):
            return None
        row = self.store.get(token_id)
        return None if row is None else TokenRecord.from_row(row)

    def list(self, client_id: str | None = None, *, include_revoked: bool = False) -> _Records:
        """Records of one client's tokens (or everyone's), oldest first.

        Revoked tokens are left out unless ``include_revoked``; expired ones are kept
        (see :meth:`TokenRecord.status`). Corrupt rows are logged and left out.

        Raises:
            ValueError: ``client_id`` is not a Client ID.
        """
        if client_id is not None:
            check_client_id(client_id)
        return self._records(self.store.query(client_id=client_id, include_revoked=include_revoked))

    @staticmethod
    def _records(rows: Iterable[Row]) -> _Records:
        records = []
        for row in rows:
            try:
                records.append(TokenRecord.from_row(row))
            except MalformedRecordError as exc:
                logger.warning("skipping a malformed client token record: %s", exc)
        return records

    # -- changing -----------------------------------------------------------------------

    def _existing(self, token_id: str) -> TokenRecord:
        record = self.get(token_id)
        if record is None:
            raise UnknownTokenError.for_id(token_id)
        return record

    def revoke(self, token_id: str) -> TokenRecord:
        """Revoke a token: refused at once by this process's guards.

        Guards in other processes refuse it once their cached entry expires (their
        ``cache_ttl``), or as soon as the ``revocation_bus`` reaches them. Revoking a
        revoked token changes nothing but publishes it again.

        Raises:
            UnknownTokenError: no token has this id.
        """
        record = self._existing(token_id)
        if record.revoked_at is not None:
            # A rerun after a failed publish reaches the others.
            publish(self.revocation_bus, record)
            return record
        now = self.now()
        if not self._changes.revoke(self.store, record, now):
            return self._existing(token_id)  # revoked concurrently
        logger.info("revoked client token %s", record.id)
        publish(self.revocation_bus, record)
        return dataclasses.replace(record, revoked_at=now)

    def rotate(
        self,
        token_id: str,
        *,
        grace: timedelta = _DEFAULT_GRACE,
        expires_in: timedelta | None = None,
    ) -> IssuedToken:
        """Issue a replacement with the same client, label and scopes.

        The old token keeps working for ``grace`` (never longer than it would have),
        then gets 401. The new token lives ``expires_in``, by default as long as the
        old one was issued for (or forever, if the old one never expired).

        Raises:
            UnknownTokenError: no token has this id.
            ValueError: the token is revoked, or ``grace``/``expires_in`` is invalid.
        """
        if not isinstance(grace, timedelta) or grace < timedelta(0):
            raise ValueError("grace must be a timedelta of zero or more")
        record = self._existing(token_id)
        if record.revoked_at is not None:
            raise ValueError(f"token {record.id} is revoked; issue a new one")
        now = self.now()
        old_deadline, expires_at = rotation_times(record, now, grace, expires_in)
        issued = mint(
            self.prefix,
            client_id=record.client_id,
            label=record.label,
            scopes=record.scopes,
            expires_at=expires_at,
            now=now,
        )
        if not self._changes.rotate(self.store, record, old_deadline, issued.record):
            raise ValueError(f"token {record.id} was revoked meanwhile")
        logger.info("rotated client token %s into %s", record.id, issued.record.id)
        # Guards drop the entry and re-read the shortened expiry; each then refuses
        # the old token at the grace's end by its own clock, with nothing to publish.
        publish(self.revocation_bus, record)
        return issued

    def prune(self, older_than: timedelta, *, dry_run: bool = False) -> _Records:
        """Delete the tokens that were revoked, or expired, at least ``older_than`` ago.

        Active tokens are never touched, however old. Rotated tokens go once their
        grace has ended and ``older_than`` has passed since. With ``dry_run`` nothing is
        deleted. Returns the records deleted (or that would be), oldest first.

        Raises:
            ValueError: ``older_than`` is not a timedelta of zero or more.
        """
        if not isinstance(older_than, timedelta) or older_than < timedelta(0):
            raise ValueError("older_than must be a timedelta of zero or more")
        try:
            before = self.now() - older_than
        except OverflowError:
            raise ValueError("older_than is too long") from None
        records = self._records(self.store.prune(before, dry_run=dry_run))
        if not dry_run:
            logger.info("pruned %d client tokens ended before %s", len(records), before)
        return records

    # -- guards, caches and use -----------------------------------------------------

    def bind_guard(self, guard: Cache) -> None:
        """Let revoke and rotate drop tokens from this guard's cache (weakly held)."""
        self._changes.bind(guard)

    def changed_deadline(self, token_id: str) -> float | None:
        """The UNIX time from which this process revoked or rotated the token, if it did.

        Lets a verification that read the row just before the change honour it.
        """
        return self._changes.deadline(token_id)

    def record_use(self, principal: Principal) -> None:
        """Note a use of a verified token (on every request; no I/O)."""
        token_id = principal.token_id
        if token_id is None:
            return
        self._changes.check_use(token_id, principal.expires_at)
        self._usage.record(token_id, self.clock())

    def _write_uses(self, uses: dict[str, float]) -> None:
        self.store.touch(
            {
                token_id: datetime.fromtimestamp(used_at, timezone.utc)
                for token_id, used_at in uses.items()
            }
        )

    def flush(self) -> None:
        """Write pending ``last_used_at`` times now."""
        self._usage.flush()

    def close(self) -> None:
        """Stop the ``last_used_at`` writer and flush it; the store stays open."""
        self._usage.close()
