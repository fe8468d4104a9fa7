"""``python3 dev.py demo`` as a user runs it: a real process, stopped by a signal, restarted."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from bearerguard import ClientTokenVerifier, Guard, UnauthenticatedError
from bearerguard.stores import SQLiteTokenStore
from bearerguard.tokens import TokenManager

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT / "dev.py"

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(not DEV.exists(), reason="dev.py is not in this tree (an sdist)"),
    pytest.mark.skipif(os.name == "nt", reason="POSIX signals and process groups"),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def _start(port: int, database: Path) -> tuple[subprocess.Popen[str], str]:
    """Start the demo in a session of its own; return it and its checkout token."""
    env = {**os.environ, "PAYMENTS_STORE": f"sqlite:///{database}"}
    demo = subprocess.Popen(
        [sys.executable, str(DEV), "demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: every process it starts is in it
    )
    assert demo.stdout is not None
    printed = []
    deadline = time.monotonic() + 120  # a first run may install the project first
    while time.monotonic() < deadline and not _listening(port):
        assert demo.poll() is None, "".join(printed) + demo.stdout.read()
        time.sleep(0.1)
    assert _listening(port), "the demo did not start listening"
    while not any("checkout" in line for line in printed):
        printed.append(demo.stdout.readline())
    line = next(line for line in printed if "api/payment/checkout" in line)
    token = line.split("Bearer ", 1)[1].split("'", 1)[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as answer:
        assert answer.status == 200
    return demo, token


def _stop(demo: subprocess.Popen[str], port: int, signum: int) -> None:
    os.kill(demo.pid, signum)  # to dev.py's own pid, as `kill` or a supervisor would
    try:
        demo.wait(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (_group_alive(demo.pid) or _listening(port)):
            time.sleep(0.05)
        outlived = _group_alive(demo.pid)
        still_listening = _listening(port)
    finally:
        if _group_alive(demo.pid):  # never leave a server behind, even when failing
            os.killpg(demo.pid, signal.SIGKILL)
        if demo.stdout is not None:
            demo.stdout.close()
    assert not outlived, "a process of the demo outlived the signal"
    assert not still_listening, f"something still listens on {port}"


def _verify(database: Path, token: str) -> str | None:
    manager = TokenManager(SQLiteTokenStore(database), prefix="pay_live_")
    try:
        return Guard([ClientTokenVerifier(manager)]).authenticate(f"Bearer {token}").token_id
    finally:
        manager.close()
        manager.store.close()


def _count(database: Path) -> int:
    manager = TokenManager(SQLiteTokenStore(database))
    try:
        return len(manager.list(include_revoked=True))
    finally:
        manager.store.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_demo_and_a_restart_keeps_three_tokens(
    tmp_path: Path, signum: int
) -> None:
    database = tmp_path / "payments.db"
    port = _free_port()
    demo, first = _start(port, database)
    _stop(demo, port, signum)
    assert _count(database) == 3
    assert _verify(database, first)

    demo, second = _start(port, database)
    _stop(demo, port, signum)
    assert _count(database) == 3  # the earlier start's tokens were revoked and pruned
    assert _verify(database, second)
    with pytest.raises(UnauthenticatedError):
        _verify(database, first)
