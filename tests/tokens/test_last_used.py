"""last_used_at: recorded off the request path, first use within seconds, then rate-limited."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from bearerguard.stores import StoreError
from bearerguard.tokens._usage import UsageRecorder


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def wait_for(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.02)


def test_first_use_is_written_within_seconds_from_another_thread(kit: Any) -> None:
    issued = kit.issue()
    kit.guard.authenticate(f"Bearer {issued.token}")
    assert kit.store.count("touch") == 0  # nothing written on the request path
    wait_for(lambda: kit.manager.get(issued.record.id).last_used_at is not None)
    assert kit.manager.get(issued.record.id).last_used_at == kit.time.at()
    assert kit.store.threads("touch").isdisjoint({threading.get_ident()})


def test_cache_hits_count_as_uses(kit: Any) -> None:
    issued = kit.issue()
    kit.guard.authenticate(f"Bearer {issued.token}")
    kit.manager.flush()
    kit.time.advance(30)
    kit.guard.authenticate(f"Bearer {issued.token}")  # a cache hit
    assert kit.store.count("find_by_hash") == 1
    kit.manager.flush()
    assert kit.manager.get(issued.record.id).last_used_at == kit.time.at()


def test_at_most_one_write_per_token_per_interval() -> None:
    timer = Ticker()
    writes: list[dict[str, float]] = []
    recorder = UsageRecorder(writes.append, interval=60.0, timer=timer)
    recorder.record("tok_a", 1.0)
    recorder.flush_due()
    assert writes == [{"tok_a": 1.0}]
    for second in range(1, 60):
        timer.now += 1
        recorder.record("tok_a", 1.0 + second)
        recorder.record("tok_b", 100.0 + second)
        recorder.flush_due()
    # tok_b's first use went out at once; tok_a waited out its interval.
    assert writes[1] == {"tok_b": 101.0}
    assert all("tok_a" not in batch for batch in writes[1:])
    assert len(writes) == 2
    timer.now += 1
    recorder.flush_due()
    assert writes[2] == {"tok_a": 60.0}  # 60 s after its first write
    timer.now += 1
    recorder.flush_due()
    assert writes[3] == {"tok_b": 159.0}  # 60 s after its own
    recorder.flush_due()
    assert len(writes) == 4
    recorder.close()


def test_a_failing_write_never_fails_a_request_and_is_retried_an_interval_later(
    make_kit: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    kit = make_kit()
    issued = kit.issue()
    kit.store.failing = None
    original_touch = kit.store.inner.touch
    attempts: list[int] = []

    def broken(uses: Any) -> None:
        attempts.append(1)
        raise StoreError("database is down")

    kit.store.inner.touch = broken
    kit.guard.authenticate(f"Bearer {issued.token}")
    kit.manager.flush()  # swallowed, logged
    assert attempts == [1]
    assert "could not record the last use" in caplog.text
    assert issued.token not in caplog.text
    kit.store.inner.touch = original_touch
    kit.manager.flush()  # the use was kept for the next attempt
    assert kit.manager.get(issued.record.id).last_used_at == kit.time.at()


def test_a_failing_writer_is_asked_at_most_once_per_interval() -> None:
    timer = Ticker()
    attempts: list[dict[str, float]] = []

    def failing(batch: dict[str, float]) -> None:
        attempts.append(batch)
        raise OSError("disk full")

    recorder = UsageRecorder(failing, interval=10.0, timer=timer)
    recorder.record("tok_a", 1.0)
    for _ in range(9):
        recorder.flush_due()
        timer.now += 1
    assert len(attempts) == 1
    timer.now += 1
    recorder.flush_due()
    assert len(attempts) == 2
    recorder._write = lambda batch: None
    recorder.close()


def test_recording_is_cheap_and_starts_one_daemon_thread() -> None:
    writes: list[dict[str, float]] = []
    recorder = UsageRecorder(writes.append, interval=0.05)
    before = {thread.ident for thread in threading.enumerate()}
    for n in range(1000):
        recorder.record(f"tok_{n % 7}", float(n))
    started = [t for t in threading.enumerate() if t.ident not in before]
    assert [t.name for t in started] == ["bearerguard-last-used"]
    assert started[0].daemon
    wait_for(lambda: sum(len(batch) for batch in writes) >= 7)
    recorder.close()
    assert not started[0].is_alive()
    merged: dict[str, float] = {}
    for batch in writes:
        merged.update(batch)
    assert merged == {f"tok_{n % 7}": float(n) for n in range(1000)}  # the latest use of each


def test_an_unused_recorder_is_collected_and_its_thread_ends() -> None:
    import gc
    import weakref

    writes: list[dict[str, float]] = []
    recorder = UsageRecorder(writes.append, interval=0.02)
    before = set(threading.enumerate())
    recorder.record("tok_a", 1.0)
    (thread,) = set(threading.enumerate()) - before
    ref = weakref.ref(recorder)
    del recorder
    gc.collect()
    assert ref() is None
    thread.join(2)
    assert not thread.is_alive()


def test_log_lines_name_no_token(kit: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    issued = kit.issue()
    kit.guard.authenticate(f"Bearer {issued.token}")
    kit.manager.flush()
    assert issued.token not in caplog.text
