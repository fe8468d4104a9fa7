"""Defects found by the red-team run: each test failed before its fix."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bearerguard import (
    AuthError,
    Guard,
    InvalidRequestError,
    Principal,
    RequestContext,
    Rule,
    UnauthenticatedError,
)

PATH = "/api/payment/p1"
RULES = [Rule("GET", "/api/payment/{payment_id}", scopes=["payments.user-instructions.get"])]


class _PausingTable:
    """A store-like verifier that pauses after reading a row, as a slow database does."""

    kind = "table"

    def __init__(self) -> None:
        self.revoked = False
        self.read = threading.Event()
        self.resume = threading.Event()

    def accepts(self, token: str) -> bool:
        return True

    def verify(self, token: str) -> Principal:
        row_revoked = self.revoked  # the row, read before the revoke
        self.read.set()
        self.resume.wait(5)
        if row_revoked:
            raise UnauthenticatedError("The access token was revoked")
        return Principal(kind="client", subject="c", scopes=frozenset({"*"}))


def test_a_request_after_a_revoke_never_joins_the_flight_that_read_before_it() -> None:
    verifier = _PausingTable()
    guard = Guard([verifier], rules=RULES, cache_ttl=60)
    outcomes: dict[str, Any] = {}

    def ask(name: str) -> None:
        try:
            outcomes[name] = guard.check("GET", PATH, "Bearer tok")
        except UnauthenticatedError as error:
            outcomes[name] = error

    early = threading.Thread(target=ask, args=("early",))
    early.start()
    assert verifier.read.wait(5)
    # The revoke: the store changes, then the guard forgets the token (as TokenManager does).
    verifier.revoked = True
    guard.invalidate("tok")
    late = threading.Thread(target=ask, args=("late",))
    late.start()
    verifier.resume.set()
    early.join(5)
    late.join(5)
    assert isinstance(outcomes["early"], Principal)  # it started before the revoke
    assert isinstance(outcomes["late"], UnauthenticatedError)
    # Nor was the early flight's principal cached: the next request is refused too.
    with pytest.raises(UnauthenticatedError):
        guard.check("GET", PATH, "Bearer tok")


class _Granting:
    kind = "oauth"

    def __init__(self, scopes: set[str], *, literal: bool) -> None:
        self.principal = Principal(
            kind="oauth", subject="s", scopes=frozenset(scopes), literal_scopes=literal
        )

    def accepts(self, token: str) -> bool:
        return True

    def verify(self, token: str) -> Principal:
        return self.principal


@pytest.mark.parametrize("scope", ["*", "payments.*"])
def test_an_outside_wildcard_is_a_plain_string(scope: str) -> None:
    guard = Guard([_Granting({scope}, literal=True)], rules=RULES)
    with pytest.raises(AuthError) as caught:
        guard.check("GET", PATH, "Bearer tok")
    assert caught.value.status_code == 403
    assert not guard.verifiers[0].principal.has_scopes("payments.get")  # type: ignore[attr-defined]


@pytest.mark.parametrize("scope", ["*", "payments.*"])
def test_a_principal_built_directly_keeps_its_wildcards(scope: str) -> None:
    guard = Guard([_Granting({scope}, literal=False)], rules=RULES)
    assert guard.check("GET", PATH, "Bearer tok") is not None


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("access_token=abc", id="alone"),
        pytest.param("a=1&access_token=abc", id="after-another"),
    ],
)
def test_a_token_in_the_header_and_the_query_is_a_400(query: str) -> None:
    guard = Guard([_Granting({"payments.user-instructions.get"}, literal=True)], rules=RULES)
    request = RequestContext("GET", PATH, "Bearer tok", query)
    with pytest.raises(InvalidRequestError):
        guard.decide(request)
    # A query token alone is no credential: the request is unauthenticated (401).
    with pytest.raises(UnauthenticatedError):
        guard.decide(RequestContext("GET", PATH, None, query))
    # A parameter that only ends in access_token is not one.
    assert guard.decide(RequestContext("GET", PATH, "Bearer tok", "my_access_token=1"))


class _Quoting:
    kind = "quoting"

    def __init__(self, description: str) -> None:
        self.description = description

    def accepts(self, token: str) -> bool:
        return True

    def verify(self, token: str) -> Principal:
        raise UnauthenticatedError(self.description)


TOKEN = "abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.mark.parametrize(
    "description",
    [
        pytest.param(f"bad token {TOKEN[10:18]} seen", id="a-middle-run-of-8"),
        pytest.param(f"token {TOKEN[:8]}", id="prefix"),
        pytest.param(f"token {TOKEN[-8:]}", id="suffix"),
    ],
)
def test_a_description_sharing_eight_characters_with_the_token_is_not_answered(
    description: str,
) -> None:
    guard = Guard([_Quoting(description)])
    with pytest.raises(UnauthenticatedError) as caught:
        guard.authenticate(f"Bearer {TOKEN}")
    assert caught.value.description == "The access token is invalid"


def test_a_description_sharing_seven_characters_is_answered() -> None:
    guard = Guard([_Quoting(f"near {TOKEN[10:17]} miss")])
    with pytest.raises(UnauthenticatedError) as caught:
        guard.authenticate(f"Bearer {TOKEN}")
    assert caught.value.description == f"near {TOKEN[10:17]} miss"
