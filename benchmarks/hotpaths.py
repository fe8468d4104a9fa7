"""Where bearerguard's hot paths spend their time: ``python -m benchmarks.hotpaths``.

Two views. ``--profile`` runs cProfile over many requests of one path (ASGI cache hit,
WSGI cache hit, FastAPI ``require_scopes``, JWT cache miss) and prints the functions
by own time. The default view times each step of the ASGI and WSGI cache-hit paths on
its own (best of several repeats, in ns), so a proposal can be weighed before it is
made: the steps add up to roughly the middleware's cost.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time
from collections.abc import Callable
from typing import Any

from bearerguard._asgi import route_path
from bearerguard.cache import token_key
from bearerguard.headers import find_authorization, find_raw_authorization, parse_authorization
from bearerguard.starlette import PrincipalCredentials, PrincipalUser
from bearerguard.werkzeug import BearerGuardMiddleware as WSGIBearerGuardMiddleware

from . import fixtures as fixtures_module
from . import inprocess
from .variants import load_all


def best_ns(func: Callable[[], Any], number: int = 20_000, repeat: int = 7) -> float:
    """Best per-call time of ``func`` in nanoseconds (the least disturbed repeat)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(number):
            func()
        best = min(best, (time.perf_counter_ns() - start) / number)
    return best


def drive(coro: Any) -> Any:
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise RuntimeError("suspended")


def steps() -> list[tuple[str, float]]:
    """Each step of a cache hit, timed alone."""
    fixtures = fixtures_module.create()
    registry = load_all()
    app = registry["starlette/bearerguard-jwt-hit"].build(fixtures)
    middleware = app.build_middleware_stack()
    while type(middleware).__name__ != "BearerGuardMiddleware":
        middleware = middleware.app
    guard = middleware.guard
    authorization = f"Bearer {fixtures.jwt_ok}"
    scope = inprocess.asgi_scope(authorization)
    headers = scope["headers"]
    token = fixtures.jwt_ok
    key = token_key(token)
    guard.authenticate(authorization)  # fill the cache
    principal = guard._cache.get(key)
    requirement = guard.requirement("GET", scope["path"])
    if principal is None or isinstance(principal, str):
        raise RuntimeError("the token should be cached")
    path = scope["path"]

    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        return None

    bare = type(middleware)(endpoint, guard)

    def wsgi_endpoint(environ: Any, start_response: Any) -> list[bytes]:
        return []

    wsgi = WSGIBearerGuardMiddleware(wsgi_endpoint, guard)
    environ = inprocess.wsgi_environ(authorization)

    results = [
        ("scope.copy() (the harness, in every row)", best_ns(scope.copy)),
        ("find_authorization(headers)", best_ns(lambda: find_authorization(headers))),
        ("find_raw_authorization(headers) (the ASGI hit path)",
         best_ns(lambda: find_raw_authorization(headers))),
        ("route_path(scope)", best_ns(lambda: route_path(scope))),
        ("RuleSet.match (guard.requirement), a path asked before",
         best_ns(lambda: guard.requirement("GET", path))),
        ("RuleSet._match, a path not seen before (the rules' regex)",
         best_ns(lambda: guard._table._match("GET", path))),
        ("parse_authorization(value)", best_ns(lambda: parse_authorization(authorization))),
        (f"token_key(token) ({len(token)} chars)", best_ns(lambda: token_key(token))),
        ("VerificationCache.get(key) (hit)", best_ns(lambda: guard._cache.get(key))),
        ("guard.authorize(principal, requirement)",
         best_ns(lambda: guard.authorize(principal, requirement))),
        ("PrincipalUser(p) + PrincipalCredentials(p)",
         best_ns(lambda: (PrincipalUser(principal), PrincipalCredentials(principal)))),
        ("guard.check(...) (sync, whole decision)",
         best_ns(lambda: guard.check("GET", scope["path"], authorization))),
        ("guard.acheck(...) driven without a loop",
         best_ns(lambda: drive(guard.acheck("GET", scope["path"], authorization)))),
        ("BearerGuardMiddleware around a no-op app",
         best_ns(lambda: drive(bare(scope.copy(), inprocess._receive, inprocess._send)))),
        ("a no-op coroutine driven (the floor of any layer)",
         best_ns(lambda: drive(endpoint(scope, None, None)))),
        ("WSGI BearerGuardMiddleware around a no-op app",
         best_ns(lambda: wsgi(environ.copy(), inprocess._start_response))),
        ("a no-op WSGI app (the floor of any WSGI layer)",
         best_ns(lambda: wsgi_endpoint(environ.copy(), inprocess._start_response))),
    ]  # fmt: skip
    return results


def profile(name: str, requests: int) -> str:
    fixtures = fixtures_module.create()
    variant = load_all()[name]
    app = variant.build(fixtures)
    subject, _ = inprocess.prepare(variant, app, fixtures)
    subject.driver(subject.app, subject.request, 200)
    profiler = cProfile.Profile()
    profiler.enable()
    subject.driver(subject.app, subject.request, requests)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(25)
    return out.getvalue()


PROFILED = (
    "starlette/bearerguard-jwt-hit",
    "flask/bearerguard-jwt-hit",
    "fastapi/bearerguard-require-scopes",
    "starlette/bearerguard-jwt-miss",
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hotpaths", description=__doc__)
    parser.add_argument("--profile", nargs="*", metavar="VARIANT", help=f"default: {PROFILED}")
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args(argv)
    if args.profile is not None:
        for name in args.profile or PROFILED:
            print(f"==== {name} ====")
            print(profile(name, args.requests if "miss" not in name else args.requests // 20))
        return
    print("| step of a cache hit (640-character JWT) | ns (best of 7) |\n|---|---|")
    for label, ns in steps():
        print(f"| {label} | {ns:,.0f} |")


if __name__ == "__main__":
    main()
