"""Releasing what a guard's verifiers hold: HTTP connections, background threads.

A verifier that holds something has ``close()`` (and may have ``async aclose()``).
Every one is closed even when an earlier one fails, and the first failure is raised
at the end, as ``contextlib.ExitStack`` does; the verifiers keep answering from what
they hold (keys, documents), and open new connections if they must.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable

logger = logging.getLogger("bearerguard")

__all__ = ["aclose_all", "close_all"]


def close_all(verifiers: Iterable[object]) -> None:
    """Call ``close()`` on every verifier that has one.

    Raises:
        Exception: the first a ``close()`` raised, after all were called.
    """
    failures: list[Exception] = []
    for verifier in verifiers:
        close = getattr(verifier, "close", None)
        if callable(close):
            try:
                close()
            except Exception as exc:
                failures.append(_failed(verifier, exc))
    if failures:
        raise failures[0]


async def aclose_all(verifiers: Iterable[object]) -> None:
    """Await ``aclose()`` where a verifier has it, else run its ``close()`` in a worker
    thread (closing may block: a socket, a final write), never on the event loop.

    Raises:
        Exception: the first a close raised, after all were called.
    """
    import anyio.to_thread

    failures: list[Exception] = []
    for verifier in verifiers:
        aclose = getattr(verifier, "aclose", None)
        close = getattr(verifier, "close", None)
        try:
            if aclose is not None and inspect.iscoroutinefunction(aclose):
                await aclose()
            elif callable(close):
                await anyio.to_thread.run_sync(close)
        except Exception as exc:
            failures.append(_failed(verifier, exc))
    if failures:
        raise failures[0]


def _failed(verifier: object, exc: Exception) -> Exception:
    kind = getattr(verifier, "kind", type(verifier).__name__)
    logger.error("closing verifier %s failed: %s", kind, type(exc).__name__)
    return exc
