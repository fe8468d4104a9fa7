"""Verifier dispatch and the failure policy: who owns a token, calling it, and what
its answer or its exception becomes.

Fail closed: anything a verifier raises that is not a refusal is a 503, never a 500
and never "allowed". A verifier's own description is answered only when it does not
quote the token (security cases G-01, G-02).
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import NoReturn

from ._throttle import Throttle
from .cache import UseRecorder
from .exceptions import (
    AuthError,
    InsufficientScopeError,
    ServiceUnavailableError,
    UnauthenticatedError,
)
from .principal import Principal
from .verifier import Verifier

logger = logging.getLogger("bearerguard")

EXPIRED = "The access token expired"
_NO_OWNER = "The access token is not recognised"
_RUN = 8  # the longest run of a token's characters a description may share with it


def quotes(text: str, token: str) -> bool:
    """True when ``text`` shares a run of eight or more characters with the token.

    Catches the whole token, any prefix, suffix or slice of it quoted "for debugging".
    A description is at most 200 characters, so this is at most 193 substring searches
    in C, and it runs only on refusals that carry a verifier's own text.
    """
    return any(text[i : i + _RUN] in token for i in range(len(text) - _RUN + 1))


class Entry:
    """One verifier, with what the guard needs of it prepared once."""

    __slots__ = ("averify", "leeway", "record_use", "throttle", "verifier")

    def __init__(self, verifier: Verifier, timer: Callable[[], float] = time.monotonic) -> None:
        for name in ("kind", "accepts", "verify"):
            if not hasattr(verifier, name):
                raise TypeError(f"{verifier!r} is not a verifier (kind, accepts, verify)")
        self.verifier = verifier
        averify = getattr(verifier, "averify", None)
        self.averify: Callable[[str], Awaitable[Principal]] | None = (
            averify if averify is not None and inspect.iscoroutinefunction(averify) else None
        )
        self.leeway = float(getattr(verifier, "leeway", 0.0) or 0.0)
        record_use = getattr(verifier, "record_use", None)
        self.record_use: UseRecorder | None = (
            _best_effort(verifier.kind, record_use) if callable(record_use) else None
        )
        # An outage fails every request the same way: one line per reason a while.
        self.throttle = Throttle(timer)

    def deadline(self, principal: Principal) -> float:
        """When the principal stops being valid (UNIX seconds): ``expires_at`` + leeway.

        The one definition of "expired" for the guard and its cache (RFC 7519 section
        4.1.4 allows the leeway; the verifier applies the same rule).
        """
        expires_at = principal.expires_at
        return float("inf") if expires_at is None else expires_at.timestamp() + self.leeway

    def call(self, token: str, clock: Callable[[], float]) -> Principal:
        """``verify`` the token; any exception becomes a refusal or a 503."""
        try:
            principal = self.verifier.verify(token)
        except Exception as exc:
            self.fail(exc, token)
        return self.accept(principal, clock())

    async def acall(self, token: str, clock: Callable[[], float]) -> Principal:
        """``averify`` the token; the same policy as :meth:`call`."""
        assert self.averify is not None  # noqa: S101 - only called when it exists
        try:
            principal = await self.averify(token)
        except Exception as exc:
            self.fail(exc, token)
        return self.accept(principal, clock())

    def accept(self, principal: object, now: float) -> Principal:
        """Check what the verifier returned: a live :class:`Principal`."""
        kind = self.verifier.kind
        if not isinstance(principal, Principal):
            logger.error("verifier %s returned %s, not a Principal", kind, type(principal).__name__)
            raise ServiceUnavailableError()
        if self.deadline(principal) <= now:
            raise UnauthenticatedError(EXPIRED)
        return principal

    def fail(self, exc: Exception, token: str) -> NoReturn:
        """Raise what a verifier's exception means to the caller."""
        kind = self.verifier.kind
        quoted = isinstance(exc, AuthError) and quotes(exc.description, token)
        if isinstance(exc, ServiceUnavailableError):
            if quoted:
                exc = ServiceUnavailableError(retry_after=exc.retry_after)
            self.log(logging.WARNING, "verifier %s cannot decide: %s", exc.description)
            raise exc from None
        if isinstance(exc, AuthError) and not isinstance(exc, InsufficientScopeError):
            # Whatever a verifier refuses with renders as invalid_token.
            own = isinstance(exc, UnauthenticatedError) and exc.error_code and not quoted
            refusal = UnauthenticatedError(exc.description if own else None)
            logger.info("token refused by %s verifier: %s", kind, refusal.description)
            raise refusal from None
        # Never the exception's text: it may quote the token.
        self.log(logging.ERROR, "verifier %s raised %s: failing closed", type(exc).__name__)
        raise ServiceUnavailableError() from None

    def log(self, level: int, message: str, reason: str) -> None:
        """Log ``message % (kind, reason)``, at most once per reason per interval."""
        held = self.throttle.allow(reason)
        if held is None:
            return
        if held:
            message += " (%d more since the last such line)"
            logger.log(level, message, self.verifier.kind, reason, held)
        else:
            logger.log(level, message, self.verifier.kind, reason)


def owner(entries: Iterable[Entry], token: str) -> Entry:
    """The verifier that owns a token, asked before any single flight or I/O.

    Refusals here (no owner, or an owner whose ``accepts`` raises
    ``UnauthenticatedError`` for a token it can tell is malformed) are offline and
    cheap, so they are not cached: a spray of random strings must cost no more than
    that and must not evict the refusals worth remembering (L-01, X-04).
    """
    for entry in entries:
        verifier = entry.verifier
        try:
            if verifier.accepts(token):
                return entry
        except UnauthenticatedError as exc:
            quoted = quotes(exc.description, token) or exc.error_code is None
            raise UnauthenticatedError(None if quoted else exc.description) from None
        except Exception as exc:
            logger.error(
                "verifier %s failed to classify a token: %s", verifier.kind, type(exc).__name__
            )
            raise ServiceUnavailableError() from None
    raise UnauthenticatedError(_NO_OWNER)


def _best_effort(kind: str, record_use: UseRecorder) -> UseRecorder:
    """Wrap a verifier's ``record_use`` so that its failure never fails a request."""

    def record(principal: Principal) -> None:
        try:
            record_use(principal)
        except Exception as exc:
            # The token is verified; usage tracking is best effort, and an exception
            # escaping here would be a 500 (on a cache hit, outside any verifier call).
            logger.error("verifier %s record_use failed: %s", kind, type(exc).__name__)

    return record
