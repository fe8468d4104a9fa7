"""Instructions per request under callgrind: ``python -m benchmarks.instructions``.

Wall-clock figures on a shared machine drift by a quarter between runs; the number of
instructions a request executes does not. Each case of :mod:`benchmarks.instructions_cases`
runs in its own process under ``valgrind --tool=callgrind``, which counts only inside
two marked batches of N and 2N requests after the same build and warm-up (see
:mod:`benchmarks.instructions_driver`); the second count minus the first is what N
requests cost. Hash randomisation is fixed (``PYTHONHASHSEED=0``).

Instructions under valgrind are not time: native SHA-256 and RSA code is counted one
instruction at a time like the interpreter's, which weighs hashing more than a CPU with
SHA extensions feels. Compare figures with each other, not with microseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
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

from benchmarks.instructions_cases import AUDIENCE, CASES, ISSUER, SCOPE, Case
from benchmarks.instructions_driver import MARKER, WARMUP

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = 1000
QUICK_REQUESTS = 200
_TOTAL = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


@dataclass(frozen=True)
class Count:
    """One case's figure.

    Attributes:
        case: The case measured.
        per_request: Instructions per request (the 2N batch minus the N batch, over N).
        requests: N.
    """

    case: Case
    per_request: float
    requests: int


def make_state(path: Path) -> None:
    """The key and tokens every case is given, made once so both runs see the same."""
    import jwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-42",
        "client_id": "dashboard",
        "scope": SCOPE,
        "iat": now,
        "exp": now + 10 * 365 * 86400,  # never expires during a run
        "jti": secrets.token_hex(8),
    }
    token = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "bench-1", "typ": "at+jwt"})
    state = {
        "public_pem": public_pem,
        "jwt": token,
        "static": "bench_static_" + secrets.token_hex(16),
    }
    path.write_text(json.dumps(state), encoding="utf-8")


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
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
        raise RuntimeError(f"{name}: the driver failed under callgrind:\n{tail}")
    # One dump per return from the marker (out.1, out.2, ...), then the final one (out).
    parts = sorted(workdir.glob(out.name + ".*"), key=lambda part: int(part.suffix[1:]))
    counts = []
    for part in parts:
        found = _TOTAL.search(part.read_bytes())
        counts.append(int(found.group(1)) if found else 0)
        part.unlink()
    out.unlink(missing_ok=True)
    return counts


def per_request(name: str, counts: list[int], requests: int) -> float:
    """Instructions per request from the counts of the two marked batches (N, then 2N).

    Libraries call the marker too (glibc at start-up and shutdown, a handful of
    instructions each): the batches are the largest count and the largest before it,
    and the second must be about twice the first.
    """
    if len(counts) < 2:
        raise RuntimeError(f"{name}: callgrind dumped {len(counts)} counts, not the two batches")
    last = max(range(1, len(counts)), key=counts.__getitem__)
    single, double = max(counts[:last]), counts[last]
    if not 1.8 * single <= double <= 2.2 * single:
        raise RuntimeError(f"{name}: batches of N and 2N counted {single} and {double}")
    return (double - single) / requests


def measure(names: list[str], requests: int, *, progress: bool = True) -> list[Count]:
    """Run each case under callgrind with N and 2N requests; instructions per request."""
    if shutil.which("valgrind") is None:
        raise RuntimeError("valgrind is not installed (apt-get install valgrind)")
    counts = []
    with tempfile.TemporaryDirectory(prefix="bearerguard-instructions-") as directory:
        workdir = Path(directory)
        state = workdir / "state.json"
        make_state(state)
        for name in names:
            started = time.perf_counter()
            case = CASES[name]
            n = max(10, requests // case.divisor)
            dumps = callgrind_counts(state, name, n, workdir)
            count = Count(case, per_request(name, dumps, n), n)
            counts.append(count)
            if progress:
                print(
                    f"  {name:<28} {count.per_request / 1000:8.1f}k instructions/request"
                    f"  ({time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
    return counts


def _k(value: float, sign: bool = False) -> str:
    return f"{value / 1000:{'+' if sign else ''}.1f}k"


def table(counts: list[Count]) -> str:
    """The figures as a Markdown table: each case beside the bare app it is compared with."""
    by_name = {count.case.name: count for count in counts}
    lines = [
        "| case | instructions / request | added to the bare app | ratio to bare |",
        "|---|---:|---:|---:|",
    ]
    for count in counts:
        floor = by_name.get(count.case.floor)
        if floor is None:
            added = ratio = "—" if not count.case.floor else "(bare not run)"
        else:
            added = _k(count.per_request - floor.per_request, sign=True)
            ratio = f"{count.per_request / floor.per_request:.2f}"
        label = f"{count.case.label} (`{count.case.name}`)"
        lines.append(f"| {label} | {_k(count.per_request)} | {added} | {ratio} |")
    many, one = by_name.get("starlette/rules-1000"), by_name.get("starlette/rules-1")
    if many and one:
        lines.append("")
        lines.append(
            f"1000 rules against 1 rule: {many.per_request / one.per_request:.2f} times the "
            f"instructions per request ({_k(many.per_request - one.per_request, sign=True)})."
        )
    return "\n".join(lines)


def about(requests: int) -> str:
    """How the figures were made, for the report."""
    import bearerguard

    return (
        "`valgrind --tool=callgrind`, each case in its own process, counting only inside two "
        f"batches of N = {requests} and 2N requests after the same build and {WARMUP} warm-up "
        "requests (N / 10 for the 1000-rule case); the difference divided by N. Raw ASGI "
        "calls (one event loop, one coroutine looping over the requests) or raw WSGI calls; "
        "no client, no socket. "
        f"bearerguard {bearerguard.__version__}, Python {sys.version.split()[0]}."
    )


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("--quick", action="store_true", help=f"N = {QUICK_REQUESTS}")
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


def select(only: list[str]) -> list[str]:
    """The chosen cases, each preceded by the bare app it is compared with."""
    if not only:
        return list(CASES)
    wanted = {name for name in CASES if any(text in name for text in only)}
    wanted |= {CASES[name].floor for name in wanted if CASES[name].floor}
    return [name for name in CASES if name in wanted]


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    requests = args.requests or (QUICK_REQUESTS if args.quick else REQUESTS)
    import bearerguard

    print(f"instructions: bearerguard from {Path(bearerguard.__file__).parent}", flush=True)
    counts = measure(select(args.only), requests)
    text = f"{about(requests)}\n\n{table(counts)}\n"
    print()
    print(text)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
