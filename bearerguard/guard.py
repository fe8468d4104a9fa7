"""The Guard: the framework-free core that decides every request.

Per request (:meth:`Guard.decide`, or :meth:`Guard.adecide` under ASGI): match the
rules (what is required), read the bearer token, look it up in the cache, verify it on
a miss (the only I/O, inside a verifier), then authorize kind and scopes. The adapters
only build a :class:`~bearerguard.RequestContext` and render what comes back.
"""

from __future__ import annotations

import copy
import functools
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from ._closing import aclose_all, close_all
from ._dispatch import Entry, owner
from ._flight import AsyncFlights, Flight, Flights
from ._observe import Observer
from .audit import DecisionHook
from .cache import VerificationCache, token_key
from .context import RequestContext
from .exceptions import (
    BUILT_IN_ERRORS,
    AuthError,
    InsufficientScopeError,
    InvalidRequestError,
    MissingCredentialsError,
    ServiceUnavailableError,
    UnauthenticatedError,
    render_error,
)
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


class _Miss:
    """A request that needs its token verified: what the drivers finish."""

    __slots__ = ("key", "requirement", "token")

    def __init__(self, requirement: Requirement, token: str, key: bytes) -> None:
        self.requirement = requirement
        self.token = token
        self.key = key


class Guard(Revoking):
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
        self._views: weakref.WeakSet[Guard] = weakref.WeakSet()
        # An unobserved cache hit does nothing more than test observer.watching.
        self._observer = Observer(on_decision, metrics, self._cache)
        if metrics is not None:
            metrics.watch(self.verifiers)
        for verifier in self.verifiers:
            _bind(verifier, self)
        self._revocations: GuardRevocations | None = None
        if revocation_bus is not None:
            self._revocations = GuardRevocations(self, revocation_bus, cache_maxsize, clock)

    def __repr__(self) -> str:
        kinds = [verifier.kind for verifier in self.verifiers]
        return f"Guard(verifiers={kinds!r}, rules={len(self.rules)}, realm={self.realm!r})"

    # -- verifiers --------------------------------------------------------------------

    def add_verifier(self, verifier: Verifier, *, first: bool = False) -> None:
        """Ask one more verifier from the next request on: after the others, or ``first``.

        Its ``bind_guard`` is called as at construction. Results already cached stay
        valid. :func:`bearerguard.testing.acting_as` puts a test verifier first this way.
        """
        entry = Entry(verifier, self._timer)
        with self._verifiers_lock:
            # One new tuple, assigned at once: a request in flight sees the old or the new.
            entries = (entry, *self._entries) if first else (*self._entries, entry)
            self._set_entries(entries)
        _bind(verifier, self)

    def remove_verifier(self, verifier: Verifier) -> None:
        """Stop asking ``verifier`` from the next request on.

        What it verified stays cached until it expires: :meth:`invalidate` its tokens
        (or :meth:`clear_cache`) to refuse them at once.

        Raises:
            ValueError: it is not one of this guard's verifiers, or it is the last one.
        """
        with self._verifiers_lock:
            entries = tuple(each for each in self._entries if each.verifier is not verifier)
            if len(entries) == len(self._entries):
                raise ValueError(f"{verifier!r} is not a verifier of this guard")
            if not entries:
                raise ValueError("a Guard needs at least one verifier")
            self._set_entries(entries)

    def _set_entries(self, entries: tuple[Entry, ...]) -> None:
        verifiers = tuple(each.verifier for each in entries)
        for guard in (self, *self._views):
            guard._entries, guard.verifiers = entries, verifiers

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
        if type(found) is not _Miss:
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
        if type(found) is not _Miss:
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

    def with_rules(self, rules: Iterable[Rule]) -> Guard:
        """A guard that consults ``rules`` after the public paths, before this one's rules.

        It shares this guard's cache, single flights and renderer, so a token verified
        or invalidated through either is so in both, and it follows this guard's
        verifiers as :meth:`add_verifier` and :meth:`remove_verifier` change them. The
        adapters call it once with the routes an app declares public; this guard is
        left unchanged, so it can serve other apps.
        """
        extended = copy.copy(self)
        extended.rules = (*rules, *self.rules)
        extended._table = RuleSet(extended.rules, self.public_paths, self.default)
        if self.resource_metadata is not None:
            extended._table = self.resource_metadata.serving(extended._table)
        extended._views = weakref.WeakSet()
        with self._verifiers_lock:
            self._views.add(extended)
            extended._entries, extended.verifiers = self._entries, self.verifiers
        return extended

    def _start(self, request: RequestContext) -> Principal | _Miss | None:
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
        return _Miss(requirement, token, key)

    def authenticate(self, authorization: str | None) -> Principal:
        """Verify the bearer token in a raw ``Authorization`` value.

        Raises:
            MissingCredentialsError: no bearer token (401 with no error code).
            InvalidRequestError: malformed credentials (400).
            UnauthenticatedError: the token is refused (401).
            ServiceUnavailableError: the verifier cannot decide (503).
        """
        token = parse_authorization(authorization)
        if token is None:
            raise MissingCredentialsError()
        key = token_key(token)
        return self._cached(key) or self._verify(token, key)

    async def aauthenticate(self, authorization: str | None) -> Principal:
        """Async twin of :meth:`authenticate`, for ASGI.

        Uses a verifier's ``averify`` when it has one; otherwise its ``verify`` runs in
        a worker thread. A cache hit does no thread hop and no I/O.
        """
        token = parse_authorization(authorization)
        if token is None:
            raise MissingCredentialsError()
        key = token_key(token)
        return self._cached(key) or await self._averify(token, key)

    def authorize(self, principal: Principal, requirement: Requirement) -> None:
        """Check kind, then all-of scopes, then any-of scopes.

        Raises:
            InsufficientScopeError: listing the set that failed (empty for the kind).
        """
        requirement.authorize(principal)

    def render(
        self, error: AuthError, request: RequestContext | None = None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Render an error with the configured renderer: ``(status, headers, body)``.

        ``request`` is the request refused, for renderers that take one (None: none).
        """
        if self._renderer is not None:
            return self._renderer(error, self.realm, request)
        if type(error) not in _BUILT_IN:
            return render_error(error, self.realm)
        status, headers, body = _render_built_in(
            type(error),  # type: ignore[arg-type]  # classes hash (mypy sees the instance's)
            error.description,
            getattr(error, "required_scopes", ()),
            getattr(error, "retry_after", 0),
            self.realm,
        )
        return status, list(headers), body  # a fresh list: callers may extend it

    def report_refusal(
        self,
        error: AuthError,
        request: RequestContext | None = None,
        principal: Principal | None = None,
        *,
        action: str = "route",
    ) -> None:
        """Log a refusal that :meth:`decide` did not make and hand it to ``on_decision``.

        The adapters call it for a route declaration's refusal or an error the app
        raised (``action="route"``), and for a request refused before the guard was
        asked (``action="request"``); :meth:`decide` reports its own.
        """
        self._observer.refused(request, error, principal=principal, action=action)

    # -- the cache ------------------------------------------------------------------

    def invalidate(self, token: str) -> None:
        """Forget one token's cached result (after revoking it, say)."""
        self.invalidate_key(token_key(token))

    def invalidate_key(self, key: bytes) -> None:
        """Forget a cached result by its key: the SHA-256 digest of the token.

        A verification of that token still in flight is closed too: a request that
        arrives after this returns verifies afresh, and the flight's result, read
        before, is not cached.
        """
        self._flights.close(key)
        self._aflights.close(key)
        self._cache.discard(key)

    def clear_cache(self) -> None:
        """Forget every cached result."""
        self._cache.clear()

    # -- shutting down ----------------------------------------------------------------

    def close(self) -> None:
        """Release what the verifiers hold: pooled HTTP connections, the JWKS refresh
        thread. Calls every verifier's ``close()``; the guard keeps answering.

        Stores and token managers you built are yours to close.
        """
        close_all(self.verifiers)

    async def aclose(self) -> None:
        """Async twin of :meth:`close`: awaits a verifier's ``aclose()`` where it has
        one, else runs its ``close()`` in a worker thread."""
        await aclose_all(self.verifiers)

    def __enter__(self) -> Guard:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Guard:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- verification -----------------------------------------------------------------

    def _cached(self, key: bytes) -> Principal | None:
        """The cached principal, None on a miss; a cached refusal is raised."""
        cached = self._cache.get(key)
        if type(cached) is str:
            raise UnauthenticatedError(cached)
        return cached  # type: ignore[return-value]

    def _verify(self, token: str, key: bytes) -> Principal:
        entry = owner(self._entries, token)

        def work() -> Principal:
            # A thread that missed the cache just before an earlier flight for this
            # token stored its result and closed takes that result.
            principal = self._cached(key) or entry.call(token, self._clock)
            if self._revocations is not None:
                self._revocations.check(key, principal)
            return principal

        return self._flights.run(key, work, self._keeper(key, entry))

    async def _averify(self, token: str, key: bytes) -> Principal:
        entry = owner(self._entries, token)

        async def work() -> Principal:
            cached = self._cached(key)
            if cached is not None:
                return cached
            if entry.averify is not None:
                principal = await entry.acall(token, self._clock)
            else:
                import anyio.to_thread  # only async callers need it

                principal = await anyio.to_thread.run_sync(entry.call, token, self._clock)
            if self._revocations is not None:
                await self._revocations.acheck(key, principal)
            return principal

        return await self._aflights.run(key, work, self._keeper(key, entry))

    def _keeper(self, key: bytes, entry: Entry) -> Callable[[Flight], None]:
        """What a finished flight leaves in the cache: a principal or a refusal."""

        def keep(flight: Flight) -> None:
            principal = flight.principal
            if principal is not None:
                self._cache.put(key, principal, entry.deadline(principal), entry.record_use)
                if entry.record_use is not None:
                    entry.record_use(principal)
            elif isinstance(flight.error, UnauthenticatedError):
                self._cache.put_refusal(key, flight.error.description)

        return keep


def _bind(verifier: Verifier, guard: Guard) -> None:
    bind_guard = getattr(verifier, "bind_guard", None)
    if callable(bind_guard):
        bind_guard(guard)


def _authorized(principal: Principal, requirement: Requirement) -> Principal:
    if not requirement.public:
        requirement.authorize(principal)
    return principal


# The default rendering of a built-in error depends only on these fields, and a flood
# of refusals (a token spray) renders the same few answers again and again.
_BUILT_IN = BUILT_IN_ERRORS


@functools.lru_cache(maxsize=256)
def _render_built_in(
    kind: type[AuthError],
    description: str,
    required_scopes: tuple[str, ...],
    retry_after: int,
    realm: str,
) -> tuple[int, tuple[tuple[str, str], ...], bytes]:
    if kind is InsufficientScopeError:
        error: AuthError = InsufficientScopeError(description, required_scopes=required_scopes)
    elif kind is ServiceUnavailableError:
        error = ServiceUnavailableError(description, retry_after=retry_after)
    else:
        error = kind(description)
    status, headers, body = render_error(error, realm)
    return status, tuple(headers), body
