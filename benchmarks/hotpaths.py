"""Where bearerguard's hot paths spend their time: ``python -m benchmarks.hotpaths``.

Three views. ``--profile`` runs cProfile over many requests of one path (ASGI cache
hit, WSGI cache hit, FastAPI ``require_scopes``, JWT cache miss) and prints the
functions by own time. The default view times each step of the ASGI and WSGI cache-hit
paths on its own (best of several repeats, in ns), so a proposal can be weighed before
it is made: the steps add up to roughly the middleware's cost. ``--in-app jwt|static``
times the same steps inside a real Starlette request, where they cost more (the
benchmark's own ``docs/benchmarks.md`` section "An ASGI cache hit, step by step").
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import io
import pstats
import random
import statistics
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


def _bearerguard_layer(app: Any) -> Any:
    """The BearerGuardMiddleware inside a Starlette app's middleware stack."""
    middleware = app.build_middleware_stack()
    while type(middleware).__name__ != "BearerGuardMiddleware":
        middleware = middleware.app
    return middleware


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
    middleware = _bearerguard_layer(app)
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


def in_app(
    token_kind: str, fixtures: Any = None, rounds: int = 40, batch: int = 2000
) -> list[tuple[str, float]]:
    """Each step of a cache hit inside a real Starlette request, in µs added to the app.

    A step timed alone in a loop runs with warm CPU caches; inside a request the
    app's own code has evicted it, and it costs more. Here each step runs in a stub
    pure-ASGI layer in front of the bare benchmark app (the layer also sets the three
    scope keys bearerguard sets), interleaved in shuffled rounds with the bare app and
    the real middleware; the figure is the median difference to the bare app.
    """
    fixtures = fixtures or fixtures_module.create()
    registry = load_all()
    token = fixtures.jwt_ok if token_kind == "jwt" else fixtures.static_ok
    authorization = f"Bearer {token}"
    scope = inprocess.asgi_scope(authorization)
    real = registry["starlette/bearerguard-jwt-hit"].build(fixtures)
    guard = _bearerguard_layer(real).guard
    principal = guard.check("GET", inprocess.PATH, authorization)
    if principal is None:
        raise RuntimeError("the token should verify")
    raw = authorization.encode()
    key = token_key(token)
    requirement = guard.requirement("GET", inprocess.PATH)

    def stub(step: Callable[[Any], Any]) -> Any:
        app = registry["starlette/bare"].build(fixtures)

        class Layer:
            def __init__(self, app: Any) -> None:
                self.app = app

            async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
                step(scope)
                scope["bearerguard.principal"] = principal
                scope["user"] = PrincipalUser(principal)
                scope["auth"] = PrincipalCredentials(principal)
                await self.app(scope, receive, send)

        app.add_middleware(Layer)
        return app

    apps = {
        "bare app": registry["starlette/bare"].build(fixtures),
        "layer + the three scope keys": stub(lambda scope: None),
        "+ find_raw_authorization": stub(lambda scope: find_raw_authorization(scope["headers"])),
        "+ SHA-256 of the token": stub(lambda scope: hashlib.sha256(raw[7:]).digest()),
        "+ VerificationCache.get (hit)": stub(lambda scope: guard._cache.get(key)),
        "+ RuleSet.match (memo)": stub(lambda scope: guard.requirement("GET", scope["path"])),
        "+ Requirement.authorize": stub(lambda scope: requirement.authorize(principal)),
        "+ the whole hit decision": stub(
            lambda scope: guard._check_cached_raw(
                "GET", scope["path"], find_raw_authorization(scope["headers"])
            )
        ),
        "BearerGuardMiddleware": real,
    }
    for app in apps.values():
        inprocess.direct_batch(app, scope, 200)
    samples: dict[str, list[float]] = {name: [] for name in apps}
    gc.disable()
    try:
        for _ in range(rounds):
            names = list(apps)
            random.shuffle(names)
            for name in names:
                samples[name].append(inprocess.direct_batch(apps[name], scope, batch) / batch)
    finally:
        gc.enable()
    bare = statistics.median(samples["bare app"])
    return [(name, (statistics.median(times) - bare) / 1000) for name, times in samples.items()]


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
    parser.add_argument(
        "--in-app",
        choices=("jwt", "static"),
        help="time each step inside a real Starlette request instead",
    )
    args = parser.parse_args(argv)
    if args.in_app:
        print(f"| step inside a Starlette request ({args.in_app} token) | µs added to the app |")
        print("|---|---|")
        for label, added in in_app(args.in_app):
            print(f"| {label} | {added:+.2f} |")
        return
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
