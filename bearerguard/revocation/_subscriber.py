"""The subscriber: one daemon thread per process and bus, listening for revocations.

Why a thread of its own rather than a task on the app's event loop or work on the
request path: it is the one design that behaves the same under every server. A WSGI
worker has no loop; an ASGI app may run several loops (a test client makes one per
client) or none yet at import; gunicorn ``--preload`` builds the guard in the master
before ``fork()``. A daemon thread started on subscription (and again in each forked
child, see :func:`_after_fork`) needs none of them, never holds up a request or the
loop, and never holds up interpreter exit. What it does to the guard is a dict pop
under the cache's lock, which is safe from any thread.

Inside the thread, asyncio bounds every wait (:func:`_bounded`): a stalled peer
that keeps the socket open and forwards nothing is noticed when a heartbeat round
trip (Redis ``PING``, PostgreSQL ``SELECT 1``) gets no answer within ``timeout``;
the drivers' own socket timeouts cannot see that through psycopg (see
``bearerguard.stores._bounded``).

Missed messages: while the subscription is down, guards keep today's guarantee
(a cached entry lives at most ``cache_ttl``). The loss is logged and counted, the
listener reconnects with capped exponential backoff and jitter, and each time a
subscription comes up, every subscribed guard drops its whole cache: the process
cannot know what it missed, and an entry cached during the gap may be one revoked
during the gap too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from ._bus import Counters, RevocationSink
from ._message import Revocation

__all__ = ["Listener", "Subscriber"]

logger = logging.getLogger("bearerguard")

_FIRST_DELAY = 0.05
_MAX_DELAY = 5.0


class Listener(Protocol):
    """One connection's subscription, made by an engine; every call is bounded outside."""

    async def open(self) -> None:
        """Connect and subscribe; return once the server confirmed the subscription."""
        ...

    async def receive(self, wait: float) -> None:
        """Deliver the messages that arrive within ``wait`` seconds (may return early)."""
        ...

    async def ping(self) -> None:
        """One round trip to the server (messages read meanwhile are delivered)."""
        ...

    async def close(self) -> None:
        """Close the connection."""
        ...


Deliver = Callable[[str | bytes], None]
ListenerFactory = Callable[[Deliver], Listener]

_LIVE: weakref.WeakSet[Subscriber] = weakref.WeakSet()


class Subscriber:
    """The listening thread of one bus in this process.

    Args:
        what: Names the bus in logs (never a URL: it may hold a password).
        listener: Makes a fresh :class:`Listener` for each connection.
        counters: The bus's counters.
        timeout: Longest wait for a connection, a subscription or a heartbeat answer.
        heartbeat: Seconds between heartbeats.
    """

    def __init__(
        self,
        what: str,
        listener: ListenerFactory,
        counters: Counters,
        *,
        timeout: float,
        heartbeat: float,
    ) -> None:
        self.what = what
        self.timeout = timeout
        self.heartbeat = heartbeat
        self._listener = listener
        self._counters = counters
        self._sinks: weakref.WeakSet[RevocationSink] = weakref.WeakSet()
        self._fresh()
        _LIVE.add(self)

    def _fresh(self) -> None:
        # Also in a forked child, where the parent's thread and lock holder are gone.
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._down_since: float | None = None
        self._counters.connected = False

    def add(self, sink: RevocationSink) -> None:
        """Deliver to ``sink`` too, starting the thread on first use."""
        with self._lock:
            self._sinks.add(sink)
            if self._thread is None and not self._stop.is_set():
                self._start()

    def _start(self) -> None:
        self._thread = threading.Thread(
            target=self._main, name=f"bearerguard-{self.what}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop listening (the thread ends within a heartbeat)."""
        self._stop.set()

    def _after_fork(self) -> None:
        self._fresh()
        if len(self._sinks):
            self._start()

    # -- the thread -----------------------------------------------------------------

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        delay = _FIRST_DELAY
        while not self._stop.is_set():
            listener = self._listener(self._deliver)
            alive = time.monotonic()
            try:
                await _bounded(listener.open(), self.timeout)
                self._up()
                delay = _FIRST_DELAY
                alive = time.monotonic()
                while not self._stop.is_set():
                    wait = self.heartbeat
                    await _bounded(listener.receive(wait), wait + self.timeout)
                    if time.monotonic() - alive >= self.heartbeat:
                        await _bounded(listener.ping(), self.timeout)
                        alive = time.monotonic()
            except Exception as exc:  # any failure is a gap, TimeoutError included
                self._down(alive, exc)
            finally:
                with contextlib.suppress(Exception):
                    await _bounded(listener.close(), self.timeout)
            if not self._stop.is_set():
                await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311
                delay = min(delay * 2, _MAX_DELAY)
        self._counters.connected = False

    def _up(self) -> None:
        now = time.monotonic()
        for sink in list(self._sinks):
            self._call(sink.reset)
        counters = self._counters
        with counters.lock:
            counters.connected = True
            down_since, self._down_since = self._down_since, None
            if down_since is not None:
                counters.gap_seconds += now - down_since
        if down_since is not None:
            logger.warning(
                "revocation bus %s: subscribed again after %.1f s; dropped every cached token",
                self.what,
                now - down_since,
            )

    def _down(self, alive: float, exc: Exception) -> None:
        counters = self._counters
        with counters.lock:
            counters.connected = False
            if self._down_since is not None:
                return  # the same gap: logged once
            self._down_since = alive
            counters.gaps += 1
        logger.warning(
            "revocation bus %s: subscription lost (%s); cached tokens live at most "
            "cache_ttl until it is back",
            self.what,
            type(exc).__name__,
        )

    def _deliver(self, payload: str | bytes) -> None:
        try:
            revocation = Revocation.decode(payload)
        except ValueError as exc:
            logger.warning("revocation bus %s: ignored a bad message: %s", self.what, exc)
            return
        with self._counters.lock:
            self._counters.messages += 1
        for sink in list(self._sinks):
            self._call(sink.evict, revocation)

    def _call(self, method: Callable[..., None], *args: object) -> None:
        try:
            method(*args)
        except Exception as exc:  # one broken sink must not stop the others
            logger.error("revocation bus %s: a subscriber failed: %s", self.what, exc)


_ABANDONED: set[asyncio.Task[Any]] = set()


async def _bounded(step: Coroutine[Any, Any, None], seconds: float) -> None:
    """Run one listener step for at most ``seconds``; past that, raise TimeoutError.

    Not ``asyncio.wait_for``: it waits for the cancelled step to finish, and psycopg
    answers a cancellation by sending the server a cancel request and waiting up to
    10 s for it (through the very network that stalled). The step is cancelled and
    left to end on its own; the caller closes its connection and moves on.
    """
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        task.cancel()
        _ABANDONED.add(task)  # held until it ends, so it is not collected mid-run
        task.add_done_callback(_forget)
        raise TimeoutError(f"no answer within {seconds:g} s")
    task.result()


def _forget(task: asyncio.Task[Any]) -> None:
    _ABANDONED.discard(task)
    if not task.cancelled():
        task.exception()  # retrieved: its failure is the gap already logged


def _after_fork() -> None:
    # gunicorn --preload and multiprocessing's fork: the child has the guards but
    # not the thread; start one per bus that has subscribers.
    for subscriber in list(_LIVE):
        subscriber._after_fork()


if hasattr(os, "register_at_fork"):  # not on Windows, where nothing forks
    os.register_at_fork(after_in_child=_after_fork)
