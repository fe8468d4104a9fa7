"""A guard's verifiers over its life: added, removed, bound, closed.

:class:`Lifecycle` is a base of :class:`~bearerguard.Guard`. The verifiers a request
asks are one tuple of :class:`~bearerguard._dispatch.Entry`, replaced whole under a
lock, so a request in flight reads the old tuple or the new, never a half-changed one;
the guards :meth:`~bearerguard.Guard.with_rules` made (its views) get the same tuple.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from ._closing import aclose_all, close_all
from ._dispatch import Entry

if TYPE_CHECKING:
    from .verifier import Verifier

__all__ = ["Lifecycle", "bind"]

_Guard = TypeVar("_Guard", bound="Lifecycle")


def bind(verifier: Verifier, guard: object) -> None:
    """Call a verifier's optional ``bind_guard(guard)`` hook."""
    bind_guard = getattr(verifier, "bind_guard", None)
    if callable(bind_guard):
        bind_guard(guard)


class Lifecycle:
    """Adding, removing and closing the verifiers of :class:`~bearerguard.Guard`."""

    if TYPE_CHECKING:
        verifiers: tuple[Verifier, ...]
        _entries: tuple[Entry, ...]
        _timer: Callable[[], float]
        _verifiers_lock: threading.Lock
        _views: weakref.WeakSet[Lifecycle]

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
        bind(verifier, self)

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

    def __enter__(self: _Guard) -> _Guard:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self: _Guard) -> _Guard:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
