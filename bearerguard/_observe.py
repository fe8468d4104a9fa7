"""What the guard tells about its decisions: the audit hook, the metrics and the log.

The guard calls in here only off its hot path: on refusals, on verifications (cache
misses), and on cache hits only when a hook or metrics are configured, so an
unobserved cache hit runs no code of this module.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal, Protocol

from .audit import REQUEST, AuditEvent, DecisionHook, allowed, log_event, refused
from .cache import VerificationCache, token_key
from .context import RequestContext
from .exceptions import AuthError, InsufficientScopeError
from .headers import parse_authorization
from .principal import Principal
from .resource_metadata import MetadataResponse

if TYPE_CHECKING:
    from ._dispatch import Entry
    from .metrics import GuardMetrics
    from .rules import Requirement

__all__ = ["Observer"]

logger = logging.getLogger("bearerguard")

Cache = Literal["hit", "miss"] | None


class _Missed(Protocol):
    """What the guard knows of a request whose token it verifies."""

    token: str
    key: bytes


class Observer:
    """The sinks of one guard: its ``on_decision`` hook, its metrics, the log.

    Attributes:
        watching: True when cache hits are told too: a hook or metrics want every
            decision, or the ``bearerguard`` logger writes DEBUG records. The guard's
            hit path reads only this; the logger's level is read again on every slow
            path (a verification or a refusal), which comes at least once a cache TTL
            per token, so a level changed at run time takes effect soon after.
    """

    __slots__ = ("_cache", "_sinks", "watching")

    def __init__(
        self,
        on_decision: DecisionHook | None,
        metrics: GuardMetrics | None,
        cache: VerificationCache,
    ) -> None:
        if on_decision is not None and not callable(on_decision):
            raise TypeError("on_decision must be callable: on_decision(event)")
        sinks: list[DecisionHook] = []
        if metrics is not None:
            sinks.append(metrics.record)
        if on_decision is not None:
            sinks.append(on_decision)
        self._sinks = tuple(sinks)
        self._cache = cache
        self.watching = self._watch()

    def _watch(self) -> bool:
        self.watching = watching = bool(self._sinks) or logger.isEnabledFor(logging.DEBUG)
        return watching

    def emit(self, event: AuditEvent) -> None:
        """Log the event, then hand it to each sink; a failing sink fails no request."""
        log_event(event)
        for sink in self._sinks:
            try:
                sink(event)
            except Exception as exc:
                # The exception's text might quote anything the sink held: its type only.
                logger.error("on_decision hook failed: %s", type(exc).__name__)

    def hit(self, request: RequestContext, principal: Principal | None) -> None:
        """A request let through without a verifier call: a cache hit, or anonymous."""
        if principal is None:
            self.emit(allowed(request, None))
            return
        key = None if principal.token_id else _key(request)
        self.emit(allowed(request, principal, key=key, cache="hit"))

    def started_refused(self, request: RequestContext, error: AuthError) -> None:
        """A refusal before any verifier call: no token, a malformed one, or the cache's.

        Before the verifier, ``insufficient_scope`` can only be a cached principal's, and
        ``invalid_token`` of a token that parses only a cached refusal (one too long to
        parse is refused by the parser).
        """
        if isinstance(error, MetadataResponse):
            return  # the guard's own answer at its metadata URL: no decision
        key = _key(request)
        if isinstance(error, InsufficientScopeError):
            principal = None if key is None else self._cache.peek(key)
            self.refused(request, error, principal=principal, key=key, cache="hit")
        elif error.error_code == "invalid_token" and key is not None:
            self.refused(request, error, key=key, cache="hit")
        else:
            self.refused(request, error)

    def miss_refused(
        self,
        request: RequestContext,
        error: AuthError,
        entries: Iterable[Entry],
        miss: _Missed,
        started: float,
    ) -> None:
        """A refusal by the verifier, or by the dispatch before it (no owner)."""
        kind = owner_kind(entries, miss.token)
        latency = None if kind is None else time.perf_counter() - started
        self.refused(request, error, kind=kind, key=miss.key, cache="miss", latency=latency)

    def finish(
        self,
        request: RequestContext,
        principal: Principal,
        requirement: Requirement,
        key: bytes,
        started: float,
    ) -> Principal:
        """Authorize a principal just verified (a cache miss) and report the decision.

        Raises:
            InsufficientScopeError: the principal lacks what the request requires.
        """
        latency = time.perf_counter() - started
        if not requirement.public:
            try:
                requirement.authorize(principal)
            except AuthError as error:
                self.refused(
                    request, error, principal=principal, key=key, cache="miss", latency=latency
                )
                raise
        if self._watch():
            self.emit(allowed(request, principal, key=key, cache="miss", latency=latency))
        return principal

    def refused(
        self,
        request: RequestContext | None,
        error: AuthError,
        *,
        principal: Principal | None = None,
        key: bytes | None = None,
        cache: Cache = None,
        latency: float | None = None,
        kind: str | None = None,
        action: str = REQUEST,
    ) -> None:
        """A refusal: 4xx, or 503 when nobody could decide."""
        if isinstance(error, MetadataResponse):
            return  # the guard's own answer at its metadata URL: no decision
        self._watch()
        if key is None and request is not None and error.error_code != "invalid_request":
            key = _key(request)
        self.emit(
            refused(
                request,
                error,
                principal=principal,
                kind=kind,
                key=key,
                cache=cache,
                latency=latency,
                action=action,
            )
        )


def owner_kind(entries: Iterable[Entry], token: str) -> str | None:
    """The kind of the verifier that owns ``token``, None when none does (offline)."""
    for entry in entries:
        try:
            if entry.verifier.accepts(token):
                return entry.verifier.kind
        except Exception:
            return None
    return None


def _key(request: RequestContext) -> bytes | None:
    """The cache key of the request's token, computed again (off the hot path)."""
    try:
        token = parse_authorization(request.authorization)
    except AuthError:
        return None
    return None if token is None else token_key(token)
