"""Drive one case of the instructions figure in-process, marking what callgrind counts.

A case is driven with raw protocol calls: an ASGI app by ``scope``/``receive``/``send``
inside one coroutine looping over the requests (one ``run_until_complete`` for the
whole loop, one event loop for the process, as a server has), a WSGI app by
``environ`` and ``start_response``, its body iterated and closed as a server would.

After the build, a check and a warm-up, the driver runs N requests and then 2N, each
batch inside a call of libc's ``qsort_r`` (through ``ctypes``, with the batch as the
comparison callback): callgrind is told to count only inside ``qsort_r`` and to dump
its counters when it returns, so each batch gets a count of its own, and the second
minus the first is N requests exactly (what the ``ctypes`` call costs cancels out).

``python -m benchmarks.instructions_driver FIXTURES CASE N`` (run by
:mod:`benchmarks.instructions` under valgrind; also runs without it), where FIXTURES is
the file :meth:`benchmarks.fixtures.Fixtures.dump` wrote.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import gc
import io
import sys
from collections.abc import Callable, Iterator
from typing import Any

from benchmarks import fixtures as fixtures_module
from benchmarks import inprocess
from benchmarks.fixtures import PATH
from benchmarks.instructions_cases import CASES, Case, build

PREFIX = PATH.rsplit("/", 1)[0] + "/"
WARMUP = 200
MARKER = "qsort_r"
"""The C function callgrind counts inside (``--toggle-collect``, ``--dump-after``)."""
SKIPPED = 3
"""The driver's exit status when the case's variant could not load (a peer not installed)."""


def paths(case: Case, start: int, count: int) -> Iterator[str]:
    """The request paths: the same path every time, or a fresh id of the same length."""
    if not case.fresh_ids:
        for _ in range(count):
            yield PATH
    else:
        for i in range(start, start + count):
            yield f"{PREFIX}pay_{i:08d}"


def asgi_scope(path: str, header: str | None) -> dict[str, Any]:
    """An HTTP scope as uvicorn builds it for a GET from curl."""
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"curl/8.5.0"), (b"accept", b"*/*")]
    if header is not None:
        headers.append((b"authorization", header.encode("latin-1")))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50123),
        "scheme": "http",
        "method": "GET",
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": headers,
    }


def wsgi_environ(path: str, header: str | None) -> dict[str, Any]:
    """A WSGI environ as gunicorn builds it for the same request."""
    environ = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50123",
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
    if header is not None:
        environ["HTTP_AUTHORIZATION"] = header
    return environ


def drive_asgi(
    loop: asyncio.AbstractEventLoop,
    app: Any,
    case: Case,
    header: str | None,
    start: int,
    count: int,
) -> list[int]:
    """Send ``count`` requests through ``app`` in one coroutine; the statuses seen."""
    statuses: list[int] = []
    request = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def requests() -> None:
        for path in paths(case, start, count):
            await app(asgi_scope(path, header), receive, send)

    loop.run_until_complete(requests())
    return statuses


def drive_wsgi(app: Any, case: Case, header: str | None, start: int, count: int) -> list[int]:
    """Send ``count`` requests through ``app``, iterating and closing each body."""
    statuses: list[int] = []

    def start_response(status: str, headers: list[Any], exc_info: Any = None) -> Any:
        statuses.append(int(status[:3]))
        return None

    for path in paths(case, start, count):
        body = app(wsgi_environ(path, header), start_response)
        for _chunk in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
    return statuses


def marked(batch: Callable[[], list[int]]) -> list[int]:
    """Run ``batch`` inside ``qsort_r``: sort two ints with ``batch`` as the comparison."""
    libc = ctypes.CDLL(None)
    errors: list[BaseException] = []
    results: list[list[int]] = []

    def compare(_a: Any, _b: Any) -> int:
        if not results and not errors:  # two elements need one comparison; once whatever
            try:
                results.append(batch())
            except BaseException as exc:  # ctypes would print and swallow it
                errors.append(exc)
        return 0

    callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)(compare)
    pair = (ctypes.c_int * 2)(0, 1)
    # The cyclic GC is paused during a batch, as figure 1 (and timeit) pause it: where
    # a collection falls depends on everything allocated since start-up, and one full
    # collection would add more to a batch than the layer being measured.
    gc.collect()
    gc.disable()
    try:
        libc.qsort(pair, 2, ctypes.sizeof(ctypes.c_int), callback)
    finally:
        gc.enable()
    if errors:
        raise errors[0]
    if not results:
        raise RuntimeError("qsort never called the comparison")
    return results[0]


def run(fixtures: fixtures_module.Fixtures, name: str, requests: int) -> None:
    """Build a case, check its answers, warm it up, then drive the two marked batches."""
    case = CASES[name]
    try:
        built = build(case, fixtures)
    except (KeyError, ImportError) as exc:  # a peer not installed
        sys.stderr.write(f"{type(exc).__name__}: {exc}\n")
        raise SystemExit(SKIPPED) from None
    app, header = built.app, built.authorization
    if built.variant is not None:  # 200 / 401 / 401 / 403, as figure 1 checks
        problems = inprocess.check(built.variant, app, fixtures)
        inprocess.event_loop().close()  # the checks' loop; the batches get their own
    else:  # built here: bearerguard must really stand in front
        refused = _drive_once(built, None)
        problems = [] if refused == [401] else [f"no token: {refused}, wanted [401]"]
    if problems:
        raise SystemExit(f"{name} answers wrongly: {'; '.join(problems)}")
    # One event loop for every request of the process, as a server has.
    loop = asyncio.new_event_loop()
    drive: Callable[..., list[int]] = (
        functools.partial(drive_asgi, loop) if built.interface == "asgi" else drive_wsgi
    )
    seen: list[int] = []
    try:
        seen += drive(app, case, header, 0, WARMUP)
        start = WARMUP
        for count in (requests, 2 * requests):
            seen += marked(functools.partial(drive, app, case, header, start, count))
            start += count
    finally:
        loop.close()
    if set(seen) != {200}:
        raise SystemExit(f"{name}: expected 200 for every request, got {sorted(set(seen))}")


def _drive_once(built: Any, header: str | None) -> list[int]:
    loop = asyncio.new_event_loop()
    try:
        if built.interface == "asgi":
            return drive_asgi(loop, built.app, built.case, header, 10**7, 1)
        return drive_wsgi(built.app, built.case, header, 10**7, 1)
    finally:
        loop.close()


def main(argv: list[str]) -> None:
    state_file, name, requests = argv
    run(fixtures_module.load(state_file), name, int(requests))


if __name__ == "__main__":
    main(sys.argv[1:])
