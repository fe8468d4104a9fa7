"""Instructions per request under callgrind: ``python -m benchmarks.instructions``.

Wall-clock figures on a shared machine drift by a quarter between runs; the number of
instructions a request executes does not. Each case of :mod:`benchmarks.instructions_cases`
runs in its own process under ``valgrind --tool=callgrind``, which counts only inside
two marked batches of N and 2N requests after the same build, check and warm-up (see
:mod:`benchmarks.instructions_driver`); the second count minus the first is what N
requests cost. Hash randomisation is fixed (``PYTHONHASHSEED=0``).

Instructions under valgrind are not time: native SHA-256 and RSA code is counted one
instruction at a time like the interpreter's, which weighs hashing more than a CPU with
SHA extensions feels. Compare the figures with each other, not with microseconds.
``python -m benchmarks.run --instructions`` runs this and puts the table in
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python benchmarks/instructions.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks import fixtures as fixtures_module
from benchmarks.instructions_cases import CASES, Case, describe
from benchmarks.instructions_driver import MARKER, SKIPPED, WARMUP

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = 500
QUICK_REQUESTS = 200
_TOTAL = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Count:
    """One case's figure.

    Attributes:
        case: The case measured.
        label: What the table shows.
        role: ``floor``, ``peer``, ``limit`` or ``bearerguard``.
        per_request: Instructions per request (the 2N batch minus the N batch, over N);
            None when the case could not run.
        requests: N.
        problem: Why there is no figure.
    """

    case: Case
    label: str
    role: str
    per_request: float | None
    requests: int
    problem: str = ""


def make_state(path: Path) -> None:
    """The key and tokens every case is given, made once so every process sees the same.

    The JWTs are re-minted to expire in ten years: a cached principal never outlives its
    token, and a run (half an hour on a busy machine) must not watch its tokens expire.
    """
    fixtures = fixtures_module.create()
    ttl = 10 * 365 * 86400
    fixtures = dataclasses.replace(
        fixtures,
        jwt_ok=fixtures.mint(ttl=ttl),
        jwt_noscope=fixtures.mint("payments.create", ttl=ttl),
    )
    fixtures.dump(str(path))


class Skipped(Exception):
    """The case's variant could not be loaded (a peer not installed)."""


def callgrind_counts(state: Path, name: str, requests: int, workdir: Path) -> list[int]:
    """The instructions callgrind counted in each marked call of one driver process."""
    out = workdir / f"callgrind.{name.replace('/', '-')}"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        "--collect-atstart=no",
        f"--toggle-collect={MARKER}",
        f"--dump-after={MARKER}",
        "--dump-instr=no",
        "--dump-line=no",
        sys.executable,
        "-m",
        "benchmarks.instructions_driver",
        str(state),
        name,
        str(requests),
    ]
    env = dict(os.environ, PYTHONHASHSEED="0")
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
    if done.returncode == SKIPPED:
        raise Skipped(tail.splitlines()[-1] if tail else "variant not loaded")
    if done.returncode != 0:
        raise RuntimeError(f"the driver failed under callgrind:\n{tail}")
    # One dump per return from the marker (out.1, out.2, ...), then the final one (out).
    parts = sorted(workdir.glob(out.name + ".*"), key=lambda part: int(part.suffix[1:]))
    counts = []
    for part in parts:
        found = _TOTAL.search(part.read_bytes())
        counts.append(int(found.group(1)) if found else 0)
        part.unlink()
    out.unlink(missing_ok=True)
    return counts


def per_request(counts: list[int], requests: int) -> float:
    """Instructions per request from the counts of the two marked batches (N, then 2N).

    Libraries call the marker too (glibc at start-up and shutdown, a handful of
    instructions each): the batches are the largest count and the largest before it,
    and the second must be about twice the first.
    """
    if len(counts) < 2:
        raise RuntimeError(f"callgrind dumped {len(counts)} counts, not the two batches")
    last = max(range(1, len(counts)), key=counts.__getitem__)
    single, double = max(counts[:last]), counts[last]
    if not 1.8 * single <= double <= 2.2 * single:
        raise RuntimeError(f"batches of N and 2N counted {single} and {double}")
    return (double - single) / requests


def measure(names: list[str], requests: int, *, progress: bool = True) -> list[Count]:
    """Run each case under callgrind; instructions per request, or why not."""
    if shutil.which("valgrind") is None:
        raise RuntimeError("valgrind is not installed (Debian/Ubuntu: apt-get install valgrind)")
    results = []
    with tempfile.TemporaryDirectory(prefix="bearerguard-instructions-") as directory:
        workdir = Path(directory)
        state = workdir / "fixtures.json"
        make_state(state)
        for name in names:
            started = time.perf_counter()
            case = CASES[name]
            n = max(10, requests // case.divisor)
            try:
                label, role = describe(case)
            except KeyError:
                label, role = name, case.role or "peer"
            try:
                figure = per_request(callgrind_counts(state, name, n, workdir), n)
                count = Count(case, label, role, figure, n)
                shown = f"{figure / 1000:8.1f}k instructions/request"
            except Skipped as exc:
                count = Count(case, label, role, None, n, f"not run: {exc}")
                shown = count.problem
            except RuntimeError as exc:
                count = Count(case, label, role, None, n, str(exc).splitlines()[0])
                shown = f"FAILED: {exc}"
            results.append(count)
            if progress:
                elapsed = time.perf_counter() - started
                print(f"  {name:<36} {shown}  ({elapsed:.0f} s)", flush=True)
    return results


def _k(value: float, sign: bool = False) -> str:
    return f"{value / 1000:{'+' if sign else ''}.1f}k"


def table(counts: list[Count]) -> list[str]:
    """The figures as Markdown lines: each case beside the bare app it is compared with."""
    by_name = {count.case.name: count for count in counts}
    lines = [
        "| case | role | instructions / request | added to the bare app | ratio to bare |",
        "|---|---|---:|---:|---:|",
    ]
    for count in counts:
        floor = by_name.get(count.case.floor)
        label = f"{count.label} (`{count.case.name}`)"
        if count.per_request is None:
            lines.append(f"| {label} | {count.role} | {count.problem} | — | — |")
            continue
        if floor is None or floor.per_request is None:
            added = ratio = "—" if not count.case.floor else "(bare app not measured)"
        else:
            added = _k(count.per_request - floor.per_request, sign=True)
            ratio = f"{count.per_request / floor.per_request:.2f}"
        lines.append(f"| {label} | {count.role} | {_k(count.per_request)} | {added} | {ratio} |")
    many = by_name.get("starlette/bearerguard-rules-1000")
    one = by_name.get("starlette/bearerguard-rules-1")
    if many and one and many.per_request and one.per_request:
        lines += [
            "",
            f"1000 rules against 1 rule, a fresh id in every path: "
            f"{many.per_request / one.per_request:.2f} times the instructions per request "
            f"({_k(many.per_request - one.per_request, sign=True)}).",
        ]
    return lines


def about(requests: int) -> str:
    """How the figures were made."""
    return (
        "`valgrind --tool=callgrind`, each case in its own process, counting only inside two "
        f"batches of N = {requests} and 2N requests made after the same build, answer check and "
        f"{WARMUP} warm-up requests (N / 10 for the 1000-rule case); the difference divided "
        "by N. Raw ASGI calls (one event loop, one coroutine looping over the requests) or "
        "raw WSGI calls; no client, no socket. Counts repeat from run to run, whatever else "
        "the machine is doing; they weigh native code (SHA-256, RSA) as heavily as the "
        "interpreter's, so they rank the layers rather than time them."
    )


def select(only: list[str], *, quick: bool = False) -> list[str]:
    """The chosen cases, each with the bare app it is compared with."""
    wanted = {
        name
        for name, case in CASES.items()
        if (not only or any(text in name for text in only)) and (case.quick or not quick)
    }
    wanted |= {CASES[name].floor for name in wanted if CASES[name].floor}
    return [name for name in CASES if name in wanted]


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help=f"bearerguard and the bare apps, N = {QUICK_REQUESTS}"
    )
    parser.add_argument("--requests", type=int, help=f"N (default {REQUESTS})")
    parser.add_argument(
        "--only",
        metavar="TEXT",
        action="append",
        default=[],
        help="only cases whose name contains TEXT, with their bare apps",
    )
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    requests = args.requests or (QUICK_REQUESTS if args.quick else REQUESTS)
    import bearerguard

    print(f"instructions: bearerguard from {Path(bearerguard.__file__).parent}", flush=True)
    counts = measure(select(args.only, quick=args.quick), requests)
    text = "\n".join([about(requests), "", *table(counts)]) + "\n"
    print()
    print(text)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    return 1 if any(c.per_request is None and c.role == "bearerguard" for c in counts) else 0


if __name__ == "__main__":
    sys.exit(main())
