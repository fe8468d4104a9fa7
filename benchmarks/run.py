"""Run the benchmark: ``python -m benchmarks.run [--quick] [--instructions]``.

Checks every variant's answers, measures the in-process cost per request (figure 1)
and the loopback throughput (figure 2), the extras (cache memory, the client-token
spray, the stores), prints the tables side by side with the peers and the hand-written
limit, and writes them to ``docs/benchmarks.md`` (a full run does; ``--quick`` writes
only with ``--write``), keeping the page's instructions section as it was.

``--instructions`` instead counts instructions per request under valgrind's callgrind
(:mod:`benchmarks.instructions`) and replaces only that section of the page.

Run from the repository root. Needs the ``bench`` dependency group
(``pip install --group bench -e .``); ``wrk`` is used for figure 2 when installed,
``valgrind`` for ``--instructions``.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python benchmarks/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"

from benchmarks import fixtures as fixtures_module
from benchmarks import inprocess, instructions, loopback, report, revocation
from benchmarks.registry import EXTRAS, Variant
from benchmarks.report import Results, render, wrk_version
from benchmarks.variants import SKIPPED, load_all

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"

QUICK = {"rounds": 15, "batch": 0.01, "lb_rounds": 2, "lb_seconds": 1.0}
FULL = {"rounds": 60, "batch": 0.04, "lb_rounds": 10, "lb_seconds": 1.0}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run, under a minute")
    parser.add_argument("--only", metavar="TEXT", action="append", default=[],
                        help="only variants whose name contains TEXT (repeatable)")  # fmt: skip
    parser.add_argument("--rounds", type=int, help="figure 1 rounds")
    parser.add_argument("--no-loopback", action="store_true", help="skip figure 2")
    parser.add_argument("--no-extras", action="store_true", help="skip memory and spray")
    parser.add_argument("--write", action="store_true", help="write the doc after --quick")
    parser.add_argument("--no-write", action="store_true", help="never write the doc")
    parser.add_argument("--output", type=Path, default=DOC, help="where the doc goes")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="count instructions per request under callgrind instead (that section only)",
    )
    return parser.parse_args(argv)


def select(args: argparse.Namespace) -> list[Variant]:
    chosen = []
    for variant in load_all().values():
        if args.quick and not variant.quick:
            continue
        wanted = any(text in variant.name for text in args.only)
        if args.only and variant.role != "floor" and not wanted:
            continue
        chosen.append(variant)
    # Keep only the floors that something chosen needs (and the decode reference
    # when a miss row is chosen).
    needed = {v.floor for v in chosen if v.floor} | {v.reference for v in chosen}
    return [v for v in chosen if v.role != "floor" or v.name in needed or not args.only]


def figure1(
    results: Results,
    variants: list[Variant],
    fixtures: fixtures_module.Fixtures,
    settings: dict[str, float],
) -> None:
    subjects: dict[str, inprocess.Subject] = {}
    apps = {}
    for variant in variants:
        try:
            app = variant.build(fixtures)
        except Exception as exc:
            results.wrong[variant.name] = [f"could not build: {type(exc).__name__}: {exc}"]
            continue
        problems = inprocess.check(variant, app, fixtures)
        if problems:
            results.wrong[variant.name] = problems
            continue
        apps[variant.name] = app
        subject, _ = inprocess.prepare(variant, app, fixtures)
        subjects[subject.key] = subject
    # A loop-driven variant is compared with its floor driven by the loop too.
    for subject in list(subjects.values()):
        floor = subject.variant.floor
        if not floor or floor not in apps:
            continue
        if subject.looped:
            key = floor + "@loop"
            if key not in subjects:
                base = subjects[floor]
                subjects[key] = inprocess.Subject(
                    key, base.variant, base.app, base.request, inprocess.loop_batch
                )
            subject.floor_key = key
        else:
            subject.floor_key = floor
    ordered = sorted(subjects.values(), key=lambda s: (s.variant.floor != "", s.key))
    for subject in ordered:
        inprocess.calibrate(subject, settings["batch"])
    print(f"figure 1: {len(ordered)} subjects x {results.rounds} rounds", flush=True)
    inprocess.run_rounds(ordered, results.rounds)
    for subject in ordered:
        if subject.failure:
            results.wrong[subject.key] = [f"failed while timed: {subject.failure}"]
    ordered = [s for s in ordered if not s.failure]
    subjects = {s.key: s for s in ordered}
    for subject in ordered:
        floor = subjects.get(subject.floor_key) if subject.floor_key else None
        if subject.floor_key and floor is None:
            continue
        reference = subjects.get(subject.variant.reference)
        results.figures[subject.key] = inprocess.summarise(subject, floor, reference)
    order = [v.name for v in variants]
    results.subjects = sorted(
        (s for s in ordered if s.key in results.figures),
        key=lambda s: (order.index(s.variant.name), s.key.endswith("@loop")),
    )


def figure2(
    results: Results,
    variants: list[Variant],
    fixtures: fixtures_module.Fixtures,
    state: str,
    workdir: Path,
    settings: dict[str, float],
) -> None:
    chosen = [v for v in variants if v.loopback and v.name not in results.wrong]
    if results.quick:  # the floors and bearerguard's rows
        chosen = [v for v in chosen if v.role in ("floor", "bearerguard")]
    if not chosen:
        results.loopback_note = "no variant chosen"
        return
    missing = [name for name in ("uvicorn", "gunicorn") if not _importable(name)]
    if missing:
        results.loopback_note = f"skipped: {', '.join(missing)} not installed (bench group)"
        return
    generator = loopback.generator()
    results.generator = f"wrk {wrk_version()}" if generator == "wrk" else "asyncio client"
    rounds, seconds = int(settings["lb_rounds"]), settings["lb_seconds"]
    results.loopback_note = (
        f"{len(chosen)} servers, {rounds} shuffled rounds of {seconds:g} s each, "
        f"{loopback.CONNECTIONS} keep-alive connections, load from "
        + (
            "`wrk -t1`."
            if generator == "wrk"
            else "a Python asyncio client (wrk not installed): on two cores the client is "
            "the bottleneck, so ratios are compressed toward 1."
        )
        + " Median req/s and latency over the rounds; the ratio is the median of "
        "per-round ratios to the bare app of the same framework."
    )
    print(f"figure 2: {len(chosen)} servers, {rounds} rounds, {generator}", flush=True)
    results.servers = loopback.run(chosen, fixtures, state, workdir, rounds=rounds, seconds=seconds)


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _writes(args: argparse.Namespace) -> bool:
    return not args.no_write and (args.write or (not args.quick and not args.only))


def instructions_only(args: argparse.Namespace, command: str) -> int:
    """Count instructions per request and replace the page's instructions section."""
    started_at = datetime.datetime.now(datetime.timezone.utc)
    started = time.perf_counter()
    requests = instructions.QUICK_REQUESTS if args.quick else instructions.REQUESTS
    try:
        counts = instructions.measure(instructions.select(args.only, quick=args.quick), requests)
    except RuntimeError as exc:  # valgrind missing
        print(f"instructions: {exc}", file=sys.stderr)
        return 1
    lines = [instructions.about(requests), "", *instructions.table(counts)]
    section = report.instructions_section(
        lines, command=command, started=started_at, elapsed_s=time.perf_counter() - started
    )
    print()
    print("\n".join(section))
    if _writes(args):
        page = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(report.replace_instructions(page, section), encoding="utf-8")
        print(f"wrote {args.output}")
    failed = any(c.per_request is None and c.role == "bearerguard" for c in counts)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    shown = " ".join(sys.argv[1:] if argv is None else argv)
    command = f"python -m benchmarks.run {shown}".strip()
    if args.instructions:
        return instructions_only(args, command)
    settings = dict(QUICK if args.quick else FULL)
    if args.rounds:
        settings["rounds"] = args.rounds
    results = Results(
        command=command,
        quick=args.quick,
        rounds=int(settings["rounds"]),
        started=datetime.datetime.now(datetime.timezone.utc),
    )
    started = time.perf_counter()
    variants = select(args)
    results.skipped.update(SKIPPED)
    fixtures = fixtures_module.create()
    with tempfile.TemporaryDirectory(prefix="bearerguard-bench-") as workdir:
        state = str(Path(workdir) / "fixtures.json")
        fixtures.dump(state)
        figure1(results, variants, fixtures, settings)
        print(f"  {time.perf_counter() - started:.0f} s", flush=True)
        if args.no_loopback:
            results.loopback_note = "not run (--no-loopback)"
        else:
            figure2(results, variants, fixtures, state, Path(workdir), settings)
            print(f"  {time.perf_counter() - started:.0f} s", flush=True)
    if not args.no_extras and not args.only:
        for name, extra in EXTRAS.items():
            print(f"extra: {name}", flush=True)
            try:
                results.extras.append(extra(fixtures, args.quick))
            except Exception as exc:
                results.skipped[f"extra {name}"] = f"{type(exc).__name__}: {exc}"
    results.elapsed_s = time.perf_counter() - started
    page = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
    text = render(results, report.carried_instructions(page))
    text = revocation.carry(page, text)  # measured by its own command
    print()
    print(text)
    if _writes(args):
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    # A peer answering wrongly is a finding; bearerguard answering wrongly is a failure.
    return (
        1 if any(name.split("/", 1)[-1].startswith("bearerguard") for name in results.wrong) else 0
    )


if __name__ == "__main__":
    sys.exit(main())
