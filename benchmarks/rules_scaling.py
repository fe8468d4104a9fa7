"""What a rule match costs as the rules grow: ``python -m benchmarks.rules_scaling``.

Each row builds a guard with 1, 10, 100 or 1000 rules that all carry a path parameter,
asks for the rule that comes last (first match wins, so it is the worst case) and puts a
fresh id in every path, as real traffic does. Two shapes of rule set:

- ``spread``: ``/api/r{i}/{id}``, rules that part at their second segment;
- ``shared``: ``/api/payment/{payment_id}/x{i}``, rules that share their leading
  segments and part only after the parameter (a prefix index alone cannot help).

The default mode times every row side by side, round after round, and prints the cost of
one match and its ratio to the one-rule row. ``--count N`` only builds the row named by
``--rules`` and ``--shape`` and performs N matches, for counting instructions under
``valgrind --tool=callgrind`` (run N and 2N, subtract); ``--instructions`` does that for
every row itself. Only the public API is used (``Guard.requirement``), so the same script
measures any version of the matcher.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python benchmarks/rules_scaling.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from bearerguard import Guard, Requirement, Rule, StaticTokenVerifier

COUNTS = (1, 10, 100, 1000)
SHAPES = ("spread", "shared")
# More distinct paths than any memo of recent answers would hold, so none repeats soon.
POOL = 4096
_COLLECTED = re.compile(rb"Collected\s*:\s*(\d+)")


def build(shape: str, count: int) -> tuple[Callable[[str, str], Requirement], list[str]]:
    """A guard's ``requirement`` with ``count`` rules, and paths that meet the last one."""
    if shape == "spread":
        templates = [f"/api/r{i}/{{item_id}}" for i in range(count)]
        paths = [f"/api/r{count - 1}/it_{k:08x}" for k in range(POOL)]
    else:
        templates = [f"/api/payment/{{payment_id}}/x{i}" for i in range(count)]
        paths = [f"/api/payment/pay_{k:08x}/x{count - 1}" for k in range(POOL)]
    rules = [Rule("GET", template, scopes=[f"s{i}"]) for i, template in enumerate(templates)]
    guard = Guard([StaticTokenVerifier({})], rules=rules, public_paths=())
    expected = Requirement.build([f"s{count - 1}"])
    if guard.requirement("GET", paths[0]) != expected:
        raise SystemExit(f"{shape}/{count}: the last rule did not match")
    return guard.requirement, paths


def per_match_ns(requirement: Callable[[str, str], Requirement], paths: list[str]) -> float:
    """One pass over ``paths``: nanoseconds per match."""
    start = time.perf_counter_ns()
    for path in paths:
        requirement("GET", path)
    return (time.perf_counter_ns() - start) / len(paths)


def timings(rounds: int) -> None:
    """Every row, interleaved round by round; the best round of each is kept."""
    rows = {(shape, count): build(shape, count) for shape in SHAPES for count in COUNTS}
    best = dict.fromkeys(rows, float("inf"))
    for _ in range(rounds):
        for key, (requirement, paths) in rows.items():
            best[key] = min(best[key], per_match_ns(requirement, paths))
    print(f"{'shape':8} {'rules':>6} {'ns/match':>10} {'ratio':>7}")
    for shape, count in rows:
        ratio = best[shape, count] / best[shape, 1]
        print(f"{shape:8} {count:6} {best[shape, count]:10.0f} {ratio:7.2f}")


def perform(shape: str, count: int, matches: int) -> None:
    """Build one row, warm it up, then perform ``matches`` matches (for callgrind)."""
    requirement, paths = build(shape, count)
    for path in paths[:64]:
        requirement("GET", path)
    for index in range(matches):
        requirement("GET", paths[index % POOL])


def collected(shape: str, count: int, matches: int) -> int:
    """Instructions callgrind counts for a whole ``--count`` run."""
    with tempfile.TemporaryDirectory() as folder:
        command = [
            "valgrind",
            "--tool=callgrind",
            f"--callgrind-out-file={folder}/out",
            sys.executable,
            "-m",
            "benchmarks.rules_scaling",
            "--shape",
            shape,
            "--rules",
            str(count),
            "--count",
            str(matches),
        ]
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        done = subprocess.run(command, capture_output=True, env=env, check=True)
    found = _COLLECTED.search(done.stderr)
    if found is None:
        raise SystemExit(done.stderr.decode(errors="replace"))
    return int(found.group(1))


def instructions(matches: int) -> None:
    """Instructions per match for every row: the 2N run minus the N run, over N."""
    print(f"{'shape':8} {'rules':>6} {'instr/match':>12} {'ratio':>7}")
    for shape in SHAPES:
        one = 0.0
        for count in COUNTS:
            n = collected(shape, count, matches)
            per = (collected(shape, count, 2 * matches) - n) / matches
            one = one or per
            print(f"{shape:8} {count:6} {per:12.0f} {per / one:7.2f}", flush=True)


def main() -> None:
    """Parse the command line and run the chosen mode."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, help="only perform this many matches")
    parser.add_argument("--rules", type=int, default=1000, choices=COUNTS)
    parser.add_argument("--shape", default="shared", choices=SHAPES)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--instructions", action="store_true", help="count under callgrind")
    parser.add_argument("--matches", type=int, default=1000, help="N of --instructions")
    options = parser.parse_args()
    if options.count is not None:
        perform(options.shape, options.rules, options.count)
    elif options.instructions:
        instructions(options.matches)
    else:
        timings(options.rounds)


if __name__ == "__main__":
    main()
