"""TokenManager: issue, list, show, revoke and rotate client tokens over a store."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Protocol

from ..scopes import validate_scopes
from ._format import (
    DEFAULT_PREFIX,
    generate_token,
    is_client_id,
    is_token_id,
    is_well_formed,
    new_token_id,
    token_pattern,
    validate_prefix,
)
from ._records import IssuedToken, MalformedRecordError, TokenRecord
from ._store import TokenStore
from ._usage import UsageRecorder

if TYPE_CHECKING:
    import re

    from ..principal import Principal

__all__ = ["MAX_LABEL_LENGTH", "TokenManager", "UnknownTokenError"]

logger = logging.getLogger("bearerguard")

MAX_LABEL_LENGTH = 100
_DEFAULT_GRACE = timedelta(hours=24)
# How long a revocation or rotation is remembered in this process, to catch a
# verification that read the row just before the change (longer than any store timeout).
_CHANGE_MEMORY = 300.0
_Records = list[TokenRecord]


class _Cache(Protocol):
    """What revoke and rotate need of a bound guard (a protocol: no import of the core)."""

    def invalidate_key(self, key: bytes) -> None: ...


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


@dataclasses.dataclass(frozen=True, slots=True)
class _Change:
    deadline: float  # the token is refused from this UNIX time on (-inf: revoked)
    token_hash: bytes
    noted_at: float  # monotonic


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise ValueError(f"{name} must be a datetime")
    if value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (for example datetime.now(timezone.utc))")
    return value.astimezone(timezone.utc)


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
    ) -> None:
        self.store = store
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
        self._guards: weakref.WeakSet[_Cache] = weakref.WeakSet()
        self._changes: dict[str, _Change] = {}
        self._changes_lock = threading.Lock()

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
        issued = self._mint(
            client_id=self._client_id(client_id),
            label=self._label(label),
            scopes=self._scopes(scopes),
            expires_at=self._expiry(now, expires_in, expires_at),
            now=now,
        )
        self.store.add(issued.record)
        logger.info(
            "issued client token %s for client %s", issued.record.id, issued.record.client_id
        )
        return issued

    def _mint(
        self,
        *,
        client_id: str,
        label: str,
        scopes: tuple[str, ...],
        expires_at: datetime | None,
        now: datetime,
    ) -> IssuedToken:
        token = generate_token(self.prefix)
        record = TokenRecord(
            id=new_token_id(),
            client_id=client_id,
            label=label,
            scopes=scopes,
            created_at=now,
            expires_at=expires_at,
            token_hash=_digest(token),
        )
        return IssuedToken(token, record)

    @staticmethod
    def _client_id(client_id: object) -> str:
        if not is_client_id(client_id):
            raise ValueError("client_id must be 32 ASCII letters and digits (new_client_id())")
        return client_id  # type: ignore[return-value]

    @staticmethod
    def _label(label: object) -> str:
        if not isinstance(label, str) or not label.strip():
            raise ValueError("label must be non-empty text")
        if len(label) > MAX_LABEL_LENGTH:
            raise ValueError(f"label must be at most {MAX_LABEL_LENGTH} characters")
        if not label.isprintable():
            raise ValueError("label must not contain control characters")
        return label

    def _scopes(self, scopes: Iterable[str]) -> tuple[str, ...]:
        if isinstance(scopes, str):
            raise ValueError("give scopes as a list, not a string")
        try:
            names = validate_scopes(tuple(scopes))
        except TypeError:
            raise ValueError("scopes must be a list of scope names") from None
        if not names:
            raise ValueError("give at least one scope")
        if self.known_scopes is not None:
            unknown = sorted(set(names) - self.known_scopes)
            if unknown:
                raise ValueError(f"unknown scope: {', '.join(unknown)}")
        return tuple(sorted(set(names)))

    @staticmethod
    def _expiry(
        now: datetime, expires_in: timedelta | None, expires_at: datetime | None
    ) -> datetime | None:
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
            expires_at = _aware(expires_at, "expires_at")
            if expires_at <= now:
                raise ValueError("expires_at must be in the future")
            return expires_at
        return None

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
            self._client_id(client_id)
        records = []
        for row in self.store.query(client_id=client_id, include_revoked=include_revoked):
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
        ``cache_ttl``). Revoking a revoked token changes nothing.

        Raises:
            UnknownTokenError: no token has this id.
        """
        record = self._existing(token_id)
        if record.revoked_at is not None:
            return record
        now = self.now()
        with self._changing(record, -math.inf):
            done = self.store.revoke(record.id, now)
        if not done:
            return self._existing(token_id)  # revoked concurrently
        self._forget(record)
        logger.info("revoked client token %s", record.id)
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
        try:
            old_deadline = now + grace
        except OverflowError:
            raise ValueError("grace is too long") from None
        if record.expires_at is not None:
            old_deadline = min(old_deadline, record.expires_at)
            if expires_in is None:
                expires_in = max(record.expires_at - record.created_at, timedelta(seconds=1))
        issued = self._mint(
            client_id=record.client_id,
            label=record.label,
            scopes=record.scopes,
            expires_at=self._expiry(now, expires_in, None),
            now=now,
        )
        with self._changing(record, old_deadline.timestamp()):
            done = self.store.rotate(record.id, old_deadline, issued.record)
        if not done:
            raise ValueError(f"token {record.id} was revoked meanwhile")
        self._forget(record)
        logger.info("rotated client token %s into %s", record.id, issued.record.id)
        return issued

    # -- guards, caches and use -----------------------------------------------------

    def bind_guard(self, guard: _Cache) -> None:
        """Let revoke and rotate drop tokens from this guard's cache (weakly held)."""
        self._guards.add(guard)

    def _forget(self, record: TokenRecord) -> None:
        for guard in list(self._guards):
            guard.invalidate_key(record.token_hash)

    @contextlib.contextmanager
    def _changing(self, record: TokenRecord, deadline: float) -> Iterator[None]:
        # Noted before the store makes the change, so a verification that reads the
        # row meanwhile honours it; forgotten again if the store fails.
        now = time.monotonic()
        with self._changes_lock:
            previous = self._changes.get(record.id)
            self._changes = {
                token_id: change
                for token_id, change in self._changes.items()
                if now - change.noted_at < _CHANGE_MEMORY
            }
            self._changes[record.id] = _Change(deadline, record.token_hash, now)
        try:
            yield
        except BaseException:
            with self._changes_lock:
                if previous is None:
                    self._changes.pop(record.id, None)
                else:
                    self._changes[record.id] = previous
            raise

    def changed_deadline(self, token_id: str) -> float | None:
        """The UNIX time from which this process revoked or rotated the token, if it did.

        Lets a verification that read the row just before the change honour it.
        """
        change = self._changes.get(token_id) if self._changes else None
        return None if change is None else change.deadline

    def record_use(self, principal: Principal) -> None:
        """Note a use of a verified token (on every request; no I/O)."""
        token_id = principal.token_id
        if token_id is None:
            return
        if self._changes:
            change = self._changes.get(token_id)
            expires_at = principal.expires_at
            if change is not None and (
                expires_at is None or expires_at.timestamp() > change.deadline
            ):
                # A verification that raced a revoke or rotate cached the old state.
                for guard in list(self._guards):
                    guard.invalidate_key(change.token_hash)
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


def _digest(token: str) -> bytes:
    # The same digest as the guard's cache key (bearerguard.cache.token_key).
    return hashlib.sha256(token.encode()).digest()
