"""Where a request's time goes, by function: ``python -m benchmarks.hotpaths``.

Runs cProfile over many requests of one or more variants of the registry (by default an
ASGI cache hit, a WSGI cache hit, FastAPI's ``require_scopes`` and a JWT cache miss),
each driven as figure 1 drives it, and prints the functions by their own time. Only the
app is called: what the profile shows inside it is whatever the library does today.

cProfile's own cost per call inflates small functions; for figures that repeat, count
instructions instead (``python -m benchmarks.run --instructions``), and for a profile by
instructions run one case of it under callgrind and read it with ``callgrind_annotate``::

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=qsort_r \\
        python -m benchmarks.instructions_driver FIXTURES CASE 500
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats

from . import fixtures as fixtures_module
from . import inprocess
from .variants import load_all

PROFILED = (
    "starlette/bearerguard-jwt-hit",
    "flask/bearerguard-jwt-hit",
    "fastapi/bearerguard-require-scopes",
    "starlette/bearerguard-jwt-miss",
)


def profile(name: str, requests: int, *, lines: int = 25) -> str:
    """The top of a cProfile run over ``requests`` requests of one variant."""
    fixtures = fixtures_module.create()
    variant = load_all()[name]
    app = variant.build(fixtures)
    problems = inprocess.check(variant, app, fixtures)
    if problems:
        raise RuntimeError(f"{name} answers wrongly: {'; '.join(problems)}")
    subject, _ = inprocess.prepare(variant, app, fixtures)
    subject.driver(subject.app, subject.request, 200)  # warm up: fill the caches
    profiler = cProfile.Profile()
    profiler.enable()
    subject.driver(subject.app, subject.request, requests)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(lines)
    return out.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hotpaths", description=__doc__)
    parser.add_argument("variants", nargs="*", metavar="VARIANT", help=f"default: {PROFILED}")
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--lines", type=int, default=25, help="functions shown per variant")
    args = parser.parse_args(argv)
    for name in args.variants or PROFILED:
        # A cache miss costs tens of hits: fewer requests give as many samples.
        requests = args.requests // 20 if "miss" in name else args.requests
        print(f"==== {name} ({requests} requests) ====")
        print(profile(name, requests, lines=args.lines))


if __name__ == "__main__":
    main()
