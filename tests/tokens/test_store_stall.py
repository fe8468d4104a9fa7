"""A stalled PostgreSQL: misses get 503 within the store's timeout, the rest keep working.

Issue 8, item 1 (F-01 under a stall). The test's own proxy sits in front of the real
server and, stalled, holds every connection open while forwarding nothing, so no
TCP-level or server-side timeout fires. The bounds asserted are correctness bounds
(the store's ``timeout`` plus a generous margin for a loaded machine), not speed.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bearerguard import ClientTokenVerifier, Guard, ServiceUnavailableError
from bearerguard.starlette import BearerGuardMiddleware
from bearerguard.stores import SQLTokenStore, StoreBusyError, StoreError, StoreTimeoutError
from bearerguard.tokens import TokenManager
from bearerguard.tokens import _format as token_format

TIMEOUT = 1.0
MARGIN = 2.5  # generous: a bound on correctness, on two shared cores
BOUND = TIMEOUT + MARGIN
HERE = Path(__file__).resolve().parent


def bearer(token: str) -> str:
    return f"Bearer {token}"


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    started = time.monotonic()
    try:
        outcome: Any = call()
    except Exception as exc:
        outcome = exc
    return outcome, time.monotonic() - started


def eventually(check: Callable[[], Any], seconds: float = 15.0) -> Any:
    """``check()`` once it stops raising (after a restore the stuck calls drain)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return check()
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


class Setup:
    """Tokens issued straight into a fresh schema, and a store that goes through the proxy."""

    def __init__(self, pg_url: str, schema: str, proxy: Any, **store_kwargs: Any) -> None:
        direct = SQLTokenStore(pg_url, schema=schema)
        issuer = TokenManager(direct)
        self.cached, self.fresh = (
            issuer.issue(client_id="A" * 32, label=label, scopes=["payments.get"]).token
            for label in ("cached", "fresh")
        )
        issuer.close()
        direct.close()
        store_kwargs.setdefault("timeout", TIMEOUT)
        self.store = SQLTokenStore(proxy.url(pg_url), schema=schema, **store_kwargs)
        self.manager = TokenManager(self.store)
        self.guard = Guard([ClientTokenVerifier(self.manager)], public_paths=["/health"])
        self.proxy = proxy

    def warm(self) -> None:
        """Cache one token, open the pool, and write its first use before any stall."""
        self.guard.authenticate(bearer(self.cached))
        self.manager.flush()

    def close(self) -> None:
        self.proxy.restore()
        self.manager.close()
        self.store.close()


@pytest.fixture
def setup(pg_url: str, pg_schema: str, stall_proxy: Any) -> Iterator[Callable[..., Setup]]:
    made: list[Setup] = []

    def make(**store_kwargs: Any) -> Setup:
        made.append(Setup(pg_url, pg_schema, stall_proxy, **store_kwargs))
        return made[-1]

    yield make
    for each in made:
        each.close()


def test_F01_a_miss_under_a_stall_is_503_within_the_timeout_and_logged_by_type(
    setup: Callable[..., Setup], caplog: pytest.LogCaptureFixture
) -> None:
    kit = setup()
    kit.warm()
    kit.proxy.stall()
    with caplog.at_level(logging.ERROR, logger="bearerguard"):
        error, elapsed = timed(lambda: kit.guard.authenticate(bearer(kit.fresh)))
    assert isinstance(error, ServiceUnavailableError)
    assert error.retry_after > 0
    assert elapsed < BOUND
    logged = " ".join(record.getMessage() for record in caplog.records)
    assert "StoreTimeoutError" in logged
    assert "did not answer" not in logged  # the type, never the message
    # A cached token does not need the store: still accepted during the stall.
    assert kit.guard.authenticate(bearer(kit.cached)).kind == "client"
    kit.proxy.restore()
    principal = eventually(lambda: kit.guard.authenticate(bearer(kit.fresh)))
    assert principal.kind == "client"


def test_F01_at_most_max_concurrency_calls_wait_and_the_rest_are_refused_at_once(
    setup: Callable[..., Setup],
) -> None:
    kit = setup(max_concurrency=2)
    kit.warm()
    threads_before = threading.active_count()
    kit.proxy.stall()
    digest = bytes(32)

    def wave(callers: int) -> list[tuple[Any, float]]:
        results: list[tuple[Any, float]] = []
        lock = threading.Lock()

        def call() -> None:
            result = timed(lambda: kit.store.find_by_hash(digest))
            with lock:
                results.append(result)

        workers = [threading.Thread(target=call) for _ in range(callers)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(BOUND + 5)
        return results

    first = wave(6)
    kinds = sorted(type(error).__name__ for error, _ in first)
    assert kinds == ["StoreBusyError"] * 4 + ["StoreTimeoutError"] * 2
    assert all(elapsed < BOUND for _, elapsed in first)
    # The two stuck calls still hold their threads: every later caller is refused at
    # once, and no thread is added however many callers come.
    second = wave(6)
    assert all(isinstance(error, StoreBusyError) for error, _ in second)
    assert all(elapsed < BOUND for _, elapsed in second)
    assert threading.active_count() <= threads_before
    kit.proxy.restore()
    assert eventually(lambda: kit.store.find_by_hash(digest)) is None


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"timeout": 0}, id="timeout-zero"),
        pytest.param({"timeout": -1}, id="timeout-negative"),
        pytest.param({"timeout": float("inf")}, id="timeout-infinite"),
        pytest.param({"timeout": float("nan")}, id="timeout-nan"),
        pytest.param({"timeout": "3"}, id="timeout-text"),
        pytest.param({"max_concurrency": 0}, id="concurrency-zero"),
        pytest.param({"max_concurrency": 1.5}, id="concurrency-fraction"),
        pytest.param({"max_concurrency": True}, id="concurrency-bool"),
    ],
)
def test_bad_bounds_are_refused_by_every_store(kwargs: dict[str, Any], tmp_path: Path) -> None:
    from bearerguard.stores import MemoryTokenStore, SQLiteTokenStore

    with pytest.raises(ValueError, match=r"timeout|max_concurrency"):
        MemoryTokenStore(**kwargs)
    with pytest.raises(ValueError, match=r"timeout|max_concurrency"):
        SQLiteTokenStore(tmp_path / "t.db", **kwargs)
    with pytest.raises(ValueError, match=r"timeout|max_concurrency"):
        SQLTokenStore("postgresql://u@127.0.0.1/db", **kwargs)


def test_the_bounds_are_documented_attributes(tmp_path: Path) -> None:
    from bearerguard.stores import MemoryTokenStore, SQLiteTokenStore

    for store in (
        MemoryTokenStore(),
        SQLiteTokenStore(tmp_path / "t.db"),
        SQLTokenStore("postgresql://u@127.0.0.1/db"),
    ):
        assert (store.timeout, store.max_concurrency) == (3.0, 4)
        store.close()
    assert issubclass(StoreTimeoutError, StoreError)
    assert issubclass(StoreBusyError, StoreError)


# -- under an ASGI app ----------------------------------------------------------------


def _ok(request: Any) -> PlainTextResponse:
    return PlainTextResponse("ok")


def test_F01_asgi_misses_get_503_while_health_and_cached_tokens_answer(
    setup: Callable[..., Setup],
) -> None:
    kit = setup()
    kit.warm()
    app = Starlette(
        routes=[Route("/health", _ok), Route("/x", _ok)],
        middleware=[Middleware(BearerGuardMiddleware, guard=kit.guard)],
    )
    with TestClient(app) as client:

        def get(path: str, token: str | None = None) -> Any:
            headers = {"Authorization": bearer(token)} if token else {}
            return client.get(path, headers=headers)

        kit.proxy.stall()
        misses: queue.Queue[tuple[Any, float]] = queue.Queue()
        callers = [
            threading.Thread(
                target=lambda: misses.put(timed(lambda: get("/x", token_format.generate_token())))
            )
            for _ in range(8)
        ]
        for caller in callers:
            caller.start()
        time.sleep(0.1)  # the misses are waiting on the store now
        assert get("/health").status_code == 200
        assert get("/x", kit.cached).status_code == 200
        for caller in callers:
            caller.join(BOUND + 5)
        answers = [misses.get_nowait() for _ in range(8)]
        assert [response.status_code for response, _ in answers] == [503] * 8
        assert all(response.headers["retry-after"] for response, _ in answers)
        assert all(elapsed < BOUND for _, elapsed in answers)
        kit.proxy.restore()

        def fresh_works() -> None:
            assert get("/x", kit.fresh).status_code == 200

        eventually(fresh_works)
        assert get("/x", token_format.generate_token()).status_code == 401


# -- under a threaded WSGI server: gunicorn, 8 threads --------------------------------


@contextlib.contextmanager
def gunicorn(env: dict[str, str]) -> Iterator[int]:
    argv = [sys.executable, "-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads", "8"]
    argv += ["-b", "127.0.0.1:0", "--chdir", str(HERE), "_stall_app:app"]
    process = subprocess.Popen(
        argv,
        env={**os.environ, **env},
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    stderr = process.stderr
    assert stderr is not None
    reader = threading.Thread(target=lambda: [lines.put(line) for line in stderr], daemon=True)
    reader.start()
    try:
        deadline, port, log = time.monotonic() + 30, None, []
        while port is None:
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("gunicorn did not start:\n" + "".join(log))
            with contextlib.suppress(queue.Empty):
                log.append(lines.get(timeout=0.5))
                found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log[-1])
                port = int(found.group(1)) if found else None
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
            process.kill()
            process.wait()
        reader.join(10)  # to the end of its output, then the pipe may close
        stderr.close()


def http_get(port: int, path: str, token: str | None = None) -> tuple[int, float, str | None]:
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Authorization": bearer(token)} if token else {})
        response = connection.getresponse()
        response.read()
        return response.status, time.monotonic() - started, response.getheader("retry-after")
    finally:
        connection.close()


@pytest.mark.server
def test_F01_wsgi_eight_stalled_misses_leave_threads_for_health_and_cached_tokens(
    setup: Callable[..., Setup], pg_url: str, pg_schema: str
) -> None:
    kit = setup()
    env = {"BG_URL": kit.proxy.url(pg_url), "BG_SCHEMA": pg_schema, "BG_TIMEOUT": str(TIMEOUT)}
    with gunicorn(env) as port:
        assert http_get(port, "/x", kit.cached)[0] == 200  # cached in the worker now
        kit.proxy.stall()
        misses: queue.Queue[tuple[int, float, str | None]] = queue.Queue()
        callers = [
            threading.Thread(
                target=lambda: misses.put(http_get(port, "/x", token_format.generate_token()))
            )
            for _ in range(8)
        ]
        for caller in callers:
            caller.start()
        time.sleep(0.1)  # all eight of the server's threads have a miss now
        health = http_get(port, "/health")
        cached = http_get(port, "/x", kit.cached)
        for caller in callers:
            caller.join(BOUND + 10)
        answers = [misses.get_nowait() for _ in range(8)]
        assert [status for status, _, _ in answers] == [503] * 8
        assert all(retry_after for _, _, retry_after in answers)
        assert all(elapsed < BOUND for _, elapsed, _ in answers)
        assert health[0] == 200
        assert health[1] < BOUND
        assert cached[0] == 200
        assert cached[1] < BOUND
        kit.proxy.restore()

        def fresh_works() -> None:
            assert http_get(port, "/x", kit.fresh)[0] == 200

        eventually(fresh_works)
        assert http_get(port, "/x", token_format.generate_token())[0] == 401
