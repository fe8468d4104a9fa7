"""The Guard: the framework-free core that decides every request.

Per request (:meth:`Guard.decide`, or :meth:`Guard.adecide` under ASGI): match the
rules (what is required), read the bearer token, look it up in the cache, verify it on
a miss (the only I/O, inside a verifier), then authorize kind and scopes. The adapters
only build a :class:`~bearerguard.RequestContext` and render what comes back.
"""

from __future__ import annotations

import copy
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from ._dispatch import Entry
from ._flight import AsyncFlights, Flights
from ._lifecycle import Lifecycle, bind
from ._observe import Observer
from ._refusal import Refusing
from ._verification import Miss, Verifying
from .audit import DecisionHook
from .cache import VerificationCache, token_key
from .context import RequestContext
from .exceptions import AuthError, InvalidRequestError, MissingCredentialsError
from .headers import canonical_token, has_query_token, parse_authorization
from .principal import Principal
from .rendering import ContextRenderer, Renderer, bind_renderer
from .resource_metadata import ResourceMetadata, RuleTable, rule_scopes, verifier_issuers
from .revocation._guard import GuardRevocations, Revoking
from .rules import PUBLIC, Requirement, Rule, RuleSet
from .verifier import Verifier

if TYPE_CHECKING:
    from .metrics import GuardMetrics
    from .revocation import RevocationBus

__all__ = ["Guard", "Renderer"]

# RFC 9110 section 5.6.4 quoted-string without escapes: no '"', no '\\', no controls.
_REALM = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
# RFC 6750 section 2: a client must not use more than one method to send the token.
_TWO_METHODS = "The access token was sent by more than one method"


class Guard(Verifying, Lifecycle, Refusing, Revoking):
    """Authenticate bearer tokens and authorize requests against rules.

    Args:
        verifiers: Verifiers asked in order; the first whose ``accepts`` is true owns
            the token. No owner: 401 ``invalid_token``.
        rules: :class:`~bearerguard.Rule` objects; the first that matches wins.
        public_paths: Path templates that need no token, for every method; consulted
            before ``rules``.
        default: ``"authenticated"`` (every other path needs a valid token) or
            ``"public"`` (a request without a token passes anonymously; rules and
            route declarations demand one).
        cache_ttl: Longest life of a verified token in the cache, in seconds.
        cache_maxsize: Most verified tokens cached.
        negative_cache_ttl: How long a refused token stays refused without asking its
            verifier again, in seconds.
        realm: The ``realm`` of every ``WWW-Authenticate`` challenge.
        renderer: ``renderer(error, realm) -> (status, headers, body)`` replacing the
            default JSON rendering; ``headers`` is a list of ``(name, value)`` strings.
            A renderer that takes a ``request`` keyword is also handed the request's
            :class:`~bearerguard.RequestContext` (see :mod:`bearerguard.rendering`,
            which has an RFC 9457 problem+json renderer).
        on_decision: ``on_decision(event)``, called with an
            :class:`~bearerguard.audit.AuditEvent` for every decision (see
            :mod:`bearerguard.audit`); what it raises is logged, never answered.
        metrics: A :class:`~bearerguard.metrics.GuardMetrics` to count decisions in.
        resource_metadata: RFC 9728 protected resource metadata, at least
            ``{"resource": "https://api.example/"}``: served as JSON at
            ``/.well-known/oauth-protected-resource`` (and with the resource's path
            appended) with no token needed (one sent there is not looked at), and
            named in every challenge (``resource_metadata="…"``). ``scopes_supported``
            defaults to the scopes the rules require, ``authorization_servers`` to the
            verifiers' issuers. See :class:`~bearerguard.resource_metadata.ResourceMetadata`.
        timer: Monotonic clock for cache TTLs and log throttling (tests inject one).
        clock: Wall clock in UNIX seconds for token expiry (tests inject one).
        revocation_bus: A :mod:`bearerguard.revocation` bus: published revocations
            are evicted from this guard's cache, every verification miss is checked
            against the bus's revocation list, and :meth:`revoke` works.

    A token that is presented is always verified, on public paths too, and a bad one
    is refused there as everywhere.

    Two optional verifier hooks: ``record_use(principal)`` is called on every use of a
    principal the verifier produced, cache hits included (cheap, must not block or
    raise); ``bind_guard(guard)`` is called once here, so a verifier can drop entries
    (``guard.invalidate_key``) when it revokes a token.
    """

    def __init__(
        self,
        verifiers: Iterable[Verifier],
        *,
        rules: Iterable[Rule] = (),
        public_paths: Iterable[str] = (),
        default: Literal["authenticated", "public"] = "authenticated",
        cache_ttl: float = 60.0,
        cache_maxsize: int = 10_000,
        negative_cache_ttl: float = 5.0,
        realm: str = "api",
        renderer: Renderer | ContextRenderer | None = None,
        resource_metadata: Mapping[str, Any] | None = None,
        on_decision: DecisionHook | None = None,
        metrics: GuardMetrics | None = None,
        timer: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
        revocation_bus: RevocationBus | None = None,
    ) -> None:
        self.verifiers: tuple[Verifier, ...] = tuple(verifiers)
        if not self.verifiers:
            raise ValueError("a Guard needs at least one verifier")
        self._timer = timer
        self._entries = tuple(Entry(verifier, timer) for verifier in self.verifiers)
        if not isinstance(realm, str) or not _REALM.fullmatch(realm):
            raise ValueError("realm must be printable ASCII without quotes or backslashes")
        self.realm = realm
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.public_paths: tuple[str, ...] = tuple(public_paths)
        self.default = default
        self._table: RuleTable = RuleSet(self.rules, self.public_paths, default)
        self._renderer = None if renderer is None else bind_renderer(renderer)
        self.resource_metadata: ResourceMetadata | None = None
        if resource_metadata is not None:
            # Its paths are answered in front of the rules, and its renderer adds the
            # challenge parameter: a guard without metadata runs none of this.
            metadata = ResourceMetadata(
                resource_metadata,
                scopes=rule_scopes(self.rules),
                issuers=verifier_issuers(self.verifiers),
            )
            self.resource_metadata = metadata
            self._table = metadata.serving(self._table)
            self._renderer = metadata.renderer(self._renderer)
        self._cache = VerificationCache(
            ttl=cache_ttl,
            maxsize=cache_maxsize,
            negative_ttl=negative_cache_ttl,
            negative_maxsize=max(1, min(cache_maxsize, 1_000)),
            timer=timer,
            clock=clock,
        )
        self._clock = clock
        self._flights = Flights()
        self._aflights = AsyncFlights()
        self._verifiers_lock = threading.Lock()
        # Guards made by with_rules(): they get this one's verifiers when they change.
        self._views = weakref.WeakSet()
        # An unobserved cache hit does nothing more than test observer.watching.
        self._observer = Observer(on_decision, metrics, self._cache)
        if metrics is not None:
            metrics.watch(self.verifiers)
        for verifier in self.verifiers:
            bind(verifier, self)
        self._revocations: GuardRevocations | None = None
        if revocation_bus is not None:
            self._revocations = GuardRevocations(self, revocation_bus, cache_maxsize, clock)

    def __repr__(self) -> str:
        kinds = [verifier.kind for verifier in self.verifiers]
        return f"Guard(verifiers={kinds!r}, rules={len(self.rules)}, realm={self.realm!r})"

    # -- deciding -------------------------------------------------------------------

    def decide(self, request: RequestContext) -> Principal | None:
        """Decide a request: its principal, or None for an anonymous public request.

        The one call an adapter makes per request (WSGI and other blocking servers).

        Raises:
            AuthError: the request is refused; render it with :meth:`render`.
        """
        try:
            found = self._start(request)
        except AuthError as error:
            self._observer.started_refused(request, error)
            raise
        if type(found) is not Miss:
            if self._observer.watching:
                self._observer.hit(request, found)  # type: ignore[arg-type]
            return found  # type: ignore[return-value]
        started = time.perf_counter()
        try:
            principal = self._verify(found.token, found.key)
        except AuthError as error:
            self._observer.miss_refused(request, error, self._entries, found, started)
            raise
        return self._observer.finish(request, principal, found.requirement, found.key, started)

    async def adecide(self, request: RequestContext) -> Principal | None:
        """Async twin of :meth:`decide`, for ASGI: a cache hit never leaves the loop.

        On a miss, a verifier's ``averify`` is awaited when it has one; otherwise its
        ``verify`` runs in a worker thread.
        """
        try:
            found = self._start(request)
        except AuthError as error:
            self._observer.started_refused(request, error)
            raise
        if type(found) is not Miss:
            if self._observer.watching:
                self._observer.hit(request, found)  # type: ignore[arg-type]
            return found  # type: ignore[return-value]
        started = time.perf_counter()
        try:
            principal = await self._averify(found.token, found.key)
        except AuthError as error:
            self._observer.miss_refused(request, error, self._entries, found, started)
            raise
        return self._observer.finish(request, principal, found.requirement, found.key, started)

    def check(self, method: str, path: str, authorization: str | None) -> Principal | None:
        """:meth:`decide` for a method, router path and raw ``Authorization`` value."""
        return self.decide(RequestContext(method, path, authorization))

    async def acheck(self, method: str, path: str, authorization: str | None) -> Principal | None:
        """Async twin of :meth:`check`."""
        return await self.adecide(RequestContext(method, path, authorization))

    def requirement(self, method: str, path: str) -> Requirement:
        """What a request with this method and router path must present."""
        if self.resource_metadata is not None and path in self.resource_metadata.paths:
            return PUBLIC
        return self._table.match(method, path)

    def with_rules(self, rules: Iterable[Rule], *, scopes: Iterable[str] = ()) -> Guard:
        """A guard that consults ``rules`` after the public paths, before this one's rules.

        It shares this guard's cache, single flights and renderer, so a token verified
        or invalidated through either is so in both, and it follows this guard's
        verifiers as :meth:`add_verifier` and :meth:`remove_verifier` change them. The
        adapters call it once with the routes an app declares public, and with the
        ``scopes`` its route declarations require, which join the scopes of the rules
        in the default ``scopes_supported`` of the resource metadata; this guard is
        left unchanged, so it can serve other apps.
        """
        extended = copy.copy(self)
        extended.rules = (*rules, *self.rules)
        extended._table = RuleSet(extended.rules, self.public_paths, self.default)
        if self.resource_metadata is not None:
            extended.resource_metadata = self.resource_metadata.with_scopes(
                [*rule_scopes(extended.rules), *scopes]
            )
            extended._table = extended.resource_metadata.serving(extended._table)
        extended._views = weakref.WeakSet()
        with self._verifiers_lock:
            self._views.add(extended)
            extended._entries, extended.verifiers = self._entries, self.verifiers
        return extended

    def _start(self, request: RequestContext) -> Principal | Miss | None:
        """Everything up to the verifier call: requirement, token, cache."""
        requirement = self._table.match(request.method, request.path)
        authorization = request.authorization
        if authorization is not None and request.query and has_query_token(request.query):
            raise InvalidRequestError(_TWO_METHODS)
        quick = canonical_token(authorization)
        if quick is not None:
            key = token_key(quick)
            cached = self._cached(key)
            if cached is not None:
                if not requirement.public:
                    requirement.authorize(cached)
                return cached
        token = parse_authorization(authorization)
        if token is None:
            if requirement.public:
                return None
            raise MissingCredentialsError()
        if token != quick:
            key = token_key(token)
            cached = self._cached(key)
            if cached is not None:
                return _authorized(cached, requirement)
        return Miss(requirement, token, key)

    def authorize(self, principal: Principal, requirement: Requirement) -> None:
        """Check kind, then all-of scopes, then any-of scopes.

        Raises:
            InsufficientScopeError: listing the set that failed (empty for the kind).
        """
        requirement.authorize(principal)


def _authorized(principal: Principal, requirement: Requirement) -> Principal:
    if not requirement.public:
        requirement.authorize(principal)
    return principal
