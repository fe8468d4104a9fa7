"""``Guard.close()`` / ``aclose()`` and the context managers release every verifier."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from bearerguard import Guard, JWTVerifier, Principal, StaticTokenVerifier


class Recording:
    """A verifier that records how it was closed, optionally failing."""

    def __init__(self, kind: str, log: list[tuple[str, str, int]], fail: bool = False) -> None:
        self.kind = kind
        self.log = log
        self.fail = fail

    def accepts(self, token: str) -> bool:
        return token.startswith(self.kind)

    def verify(self, token: str) -> Principal:
        return Principal(kind=self.kind, subject="s")

    def close(self) -> None:
        self.log.append((self.kind, "close", threading.get_ident()))
        if self.fail:
            raise RuntimeError(f"{self.kind} cannot close")


class AsyncRecording(Recording):
    async def aclose(self) -> None:
        self.log.append((self.kind, "aclose", threading.get_ident()))


def test_close_calls_every_verifier_that_has_close() -> None:
    log: list[tuple[str, str, int]] = []
    guard = Guard([Recording("a", log), StaticTokenVerifier({"t0ken": []}), Recording("b", log)])
    guard.close()
    assert [(kind, how) for kind, how, _ in log] == [("a", "close"), ("b", "close")]
    guard.close()  # closing twice is harmless
    assert len(log) == 4


def test_a_failing_close_does_not_stop_the_others_and_is_raised_last(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[tuple[str, str, int]] = []
    guard = Guard([Recording("a", log, fail=True), Recording("b", log, fail=True)])
    with pytest.raises(RuntimeError, match="a cannot close"):
        guard.close()
    assert [kind for kind, _, _ in log] == ["a", "b"]
    assert "closing verifier a failed: RuntimeError" in caplog.text


def test_the_with_statement_closes_on_exit_even_after_an_error() -> None:
    log: list[tuple[str, str, int]] = []

    def serve() -> None:
        with Guard([Recording("a", log)]) as guard:
            assert guard.check("GET", "/x", "Bearer a1") is not None
            raise KeyError("the app failed")

    with pytest.raises(KeyError):
        serve()
    assert [how for _, how, _ in log] == ["close"]


def test_the_guard_keeps_answering_after_close() -> None:
    log: list[tuple[str, str, int]] = []
    guard = Guard([Recording("a", log)])
    guard.close()
    assert guard.check("GET", "/x", "Bearer a1") is not None


@pytest.mark.anyio
async def test_aclose_awaits_aclose_and_runs_close_off_the_event_loop() -> None:
    log: list[tuple[str, str, int]] = []
    loop_thread = threading.get_ident()
    async with Guard([AsyncRecording("a", log), Recording("b", log)]) as guard:
        assert await guard.acheck("GET", "/x", "Bearer b1") is not None
    assert [(kind, how) for kind, how, _ in log] == [("a", "aclose"), ("b", "close")]
    threads = {kind: thread for kind, _, thread in log}
    assert threads["a"] == loop_thread
    assert threads["b"] != loop_thread  # a blocking close never runs on the loop


@pytest.mark.anyio
async def test_aclose_raises_the_first_failure_after_closing_all() -> None:
    log: list[tuple[str, str, int]] = []
    guard = Guard([Recording("a", log, fail=True), AsyncRecording("b", log)])
    with pytest.raises(RuntimeError, match="a cannot close"):
        await guard.aclose()
    assert [kind for kind, _, _ in log] == ["a", "b"]


def test_close_reaches_the_real_verifiers() -> None:
    closed: list[str] = []

    class Watched(JWTVerifier):
        def close(self) -> None:
            closed.append(self.kind)
            super().close()

    verifier: Any = Watched(issuer="https://id.example.com/", audience="payments-api")
    with Guard([verifier]):
        pass
    assert closed == ["oauth"]
