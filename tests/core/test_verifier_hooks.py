"""A verifier's ``record_use`` may invalidate the token it is told of, without a hang.

A client-token verifier does exactly that when a token it just verified was rotated or
revoked meanwhile by another thread: its hook drops the token from the guard's cache,
which closes the token's flight. The hook must not run under the flights' lock.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from bearerguard import Guard, Principal

TOKEN = "t0ken-that-is-dropped-on-use"


class DropsOnUse:
    """Verifies one token; on each use of its principal, drops it from the cache."""

    kind = "client"

    def __init__(self) -> None:
        self.guard: Guard | None = None
        self.verified = 0
        self.uses = 0

    def bind_guard(self, guard: Guard) -> None:
        self.guard = guard

    def accepts(self, token: str) -> bool:
        return True

    def verify(self, token: str) -> Principal:
        self.verified += 1
        return Principal(kind="client", subject="app", scopes=frozenset({"a"}))

    async def averify(self, token: str) -> Principal:
        return self.verify(token)

    def record_use(self, principal: Principal) -> None:
        self.uses += 1
        assert self.guard is not None
        self.guard.invalidate(TOKEN)


def within(seconds: float, call: Any) -> list[Any]:
    """``call()`` on a daemon thread: its results, or a failure instead of a hang."""
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the guard hung"
    return results


def test_a_hook_that_invalidates_the_token_it_is_told_of_does_not_hang() -> None:
    verifier = DropsOnUse()
    guard = Guard([verifier])
    found = within(5, lambda: [guard.check("GET", "/x", f"Bearer {TOKEN}") for _ in range(3)])
    assert [principal.subject for principal in found[0]] == ["app"] * 3
    # Dropped on every use, so verified every time: the hook ran each time.
    assert (verifier.verified, verifier.uses) == (3, 3)


def test_the_async_driver_does_not_hang_either() -> None:
    verifier = DropsOnUse()
    guard = Guard([verifier])

    async def three() -> list[Principal | None]:
        return [await guard.acheck("GET", "/x", f"Bearer {TOKEN}") for _ in range(3)]

    found = within(5, lambda: asyncio.run(three()))
    assert len(found[0]) == 3
    assert (verifier.verified, verifier.uses) == (3, 3)
