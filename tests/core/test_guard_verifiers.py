"""Guard.add_verifier and Guard.remove_verifier: the verifiers asked can change at run time."""

from __future__ import annotations

from typing import Any

import pytest

from bearerguard import Guard, Principal, StaticTokenVerifier, UnauthenticatedError

NOT_RECOGNISED = "The access token is not recognised"


class Recording:
    """Accepts one token; remembers the guards it was bound to."""

    def __init__(self, token: str, kind: str) -> None:
        self.token = token
        self.kind = kind
        self.guards: list[Guard] = []

    def accepts(self, token: str) -> bool:
        return token == self.token

    def verify(self, token: str) -> Principal:
        return Principal(kind=self.kind, subject=self.kind)

    def bind_guard(self, guard: Guard) -> None:
        self.guards.append(guard)


def refusal(guard: Guard, token: str) -> str:
    with pytest.raises(UnauthenticatedError) as caught:
        guard.authenticate(f"Bearer {token}")
    return caught.value.description


def test_an_added_verifier_is_asked_from_the_next_request_on() -> None:
    static = StaticTokenVerifier({"static-token": ["a"]})
    guard = Guard([static])
    assert refusal(guard, "extra-token") == NOT_RECOGNISED
    extra = Recording("extra-token", "extra")
    guard.add_verifier(extra)
    assert guard.verifiers == (static, extra)
    assert extra.guards == [guard]
    assert guard.authenticate("Bearer extra-token").kind == "extra"
    assert guard.authenticate("Bearer static-token").kind == "client"


def test_first_puts_it_before_the_others() -> None:
    later = Recording("shared-token", "later")
    guard = Guard([later])
    first = Recording("shared-token", "first")
    guard.add_verifier(first, first=True)
    assert guard.verifiers == (first, later)
    assert guard.authenticate("Bearer shared-token").kind == "first"


def test_a_removed_verifier_is_not_asked_and_its_cache_is_the_callers() -> None:
    static = StaticTokenVerifier({"static-token": ["a"]})
    extra = Recording("extra-token", "extra")
    guard = Guard([static, extra])
    assert guard.authenticate("Bearer extra-token").kind == "extra"
    guard.remove_verifier(extra)
    assert guard.verifiers == (static,)
    # What it verified stays cached, as documented, until the caller drops it.
    assert guard.authenticate("Bearer extra-token").kind == "extra"
    guard.invalidate("extra-token")
    assert refusal(guard, "extra-token") == NOT_RECOGNISED


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda g, v: g.remove_verifier(Recording("x", "x")), "is not a verifier of this guard"),
        (lambda g, v: g.remove_verifier(v), "at least one verifier"),
        (lambda g, v: g.add_verifier(object()), "is not a verifier"),
    ],
    ids=["unknown", "last", "not-a-verifier"],
)
def test_bad_changes_are_refused_and_change_nothing(change: Any, message: str) -> None:
    only = StaticTokenVerifier({"static-token": ["a"]})
    guard = Guard([only])
    with pytest.raises((ValueError, TypeError), match=message):
        change(guard, only)
    assert guard.verifiers == (only,)
    assert guard.authenticate("Bearer static-token").kind == "client"
