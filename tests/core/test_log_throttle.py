"""An outage logs one line per reason per interval per verifier, not one per request."""

from __future__ import annotations

import logging

import pytest

from bearerguard import AuthError, Guard, Principal, ServiceUnavailableError


class Timer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Down:
    """Owns tokens with its prefix and cannot decide any of them."""

    def __init__(self, kind: str, error: Exception) -> None:
        self.kind = kind
        self.error = error

    def accepts(self, token: str) -> bool:
        return token.startswith(self.kind)

    def verify(self, token: str) -> Principal:
        raise self.error


def lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records if record.name == "bearerguard"]


def refuse(guard: Guard, token: str, times: int) -> None:
    for number in range(times):
        with pytest.raises(AuthError) as caught:
            guard.check("GET", "/x", f"Bearer {token}{number}")
        assert caught.value.status_code == 503


def test_a_repeated_503_is_logged_once_per_interval_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bearerguard")
    timer = Timer()
    guard = Guard([Down("keys", ServiceUnavailableError("The keys are down"))], timer=timer)

    refuse(guard, "keys", 500)
    assert lines(caplog) == ["verifier keys cannot decide: The keys are down"]

    timer.now += 9.9
    refuse(guard, "keys", 10)
    assert len(lines(caplog)) == 1
    timer.now += 0.1
    refuse(guard, "keys", 1)
    assert lines(caplog)[1:] == [
        "verifier keys cannot decide: The keys are down (509 more since the last such line)"
    ]


def test_each_verifier_and_each_reason_has_its_own_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bearerguard")
    guard = Guard(
        [Down("keys", ServiceUnavailableError("The keys are down")), Down("db", KeyError("x"))],
        timer=Timer(),
    )
    refuse(guard, "keys", 50)
    refuse(guard, "db", 50)
    assert lines(caplog) == [
        "verifier keys cannot decide: The keys are down",
        "verifier db raised KeyError: failing closed",
    ]
    assert [record.levelname for record in caplog.records] == ["WARNING", "ERROR"]


def test_a_verifier_added_later_is_throttled_on_the_guards_timer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="bearerguard")
    timer = Timer()
    guard = Guard([Down("db", KeyError("x"))], timer=timer)
    guard.add_verifier(Down("keys", ServiceUnavailableError("The keys are down")))
    refuse(guard, "keys", 5)
    timer.now += 10
    refuse(guard, "keys", 1)
    assert lines(caplog) == [
        "verifier keys cannot decide: The keys are down",
        "verifier keys cannot decide: The keys are down (4 more since the last such line)",
    ]
