"""Shared helpers for the framework-free core tests: a fake clock and a scripted verifier.

With ``--import-mode=importlib`` a test module cannot import this file, so the helpers
are handed out through fixtures.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import pytest

from bearerguard import Principal
from bearerguard.exceptions import UnauthenticatedError

START = 1_700_000_000.0


class FakeTime:
    """One settable time source, injected as both the guard's ``timer`` and ``clock``."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def at(self, offset: float) -> datetime:
        """An aware datetime ``offset`` seconds from now."""
        return datetime.fromtimestamp(self.now + offset, tz=timezone.utc)


Outcome = Principal | BaseException | Callable[[str], Any]


class ScriptedVerifier:
    """A verifier owning tokens with ``prefix``; each token maps to an outcome.

    An outcome is a Principal (returned), an exception (raised) or a callable (called with
    the token, its result returned). Unknown tokens are refused with ``UnauthenticatedError``.
    Every call is recorded with the thread it ran on.
    """

    def __init__(
        self,
        outcomes: Mapping[str, Outcome] | None = None,
        *,
        kind: str = "test",
        prefix: str = "t_",
    ) -> None:
        self.kind = kind
        self.prefix = prefix
        self.outcomes: dict[str, Outcome] = dict(outcomes or {})
        self.calls: list[str] = []
        self.threads: list[int] = []
        self._lock = threading.Lock()

    def accepts(self, token: str) -> bool:
        return token.startswith(self.prefix)

    def verify(self, token: str) -> Principal:
        with self._lock:
            self.calls.append(token)
            self.threads.append(threading.get_ident())
        outcome = self.outcomes.get(token)
        if outcome is None:
            raise UnauthenticatedError("Unknown test token")
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, Principal):
            return outcome
        return outcome(token)  # type: ignore[no-any-return]


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def scripted() -> type[ScriptedVerifier]:
    """The ScriptedVerifier class (build one per test)."""
    return ScriptedVerifier


@pytest.fixture
def principal_for() -> Callable[..., Principal]:
    """Build a test principal: ``principal_for("alice", "payments.get")``."""

    def build(subject: str, *scopes: str, kind: str = "test", **extra: Any) -> Principal:
        return Principal(kind=kind, subject=subject, scopes=frozenset(scopes), **extra)

    return build
