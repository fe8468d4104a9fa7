"""Single flight: concurrent misses for one token share one verification.

One mechanism for threads (:class:`Flights`) and one for tasks of an event loop
(:class:`AsyncFlights`), sharing :class:`Flight`, the outcome they hand around.

A flight can be closed while it runs (:meth:`Flights.close`, on a revoke or an
invalidation): callers that arrive afterwards start a flight of their own, and the
closed flight's outcome, read before the revoke, is never kept in the cache. Callers
that joined it before the close still get its outcome: they started before the revoke
returned. A leader that ends without an outcome (cancelled, or interrupted) leaves its
waiters to verify for themselves rather than failing them.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from .exceptions import AuthError, ServiceUnavailableError, UnauthenticatedError
from .principal import Principal

Keep = Callable[["Flight"], "Callable[[], object] | None"]
"""Stores a finished flight's outcome under the table's lock; what it returns runs after."""


class Flight:
    """One verification in progress, and then its outcome."""

    __slots__ = ("error", "event", "principal")

    def __init__(self) -> None:
        self.principal: Principal | None = None
        self.error: AuthError | None = None
        # Made by the first caller that waits, so a miss nobody waits for (nearly all
        # of them) makes no event at all.
        self.event: Any = None

    @property
    def done(self) -> bool:
        """True once the flight has a principal or an error."""
        return self.principal is not None or self.error is not None

    def outcome(self) -> Principal:
        """The principal, or a fresh copy of the error raised (one raiser per object)."""
        if self.principal is not None:
            return self.principal
        error = self.error
        if isinstance(error, UnauthenticatedError):
            raise UnauthenticatedError(error.description)
        if isinstance(error, ServiceUnavailableError):
            raise ServiceUnavailableError(error.description, retry_after=error.retry_after)
        raise ServiceUnavailableError()


class _Table:
    """The open flights by key, behind one lock that is never held across I/O."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.open: dict[bytes, Flight] = {}

    def close(self, key: bytes) -> None:
        """Detach the flight for ``key``: later callers start afresh, and it keeps nothing."""
        with self.lock:
            self.open.pop(key, None)

    @contextlib.contextmanager
    def leading(self, key: bytes, flight: Flight, keep: Keep) -> Iterator[None]:
        """Around the leader's work: record its refusal, then end the flight.

        An ended flight is kept (in the cache) unless it was closed meanwhile, and its
        waiters are woken, whatever the work did (a cancelled leader included). Keeping
        happens under the lock, so a close cannot fall between the check and the keep;
        what ``keep`` hands back (a verifier's ``record_use``) runs once the lock is
        released, since it may close flights itself (a token rotated meanwhile).
        """
        then = None
        try:
            yield
        except AuthError as error:
            flight.error = error
            raise
        finally:
            with self.lock:
                if self.open.get(key) is flight:
                    del self.open[key]
                    if flight.done:
                        then = keep(flight)
                event = flight.event
            if event is not None:
                event.set()
            if then is not None:
                then()


class Flights(_Table):
    """Single flight for threads."""

    def run(self, key: bytes, work: Callable[[], Principal], keep: Keep) -> Principal:
        """``work()`` once for all the threads that ask for ``key`` at the same time."""
        while True:
            with self.lock:
                flight = self.open.get(key)
                leader = flight is None
                if flight is None:
                    flight = self.open[key] = Flight()
                elif flight.event is None:
                    # Made under the lock the leader takes again to finish, so the
                    # leader always sees it.
                    flight.event = threading.Event()
                event = flight.event
            if leader:
                with self.leading(key, flight, keep):
                    flight.principal = work()
                    return flight.principal
            event.wait()
            if flight.done:
                return flight.outcome()


class AsyncFlights(_Table):
    """Single flight for the tasks of one event loop.

    The dict is only changed from the loop, but :meth:`close` may come from any thread
    (a revoke in a worker thread), hence the lock of :class:`_Table`.
    """

    async def run(
        self, key: bytes, work: Callable[[], Awaitable[Principal]], keep: Keep
    ) -> Principal:
        """``await work()`` once for all the tasks that ask for ``key`` at the same time."""
        import anyio  # only async callers need it

        while True:
            flight = self.open.get(key)
            if flight is not None:
                if flight.event is None:
                    flight.event = anyio.Event()
                await flight.event.wait()
                if flight.done:
                    return flight.outcome()
                continue
            flight = Flight()
            with self.lock:
                self.open[key] = flight
            with self.leading(key, flight, keep):
                flight.principal = await work()
                return flight.principal
