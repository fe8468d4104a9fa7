"""Figure 1: in-process cost per request, no server and no socket.

An ASGI app is called with a prebuilt scope and no-op ``receive``/``send``; its
coroutine is driven with ``coro.send(None)`` until ``StopIteration``, with no event
loop at all, when the request never suspends (a cache hit must not). A variant whose
request does suspend (or needs a running loop, as a cache miss under ``anyio`` does)
is driven by an asyncio loop instead, a batch of requests per ``run_until_complete``,
and is compared with its bare app driven the same way. A WSGI app is called with a
prebuilt environ and a no-op ``start_response``, and its body iterated and closed as a
server would.

Variants are interleaved in shuffled rounds. Each round times one batch per variant
(sized to take about the same wall time), with the cyclic GC paused during the batch
as ``timeit`` does; a variant's overhead in a round is its per-request time minus its
bare app's in that same round, so slow drifts of the machine cancel out.
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .fixtures import PATH, Fixtures
from .registry import Variant

PAYMENT_ID = PATH.rsplit("/", 1)[-1]


# -- requests --------------------------------------------------------------------------


def asgi_scope(authorization: str | None) -> dict[str, Any]:
    """An HTTP scope as uvicorn builds it for ``GET /api/payment/…`` from curl."""
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"user-agent", b"curl/8.5.0"),
        (b"accept", b"*/*"),
    ]
    if authorization is not None:
        headers.append((b"authorization", authorization.encode("latin-1")))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50123),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "headers": headers,
        "state": {},
    }


def wsgi_environ(authorization: str | None) -> dict[str, Any]:
    """A PEP 3333 environ for the same request."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": PATH,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "curl/8.5.0",
        "HTTP_ACCEPT": "*/*",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    return environ


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: dict[str, Any]) -> None:
    return None


def _start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
    return None


class Suspended(Exception):
    """The request suspended (or needed a running event loop)."""


# -- drivers ---------------------------------------------------------------------------

_LOOP: asyncio.AbstractEventLoop | None = None


def event_loop() -> asyncio.AbstractEventLoop:
    """One asyncio loop for every loop-driven batch and every check."""
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
    return _LOOP


def direct_batch(app: Any, scope: dict[str, Any], n: int) -> int:
    """Run ``n`` requests without an event loop; nanoseconds taken."""
    receive, send, copy = _receive, _send, scope.copy
    start = time.perf_counter_ns()
    for _ in range(n):
        coro = app(copy(), receive, send)
        try:
            coro.send(None)
        except StopIteration:
            continue
        except Exception as exc:  # e.g. anyio asking for the running loop
            raise Suspended(f"raised {type(exc).__name__}") from exc
        coro.close()
        raise Suspended("suspended")
    return time.perf_counter_ns() - start


def loop_batch(app: Any, scope: dict[str, Any], n: int) -> int:
    """Run ``n`` requests inside one asyncio task; nanoseconds taken."""
    receive, send, copy = _receive, _send, scope.copy

    async def batch() -> int:
        start = time.perf_counter_ns()
        for _ in range(n):
            await app(copy(), receive, send)
        return time.perf_counter_ns() - start

    return event_loop().run_until_complete(batch())


def wsgi_batch(app: Any, environ: dict[str, Any], n: int) -> int:
    """Run ``n`` WSGI requests, iterating and closing each body as a server does."""
    copy, start_response = environ.copy, _start_response
    start = time.perf_counter_ns()
    for _ in range(n):
        result = app(copy(), start_response)
        for _chunk in result:
            pass
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return time.perf_counter_ns() - start


def func_batch(func: Callable[[], Any], _unused: Any, n: int) -> int:
    """Call a plain function ``n`` times."""
    start = time.perf_counter_ns()
    for _ in range(n):
        func()
    return time.perf_counter_ns() - start


# -- checks ----------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    body: bytes
    suspended: bool = False


def call_asgi(app: Any, authorization: str | None) -> Answer:
    """One request through a real event loop, recording what the app sent."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    event_loop().run_until_complete(app(asgi_scope(authorization), _receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(status, body)


def call_asgi_direct(app: Any, authorization: str | None) -> Answer | None:
    """The same request driven without a loop; None when it suspends or needs one."""
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    coro = app(asgi_scope(authorization), _receive, send)
    try:
        coro.send(None)
    except StopIteration:
        pass
    except Exception:
        return None  # e.g. anyio asking for the running loop
    else:
        coro.close()
        return None
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(status, body)


def call_wsgi(app: Any, authorization: str | None) -> Answer:
    statuses: list[str] = []

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
        statuses.append(status)

    result = app(wsgi_environ(authorization), start_response)
    body = b"".join(result)
    close = getattr(result, "close", None)
    if close is not None:
        close()
    return Answer(int(statuses[-1].split()[0]), body)


def cases(variant: Variant, fixtures: Fixtures) -> list[tuple[str, str | None, int]]:
    """``(case, Authorization value, expected status)`` for a variant."""
    good, lacking = variant.good_and_lacking(fixtures)
    if variant.role == "floor":
        return [("valid", f"Bearer {good}", 200)]
    return [
        ("valid", f"Bearer {good}", 200),
        ("none", None, 401),
        ("bad", f"Bearer {fixtures.bad}", 401),
        ("lacking scope", f"Bearer {lacking}", 403),
    ]


def check(variant: Variant, app: Any, fixtures: Fixtures) -> list[str]:
    """What the variant gets wrong (empty: it answers 200/401/401/403 correctly)."""
    problems: list[str] = []
    if variant.interface == "func":
        if not app():
            problems.append("the reference returned nothing")
        return problems
    for case, authorization, expected in cases(variant, fixtures):
        try:
            if variant.interface == "asgi":
                answer = call_asgi(app, authorization)
            else:
                answer = call_wsgi(app, authorization)
        except Exception as exc:  # a broken variant is reported, not fatal
            problems.append(f"{case}: raised {type(exc).__name__}")
            continue
        if answer.status != expected:
            problems.append(f"{case}: {answer.status}, wanted {expected}")
        elif expected == 200 and json.loads(answer.body) != {"id": PAYMENT_ID}:
            problems.append(f"{case}: unexpected body")
    return problems


# -- rounds ----------------------------------------------------------------------------


@dataclass
class Subject:
    """A variant ready to time: its app, request and driver."""

    key: str
    variant: Variant
    app: Any
    request: Any
    driver: Callable[[Any, Any, int], int]
    floor_key: str = ""
    n: int = 0
    samples: list[float] = field(default_factory=list)
    failure: str = ""

    @property
    def looped(self) -> bool:
        return self.driver is loop_batch


def prepare(variant: Variant, app: Any, fixtures: Fixtures) -> tuple[Subject, bool]:
    """A subject for the valid request; also whether it needs an event loop."""
    if variant.interface == "func":
        return Subject(variant.name, variant, app, None, func_batch), False
    good, _ = variant.good_and_lacking(fixtures)
    authorization = f"Bearer {good}"
    if variant.interface == "wsgi":
        return Subject(variant.name, variant, app, wsgi_environ(authorization), wsgi_batch), False
    scope = asgi_scope(authorization)
    # Warm (a cache hit is what is timed for the cached variants), then probe.
    call_asgi(app, authorization)
    direct = call_asgi_direct(app, authorization)
    if direct is not None and direct.status == 200:
        return Subject(variant.name, variant, app, scope, direct_batch), False
    return Subject(variant.name + "@loop", variant, app, scope, loop_batch), True


def calibrate(subject: Subject, batch_seconds: float) -> None:
    """Size the batch so that it takes about ``batch_seconds``."""
    subject.driver(subject.app, subject.request, 20)
    n = 50
    while True:
        elapsed = subject.driver(subject.app, subject.request, n) / 1e9
        if elapsed > 0.01 or n >= 100_000:
            break
        n *= 4
    per_call = elapsed / n
    subject.n = max(20, int(batch_seconds / per_call))


def run_rounds(subjects: list[Subject], rounds: int, *, seed: int = 0) -> None:
    """Time every subject once per round, in a fresh shuffled order each round."""
    rng = random.Random(seed)
    order = list(subjects)
    for index in range(rounds):
        rng.shuffle(order)
        gc.collect()
        for subject in order:
            if subject.failure:
                continue
            gc.disable()
            try:
                elapsed = subject.driver(subject.app, subject.request, subject.n)
            except Exception as exc:  # reported as wrong, the other subjects go on
                subject.failure = f"round {index + 1}: {exc or type(exc).__name__}"
                continue
            finally:
                gc.enable()
            subject.samples.append(elapsed / subject.n / 1000.0)  # µs per request


# -- statistics ------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """Summary of one subject: per-request time and overhead against its floor."""

    median_us: float
    overhead_us: float | None
    spread: tuple[float, float] | None  # IQR of the per-round overheads (or times)
    decode_ratio: float | None = None


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 4:
        return min(values), max(values)
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def summarise(subject: Subject, floor: Subject | None, decode: Subject | None) -> Figure:
    median = statistics.median(subject.samples)
    if floor is None or floor is subject:
        return Figure(median, None, quartiles(subject.samples))
    diffs = [a - b for a, b in zip(subject.samples, floor.samples, strict=True)]
    ratio = None
    if decode is not None:
        ratios = [d / r for d, r in zip(diffs, decode.samples, strict=True)]
        ratio = statistics.median(ratios)
    return Figure(median, statistics.median(diffs), quartiles(diffs), ratio)
