#!/usr/bin/env python3
"""Project tasks with all set-up included: ``python3 dev.py demo | test | check | bench | docs``.

Needs only Python 3.10+. The first run creates ``.venv`` and installs the project with
its development group; later runs reinstall only when ``pyproject.toml`` changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".bootstrap-stamp"
# The interop tests' identity provider (oidc-provider, from npm), git-ignored node_modules.
INTEROP = ROOT / "tests" / "interop"
INTEROP_STAMP = INTEROP / "node_modules" / ".bootstrap-stamp"


def run(*args: str | Path) -> None:
    print("+", " ".join(str(arg) for arg in args), flush=True)
    subprocess.run([str(arg) for arg in args], cwd=ROOT, check=True)


def bootstrap() -> None:
    """Create the virtual environment and install the project, once per pyproject."""
    if sys.version_info < (3, 10):  # noqa: UP036 - dev.py runs under any python3
        sys.exit("bearerguard needs Python 3.10 or newer")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not PYTHON.exists():
        print("+ creating .venv", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    # Dependency groups (PEP 735) need pip 25.1 or newer: installed just above.
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".", "--group", "dev")
    STAMP.write_text(wanted)


def demo(*extra: str) -> None:
    """Run the FastAPI example on 127.0.0.1:8000 (``--port N`` for another port).

    The example replaces this process (exec) rather than running as its child: a
    signal sent to ``dev.py demo`` (Ctrl-C, or SIGTERM from a supervisor or ``kill``)
    reaches the server itself, which shuts down and frees the port. A child would be
    left listening when the parent is killed.
    """
    command = [str(PYTHON), str(ROOT / "examples" / "fastapi_app.py"), *extra]
    if os.name == "nt":  # no exec that keeps the process: run it as a child there
        run(*command)
        return
    print("+", " ".join(command), flush=True)
    os.execv(command[0], command)  # noqa: S606 - replaces this process, on purpose


def install_interop() -> None:
    """Install the interop tests' npm packages, once per ``package-lock.json``.

    Needs ``node`` and ``npm`` on the PATH; without them (or if the install fails) the
    interop tests skip, except under ``CI=true``, where they must run.
    """
    npm = shutil.which("npm")
    if shutil.which("node") is None or npm is None:
        print("note: node/npm are not on the PATH; the interop tests (tests/interop) skip")
        return
    wanted = hashlib.sha256((INTEROP / "package-lock.json").read_bytes()).hexdigest()
    if INTEROP_STAMP.exists() and INTEROP_STAMP.read_text() == wanted:
        return
    try:
        run(npm, "--prefix", INTEROP, "ci", "--no-audit", "--no-fund", "--loglevel=error")
    except subprocess.CalledProcessError:
        if os.environ.get("CI", "").lower() == "true":
            raise
        print("note: npm ci failed; the interop tests (tests/interop) skip")
        return
    INTEROP_STAMP.write_text(wanted)


def install_browser() -> None:
    """Install Debian's ``chromium`` for the browser tests (Playwright drives it).

    Playwright's own browser download is not used: the tests point Playwright at the
    system Chromium. Without root and apt-get (or if the install fails) the browser
    tests skip, except under ``CI=true``, where they must run.
    """
    if browser_path() is not None:
        return
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for args in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
            print("+", " ".join(args), flush=True)
            if subprocess.run(args, env=env, check=False).returncode != 0:
                break
    if browser_path() is None:
        if os.environ.get("CI", "").lower() == "true":
            sys.exit("chromium could not be installed; CI=true needs the browser tests")
        print("note: chromium is not installed; the browser tests skip")


def browser_path() -> str | None:
    """The system Chromium, if any (``BEARERGUARD_CHROMIUM`` overrides the search)."""
    explicit = os.environ.get("BEARERGUARD_CHROMIUM")
    if explicit:
        return explicit
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test(*extra: str) -> None:
    """Run the whole test suite (installing the provider and the browser first)."""
    install_interop()
    install_browser()
    run(PYTHON, "-m", "pytest", "--cov", "--cov-report=term", *extra)


def bench(*extra: str) -> None:
    """The benchmark of docs/benchmarks.md (``--quick`` for a one-minute smoke run).

    ``--instructions`` counts instructions per request under valgrind's callgrind,
    which is installed here when missing and we may (root with apt-get).
    """
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".", "--group", "bench")
    if shutil.which("wrk") is None:
        print("note: wrk is not installed; the loopback figure falls back to a Python client")
    if shutil.which("valgrind") is None:
        if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
            run("apt-get", "install", "-y", "valgrind")
        else:
            print("note: valgrind is not installed; the instructions figure needs it")
            print("      (Debian/Ubuntu: sudo apt-get install -y valgrind)")
    run(PYTHON, "-m", "benchmarks.run", *extra)


def check() -> None:
    """ruff (lint and format) and mypy --strict."""
    run(PYTHON, "-m", "ruff", "check", ".")
    run(PYTHON, "-m", "ruff", "format", "--check", ".")
    run(PYTHON, "-m", "mypy")


def docs(*extra: str) -> None:
    """Build the documentation site into ``site/`` (``serve`` to preview it locally).

    The tests build it too (tests/test_docs.py), with every code block run.
    """
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")  # Material's banner, not a warning
    if extra[:1] == ("serve",):
        run(PYTHON, "-m", "mkdocs", "serve", *extra[1:])
    else:
        run(PYTHON, "-m", "mkdocs", "build", "--strict", *extra)


TASKS = {"demo": demo, "test": test, "check": check, "bench": bench, "docs": docs}


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TASKS:
        sys.exit(f"usage: python3 dev.py {{{'|'.join(TASKS)}}} [pytest args]")
    bootstrap()
    task = sys.argv[1]
    try:
        if task in ("test", "bench", "demo", "docs"):
            TASKS[task](*sys.argv[2:])
        else:
            TASKS[task]()
    except subprocess.CalledProcessError as exc:
        sys.exit(exc.returncode)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
