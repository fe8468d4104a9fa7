"""The Guard: the framework-free core that decides every request.

Per request: match the rules (what is required), parse ``Authorization`` (which token),
look the token up in the cache, verify it on a miss (the only I/O, inside a verifier),
then authorize kind and scopes. The adapters only translate to and from ASGI and WSGI.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Literal

from .cache import UseRecorder, VerificationCache, token_key
from .exceptions import (
    AuthError,
    InsufficientScopeError,
    InvalidRequestError,
    MissingCredentialsError,
    ServiceUnavailableError,
    UnauthenticatedError,
    render_error,
)
from .headers import parse_authorization
from .principal import Principal
from .rules import Requirement, Rule, RuleSet
from .verifiers.base import Verifier

__all__ = ["Guard", "Renderer"]

_sha256 = hashlib.sha256  # the cache key, as token_key computes it, without the call

logger = logging.getLogger("bearerguard")

Renderer = Callable[[AuthError, str], tuple[int, list[tuple[str, str]], bytes]]
"""``renderer(error, realm) -> (status, headers, body)``."""

# RFC 9110 section 5.6.4 quoted-string without escapes: no '"', no '\\', no controls.
_REALM = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
_EXPIRED = "The access token expired"
_NO_OWNER = "The access token is not recognised"
# The spellings of the scheme taken by the cache-hit path; others parse in full.
_FAST_SCHEMES = (b"Bearer ", b"bearer ")
# Errors whose default rendering is kept (exact types: a subclass may render its own).
_BUILT_IN_ERRORS = frozenset(
    {
        UnauthenticatedError,
        MissingCredentialsError,
        InvalidRequestError,
        InsufficientScopeError,
        ServiceUnavailableError,
    }
)
_MAX_RENDERED = 256


def _quotes(text: str, token: str) -> bool:
    """True when ``text`` holds the token, or its first or last eight characters.

    Constant work per refusal, and it catches the usual leaks (the whole token, or a
    prefix or suffix quoted "for debugging"), even in a description cut to 200 characters.
    """
    return token in text or token[:8] in text or token[-8:] in text


class _Outcome:
    """The result of one verification, shared by every caller that wants it.

    ``waiters`` is the event the others wait on (a ``threading.Event`` for threads, an
    ``anyio.Event`` for tasks), made by the first caller that waits: a miss nobody
    waits for (nearly all of them) makes no event at all.
    """

    __slots__ = ("error", "principal", "waiters")

    def __init__(self) -> None:
        self.principal: Principal | None = None
        self.error: AuthError | None = None
        self.waiters: Any = None

    def outcome(self) -> Principal:
        if self.principal is not None:
            return self.principal
        return _fresh(self.error)


def _reuse(key: bytes | None, token: str, authorization: str | None) -> bytes:
    """The cache-hit path's key when it is the token's, else the token's own.

    The hit path hashed everything after ``Bearer ``; that is the parsed token
    exactly when the two have the same length (parsing only strips around it).
    """
    if key is not None and authorization is not None and len(token) + 7 == len(authorization):
        return key
    return token_key(token)


def _fresh(error: AuthError | None) -> Principal:
    """Raise a new copy of a shared error (one exception object, one raiser)."""
    if isinstance(error, ServiceUnavailableError):
        raise ServiceUnavailableError(error.description, retry_after=error.retry_after)
    if isinstance(error, UnauthenticatedError):
        raise UnauthenticatedError(error.description)
    raise ServiceUnavailableError()


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


class Guard:
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
        timer: Monotonic clock for cache TTLs (tests inject one).
        clock: Wall clock in UNIX seconds for token expiry (tests inject one).

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
        renderer: Renderer | None = None,
        timer: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.verifiers: tuple[Verifier, ...] = tuple(verifiers)
        if not self.verifiers:
            raise ValueError("a Guard needs at least one verifier")
        for verifier in self.verifiers:
            if not all(hasattr(verifier, name) for name in ("kind", "accepts", "verify")):
                raise TypeError(f"{verifier!r} is not a verifier (kind, accepts, verify)")
        if not isinstance(realm, str) or not _REALM.fullmatch(realm):
            raise ValueError("realm must be printable ASCII without quotes or backslashes")
        self.realm = realm
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.public_paths: tuple[str, ...] = tuple(public_paths)
        self._table = RuleSet(self.rules, self.public_paths, default)
        self._renderer: Renderer = renderer if renderer is not None else render_error
        self._rendered: dict[tuple[object, ...], tuple[int, list[tuple[str, str]], bytes]] = {}
        self._cache = VerificationCache(
            ttl=cache_ttl,
            maxsize=cache_maxsize,
            negative_ttl=negative_cache_ttl,
            negative_maxsize=max(1, min(cache_maxsize, 1_000)),
            timer=timer,
            clock=clock,
        )
        self._clock = clock
        self._async_verify: dict[int, Callable[[str], Awaitable[Principal]]] = {}
        self._record_use: dict[int, UseRecorder] = {}
        for verifier in self.verifiers:
            averify = getattr(verifier, "averify", None)
            if averify is not None and inspect.iscoroutinefunction(averify):
                self._async_verify[id(verifier)] = averify
            record_use = getattr(verifier, "record_use", None)
            if callable(record_use):
                self._record_use[id(verifier)] = _best_effort(verifier.kind, record_use)
            bind_guard = getattr(verifier, "bind_guard", None)
            if callable(bind_guard):
                bind_guard(self)
        self._flights: dict[bytes, _Outcome] = {}
        self._flights_lock = threading.Lock()
        self._aflights: dict[bytes, _Outcome] = {}

    def __repr__(self) -> str:
        kinds = [verifier.kind for verifier in self.verifiers]
        return f"Guard(verifiers={kinds!r}, rules={len(self.rules)}, realm={self.realm!r})"

    # -- deciding -------------------------------------------------------------------

    def requirement(self, method: str, path: str) -> Requirement:
        """What a request with this method and router path must present."""
        return self._table.match(method, path)

    def check(self, method: str, path: str, authorization: str | None) -> Principal | None:
        """Decide a request: the principal, None for an anonymous public request.

        Raises:
            AuthError: the request is refused; render it with :meth:`render`.
        """
        found = self._check_cached(method, path, authorization)
        if found is None or isinstance(found, bytes):
            return self._check_full(method, path, authorization, found)
        return found

    def _check_full(
        self, method: str, path: str, authorization: str | None, key: bytes | None = None
    ) -> Principal | None:
        """:meth:`check` once :meth:`_check_cached` found nothing (``key``: its key)."""
        requirement = self._table.match(method, path)
        token = parse_authorization(authorization)
        if token is None:
            if requirement.public:
                return None
            raise MissingCredentialsError()
        principal = self._verify(token, _reuse(key, token, authorization))
        if not requirement.public:
            self.authorize(principal, requirement)
        return principal

    async def acheck(self, method: str, path: str, authorization: str | None) -> Principal | None:
        """Async twin of :meth:`check`: a cache hit never leaves the event loop."""
        found = self._check_cached(method, path, authorization)
        if found is None or isinstance(found, bytes):
            return await self._acheck_full(method, path, authorization, found)
        return found

    async def _acheck_full(
        self, method: str, path: str, authorization: str | None, key: bytes | None = None
    ) -> Principal | None:
        """:meth:`acheck` once :meth:`_check_cached` found nothing (``key``: its key)."""
        requirement = self._table.match(method, path)
        token = parse_authorization(authorization)
        if token is None:
            if requirement.public:
                return None
            raise MissingCredentialsError()
        key = _reuse(key, token, authorization)
        cached = self._cache.get(key)
        principal: Principal
        if cached is None:
            principal = await self._averify_miss(token, key)
        elif isinstance(cached, str):
            raise UnauthenticatedError(cached)
        else:
            principal = cached
        if not requirement.public:
            self.authorize(principal, requirement)
        return principal

    def _check_cached(
        self, method: str, path: str, authorization: str | None
    ) -> Principal | bytes | None:
        """The decision for a token already in the cache, else decide in full.

        Only tokens that parsed are ever cached (as principals or refusals), and
        ``Bearer <token>`` with one space parses to exactly ``<token>``, so on a hit
        parsing again could not change the outcome: the b64token scan (a regex over the
        whole token, the costliest step of a hit) is skipped. Any other spelling, and
        any miss, takes the full path.

        Returns:
            The principal on a hit. On a miss, the key just computed, which the full
            path reuses when the token turns out to be all that follows ``Bearer ``;
            None for a header this path does not take.
        """
        if authorization is None or not authorization.isascii():  # O(1)
            return None
        return self._check_cached_raw(method, path, authorization.encode())

    def _check_cached_raw(
        self, method: str, path: str, authorization: bytes | None
    ) -> Principal | bytes | None:
        """:meth:`_check_cached` for the header's raw bytes (ASGI), decoding nothing.

        The key is the SHA-256 of the bytes after ``Bearer ``: equal to a cached key
        only when they are exactly a cached token's (ASCII) bytes.
        """
        if authorization is None or not authorization.startswith(_FAST_SCHEMES):
            return None
        key = _sha256(authorization[7:]).digest()
        cached = self._cache.get(key)
        if cached is None:
            return key
        if isinstance(cached, str):
            raise UnauthenticatedError(cached)
        requirement = self._table.match(method, path)
        if not requirement.public:
            requirement.authorize(cached)
        return cached

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
        return self._verify(token)

    async def aauthenticate(self, authorization: str | None) -> Principal:
        """Async twin of :meth:`authenticate`, for ASGI.

        Uses a verifier's ``averify`` when it has one; otherwise its ``verify`` runs in
        a worker thread. A cache hit does no thread hop and no I/O.
        """
        token = parse_authorization(authorization)
        if token is None:
            raise MissingCredentialsError()
        key = token_key(token)
        cached = self._cache.get(key)
        if cached is None:
            return await self._averify_miss(token, key)
        if isinstance(cached, str):
            raise UnauthenticatedError(cached)
        return cached

    def authorize(self, principal: Principal, requirement: Requirement) -> None:
        """Check kind, then all-of scopes, then any-of scopes.

        Raises:
            InsufficientScopeError: listing the set that failed (empty for the kind).
        """
        requirement.authorize(principal)

    def render(self, error: AuthError) -> tuple[int, list[tuple[str, str]], bytes]:
        """Render an error with the configured renderer: ``(status, headers, body)``."""
        if self._renderer is not render_error or type(error) not in _BUILT_IN_ERRORS:
            return self._renderer(error, self.realm)
        # The default rendering of a built-in error depends only on these fields, and
        # a flood of refusals (a token spray) renders the same few answers again and
        # again: keep them, bounded. A custom renderer is always called.
        key = (
            type(error),
            error.description,
            getattr(error, "required_scopes", None),
            getattr(error, "retry_after", None),
        )
        rendered = self._rendered.get(key)
        if rendered is None:
            if len(self._rendered) >= _MAX_RENDERED:
                self._rendered.clear()
            rendered = self._rendered[key] = render_error(error, self.realm)
        status, headers, body = rendered
        return status, list(headers), body  # a fresh list: callers may extend it

    # -- the cache ------------------------------------------------------------------

    def invalidate(self, token: str) -> None:
        """Forget one token's cached result (after revoking it, say)."""
        self._cache.discard(token_key(token))

    def invalidate_key(self, key: bytes) -> None:
        """Forget a cached result by its key: the SHA-256 digest of the token."""
        self._cache.discard(key)

    def clear_cache(self) -> None:
        """Forget every cached result."""
        self._cache.clear()

    # -- verification -----------------------------------------------------------------

    def _verify(self, token: str, key: bytes | None = None) -> Principal:
        if key is None:
            key = token_key(token)
        cached = self._cache.get(key)
        if cached is None:
            return self._verify_once(self._owner(token), token, key)
        if isinstance(cached, str):
            raise UnauthenticatedError(cached)
        return cached

    def _verify_once(self, verifier: Verifier, token: str, key: bytes) -> Principal:
        """Verify on a miss; concurrent threads with the same token share one call."""
        with self._flights_lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Outcome()
            elif flight.waiters is None:
                # The first thread to wait makes the event, under the lock the leader
                # takes again before it finishes, so the leader always sees it.
                flight.waiters = threading.Event()
            waiters = flight.waiters
        if not leader:
            waiters.wait()
            return flight.outcome()
        try:
            # A caller that missed the cache just before an earlier flight for this
            # token stored its result and closed must take that result, not verify again.
            cached = self._cache.get(key)
            if cached is None:
                flight.principal = self._call_verifier(verifier, token, key)
            elif isinstance(cached, str):
                raise UnauthenticatedError(cached)
            else:
                flight.principal = cached
            return flight.principal
        except AuthError as error:
            flight.error = error
            raise
        finally:
            with self._flights_lock:
                del self._flights[key]
                waiters = flight.waiters
            if waiters is not None:
                waiters.set()

    async def _averify_miss(self, token: str, key: bytes) -> Principal:
        """Verify on a miss under ASGI; concurrent tasks with the same token share it."""
        import anyio  # only async callers need it
        import anyio.to_thread

        verifier = self._owner(token)
        waiting = self._aflights.get(key)
        if waiting is not None:
            if waiting.waiters is None:
                waiting.waiters = anyio.Event()
            await waiting.waiters.wait()
            return waiting.outcome()
        holder = self._aflights[key] = _Outcome()
        try:
            averify = self._async_verify.get(id(verifier))
            if averify is None:
                holder.principal = await anyio.to_thread.run_sync(
                    self._verify_once, verifier, token, key
                )
            else:
                holder.principal = await self._settle(verifier, averify(token), token, key)
            return holder.principal
        except AuthError as error:
            holder.error = error
            raise
        finally:
            del self._aflights[key]
            if holder.waiters is not None:
                holder.waiters.set()

    def _owner(self, token: str) -> Verifier:
        """The verifier that owns a token, asked before any single flight or I/O.

        Refusals here (no owner, or an owner whose ``accepts`` raises
        ``UnauthenticatedError`` for a token it can tell is malformed) are offline and
        cheap, so they are not cached: a spray of random strings must cost no more
        than that and must not evict the refusals worth remembering (L-01, X-04).
        """
        for verifier in self.verifiers:
            try:
                if verifier.accepts(token):
                    return verifier
            except UnauthenticatedError as exc:
                quoted = _quotes(exc.description, token) or exc.error_code is None
                raise UnauthenticatedError(None if quoted else exc.description) from None
            except Exception as exc:
                logger.error(
                    "verifier %s failed to classify a token: %s", verifier.kind, type(exc).__name__
                )
                raise ServiceUnavailableError() from None
        raise UnauthenticatedError(_NO_OWNER)

    def _call_verifier(self, verifier: Verifier, token: str, key: bytes) -> Principal:
        try:
            principal = verifier.verify(token)
        except Exception as exc:
            raise self._failure(verifier, exc, token, key) from None
        return self._accept(verifier, principal, key)

    async def _settle(
        self, verifier: Verifier, pending: Awaitable[Principal], token: str, key: bytes
    ) -> Principal:
        try:
            principal = await pending
        except Exception as exc:
            raise self._failure(verifier, exc, token, key) from None
        return self._accept(verifier, principal, key)

    def _accept(self, verifier: Verifier, principal: object, key: bytes) -> Principal:
        if not isinstance(principal, Principal):
            logger.error(
                "verifier %s returned %s, not a Principal", verifier.kind, type(principal).__name__
            )
            raise ServiceUnavailableError()
        expires_at = principal.expires_at
        if expires_at is not None and expires_at.timestamp() <= self._clock():
            self._cache.put_refusal(key, _EXPIRED)
            raise UnauthenticatedError(_EXPIRED)
        record_use = self._record_use.get(id(verifier))
        self._cache.put(key, principal, record_use)
        if record_use is not None:
            record_use(principal)
        return principal

    def _failure(self, verifier: Verifier, exc: Exception, token: str, key: bytes) -> AuthError:
        # A verifier's own description that quotes the token is never logged nor
        # answered (security cases G-01, G-02): the default description replaces it.
        quoted = isinstance(exc, AuthError) and _quotes(exc.description, token)
        if isinstance(exc, ServiceUnavailableError):
            if quoted:
                exc = ServiceUnavailableError(retry_after=exc.retry_after)
            logger.warning("verifier %s cannot decide: %s", verifier.kind, exc.description)
            return exc
        if isinstance(exc, AuthError) and not isinstance(exc, InsufficientScopeError):
            # Whatever a verifier refuses with renders as invalid_token.
            refusal = UnauthenticatedError(
                exc.description
                if isinstance(exc, UnauthenticatedError) and exc.error_code and not quoted
                else None
            )
            self._cache.put_refusal(key, refusal.description)
            logger.info("token refused by %s verifier: %s", verifier.kind, refusal.description)
            return refusal
        # Never the exception's text: it may quote the token.
        logger.error("verifier %s raised %s: failing closed", verifier.kind, type(exc).__name__)
        return ServiceUnavailableError()
