"""Bounded store calls: every call answers within ``timeout``; few threads ever wait.

Why a worker pool and not the drivers' own timeouts: a stalled peer that keeps the
socket open and forwards nothing (a hung proxy, a frozen VM, a loopback proxy in the
tests) defeats them all. The client's bytes are ACKed, so ``tcp_user_timeout`` never
fires; keepalive probes are answered; the server never sees the query, so
``statement_timeout`` never starts; and psycopg 3 waits on the socket with no
deadline (``cursor.execute`` calls ``Connection.wait`` without one). Only the caller
can stop waiting. So each call runs on one of ``max_concurrency`` daemon threads
owned by the store, and the caller waits on its future for at most ``timeout``; past
it the caller gets :class:`~bearerguard.tokens.StoreTimeoutError` (503) and the
thread is abandoned to finish whenever the socket answers or the driver gives up.

A call holds its slot until the thread really finishes, not until the caller stops
waiting: so at most ``max_concurrency`` threads are ever stuck on one store, and once
they all are, further callers wait ``min(0.05, timeout)`` for a slot and then get
:class:`~bearerguard.tokens.StoreBusyError` (503). A threaded WSGI server keeps its
other threads for ``/health`` and cached tokens (issue 8, item 1).

The threads are daemons (an abandoned call never holds up interpreter exit, which
``concurrent.futures.ThreadPoolExecutor`` would: it joins its workers at exit), are
started on first use, stop when their store is garbage-collected, and are replaced
in a forked child, where the parent's threads do not exist.

Closing never pulls a connection from under a call still running on these threads
(the SQLite driver may crash, not just raise): :meth:`BoundedCalls.close` refuses new
calls, waits up to ``timeout`` for the ones under way, and only then closes. Past
that wait the last call to finish closes instead.
"""

from __future__ import annotations

import concurrent.futures
import math
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from ..tokens._store import Row, StoreBusyError, StoreError, StoreTimeoutError

if TYPE_CHECKING:
    from ..tokens import TokenRecord

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_TIMEOUT",
    "BoundedCalls",
    "BoundedStore",
]

T = TypeVar("T")

DEFAULT_TIMEOUT = 3.0
"""Seconds a store call may take before the caller gets 503."""
DEFAULT_MAX_CONCURRENCY = 4
"""Store calls that may be under way at once, per store."""
_MAX_ACQUIRE_WAIT = 0.05  # how long a caller waits for a free slot before 503

_Job = tuple["concurrent.futures.Future[Any]", Callable[..., Any], tuple[Any, ...]]


def check_limits(timeout: float, max_concurrency: int) -> tuple[float, int]:
    """Validate a store's ``timeout=`` and ``max_concurrency=`` arguments.

    Raises:
        ValueError: ``timeout`` is not a positive finite number of seconds, or
            ``max_concurrency`` is not a positive whole number.
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise ValueError("timeout must be a number of seconds")
    if not (0 < timeout < math.inf):
        raise ValueError("timeout must be a positive, finite number of seconds")
    if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
        raise ValueError("max_concurrency must be a whole number")
    if max_concurrency < 1:
        raise ValueError("max_concurrency must be at least 1")
    return float(timeout), max_concurrency


def _work(jobs: queue.SimpleQueue[_Job | None]) -> None:
    while True:
        job = jobs.get()
        if job is None:
            return
        _run(*job)
        del job  # hold nothing (the store above all) while idle


def _run(future: concurrent.futures.Future[Any], fn: Callable[..., Any], args: Any) -> None:
    if not future.set_running_or_notify_cancel():
        return  # the caller gave up before the call started
    try:
        result = fn(*args)
    except BaseException as exc:  # the future must complete, or its slot is lost
        future.set_exception(exc)
    else:
        future.set_result(result)


def _stop(jobs: queue.SimpleQueue[_Job | None], threads: int) -> None:
    for _ in range(threads):
        jobs.put(None)


class BoundedCalls:
    """Run a store's calls on its own few threads, each awaited at most ``timeout``.

    Args:
        what: Names the store in error messages (never a secret or a URL password).
        timeout: Longest wait for one call, slot included, in seconds.
        max_concurrency: Calls that may be under way at once (and threads).
    """

    def __init__(self, what: str, *, timeout: float, max_concurrency: int) -> None:
        self.timeout, self.max_concurrency = check_limits(timeout, max_concurrency)
        self.what = what
        self._acquire_wait = min(_MAX_ACQUIRE_WAIT, self.timeout)
        self._lock = threading.Lock()
        self._pid = -1
        self._slots = threading.BoundedSemaphore(self.max_concurrency)
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # Calls handed to the threads and not finished (run, failed or cancelled).
        self._state = threading.Condition()
        self._in_flight = 0
        self._closing = False
        self._closer: Callable[[], object] | None = None  # run by the last call out

    def _started(self) -> None:
        # First use, or first use in a forked child: the threads (and any slots they
        # held) belong to the parent, so start afresh.
        with self._lock:
            if self._pid == os.getpid():
                return
            self._slots = threading.BoundedSemaphore(self.max_concurrency)
            self._jobs = queue.SimpleQueue()
            with self._state:  # the parent's calls never finish here
                self._in_flight, self._closing, self._closer = 0, False, None
            for n in range(self.max_concurrency):
                threading.Thread(
                    target=_work, args=(self._jobs,), name=f"bearerguard-store-{n}", daemon=True
                ).start()
            weakref.finalize(self, _stop, self._jobs, self.max_concurrency)
            self._pid = os.getpid()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on a store thread; its result or exception within ``timeout``.

        Raises:
            StoreError: the store is closing (:meth:`close` waits for calls under way).
            StoreBusyError: every slot stayed taken for the short acquire wait.
            StoreTimeoutError: no answer within ``timeout`` (the call may still finish).
        """
        if self._pid != os.getpid():
            self._started()
        if self._closing:  # read again under the lock below, once a slot is held
            raise StoreError(f"{self.what} is closing")
        started = time.monotonic()
        slots = self._slots
        if not slots.acquire(timeout=self._acquire_wait):
            raise StoreBusyError(
                f"{self.what}: {self.max_concurrency} calls are already waiting on it"
            )
        with self._state:
            if self._closing:
                slots.release()
                raise StoreError(f"{self.what} is closing")
            self._in_flight += 1
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        future.add_done_callback(lambda _: slots.release())
        future.add_done_callback(self._finished)
        self._jobs.put((future, fn, args))
        try:
            return future.result(timeout=self.timeout - (time.monotonic() - started))
        except concurrent.futures.TimeoutError:
            if future.done():  # the call's own TimeoutError, or it finished just now
                return future.result()
            future.cancel()  # not started yet: it never runs, and frees its slot now
            raise StoreTimeoutError(
                f"{self.what} did not answer within {self.timeout:g} s"
            ) from None

    def _finished(self, _: concurrent.futures.Future[Any]) -> None:
        # A future's done callback: the call has returned (or never started).
        with self._state:
            self._in_flight -= 1
            if self._in_flight:
                return
            self._state.notify_all()
            closer, self._closer = self._closer, None
        if closer is not None:
            self._close_now(closer)

    def _close_now(self, closer: Callable[[], object]) -> None:
        try:
            closer()
        finally:
            with self._state:
                self._closing = False  # the next call reopens

    def close(self, closer: Callable[[], object]) -> bool:
        """Run ``closer`` once no call is running on the store's threads.

        New calls raise :class:`~bearerguard.tokens.StoreError` at once until it has
        run. Waits at most ``timeout`` for the calls under way; past that, returns
        and the last of them runs ``closer`` as it finishes: a connection is never
        closed under a call still using it.

        Returns:
            True if ``closer`` ran here, False if it was left to the last call.
        """
        with self._state:
            self._closing = True
            if not self._state.wait_for(lambda: self._in_flight == 0, timeout=self.timeout):
                self._closer = closer
                return False
        self._close_now(closer)
        return True


class BoundedStore:
    """The store protocol over :class:`BoundedCalls`: each method runs ``_method`` there.

    A subclass sets ``_calls`` and writes the blocking bodies (``_add``, ``_get``, ...),
    which run on the store's own threads.
    """

    _calls: BoundedCalls

    def add(self, record: TokenRecord) -> None:
        """Insert a new token."""
        self._calls.call(self._add, record)

    def find_by_hash(self, token_hash: bytes) -> Row | None:
        """The row with this SHA-256 digest (unique index), or None."""
        return self._calls.call(self._find_by_hash, token_hash)

    def get(self, token_id: str) -> Row | None:
        """The row with this id, or None."""
        return self._calls.call(self._get, token_id)

    def query(self, *, client_id: str | None, include_revoked: bool) -> list[Row]:
        """Rows of one client (or all), oldest first."""
        return self._calls.call(self._query, client_id, include_revoked)

    def revoke(self, token_id: str, revoked_at: datetime) -> bool:
        """Mark a token revoked."""
        return self._calls.call(self._revoke, token_id, revoked_at)

    def rotate(self, token_id: str, expires_at: datetime, new: TokenRecord) -> bool:
        """Shorten the old token's life and add the new one, in one transaction."""
        return self._calls.call(self._rotate, token_id, expires_at, new)

    def touch(self, last_used: Mapping[str, datetime]) -> None:
        """Move ``last_used_at`` forward, one transaction for the batch."""
        if last_used:
            self._calls.call(self._touch, dict(last_used))

    def prune(self, before: datetime, *, dry_run: bool = False) -> list[Row]:
        """Delete the tokens revoked or expired at or before ``before``; their rows."""
        return self._calls.call(self._prune, before, dry_run)

    # -- the blocking bodies, run on the store's threads ---------------------------

    def _add(self, record: TokenRecord) -> None:
        raise NotImplementedError

    def _find_by_hash(self, token_hash: bytes) -> Row | None:
        raise NotImplementedError

    def _get(self, token_id: str) -> Row | None:
        raise NotImplementedError

    def _query(self, client_id: str | None, include_revoked: bool) -> list[Row]:
        raise NotImplementedError

    def _revoke(self, token_id: str, revoked_at: datetime) -> bool:
        raise NotImplementedError

    def _rotate(self, token_id: str, expires_at: datetime, new: TokenRecord) -> bool:
        raise NotImplementedError

    def _touch(self, last_used: Mapping[str, datetime]) -> None:
        raise NotImplementedError

    def _prune(self, before: datetime, dry_run: bool) -> list[Row]:
        raise NotImplementedError
