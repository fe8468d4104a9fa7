"""Figure 2: loopback throughput through real servers on 127.0.0.1.

Every variant of the figure gets its own server process (uvicorn with one worker for
ASGI; gunicorn with one worker and threads for WSGI), all started first and checked
over the socket for 200/401/401/403. Then, in shuffled rounds, a load generator drives
each for a fixed time with keep-alive connections. ``wrk`` is used when it is
installed (``apt-get install wrk``); otherwise a small asyncio client, which on a
two-core machine is itself the bottleneck, so its ratios sit closer to 1 than the
servers' true ones (the report says which generator ran). Only 127.0.0.1 is ever used.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .fixtures import PATH, STATE_ENV, Fixtures
from .inprocess import cases
from .registry import Variant
from .serve import VARIANT_ENV

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CONNECTIONS = 8
GUNICORN_THREADS = 8


@dataclass
class Server:
    variant: Variant
    port: int
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    problems: list[str] = field(default_factory=list)
    rps: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    errors: int = 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def command(variant: Variant, port: int) -> list[str]:
    if variant.interface == "asgi":
        return [
            sys.executable, "-m", "uvicorn", "--factory", "benchmarks.serve:asgi",
            "--host", HOST, "--port", str(port), "--workers", "1",
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
    return [
        sys.executable, "-m", "gunicorn", "--workers", "1",
        "--threads", str(GUNICORN_THREADS), "--bind", f"{HOST}:{port}",
        "--log-level", "warning", "benchmarks.serve:wsgi()",
    ]  # fmt: skip


def start(variant: Variant, state_path: str, logdir: Path) -> Server:
    port = free_port()
    env = dict(os.environ)
    env[STATE_ENV] = state_path
    env[VARIANT_ENV] = variant.name
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    log = open(logdir / (variant.name.replace("/", "_") + ".log"), "wb")  # noqa: SIM115
    process = subprocess.Popen(
        command(variant, port), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    return Server(variant, port, process, log)


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    server.log.close()


def get(port: int, authorization: str | None) -> int:
    connection = http.client.HTTPConnection(HOST, port, timeout=5)
    try:
        headers = {} if authorization is None else {"Authorization": authorization}
        connection.request("GET", PATH, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def wait_ready(server: Server, fixtures: Fixtures, timeout: float = 30.0) -> None:
    """Wait for the server, then check its answers over the socket."""
    deadline = time.monotonic() + timeout
    good = f"Bearer {server.variant.good_and_lacking(fixtures)[0]}"
    while True:
        if server.process.poll() is not None:
            server.problems.append(f"server exited with {server.process.returncode}")
            return
        try:
            get(server.port, good)
            break
        except OSError:
            if time.monotonic() > deadline:
                server.problems.append("server did not start")
                return
            time.sleep(0.1)
    for case, authorization, expected in cases(server.variant, fixtures):
        status = get(server.port, authorization)
        if status != expected:
            server.problems.append(f"{case}: {status}, wanted {expected}")


# -- load generators -------------------------------------------------------------------


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"cannot read wrk latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _search(pattern: str, text: str) -> str:
    found = re.search(pattern, text, re.MULTILINE)
    if found is None:
        raise ValueError(f"wrk printed no {pattern!r}")
    return found.group(1)


def wrk(port: int, authorization: str, seconds: float) -> Load:
    duration = f"-d{max(1, round(seconds))}s"
    url = f"http://{HOST}:{port}{PATH}"
    header = f"Authorization: {authorization}"
    args = ["wrk", "-t1", f"-c{CONNECTIONS}", duration, "--latency", "-H", header, url]
    output = subprocess.run(
        args, capture_output=True, text=True, check=True, timeout=seconds + 30
    ).stdout
    rps = float(_search(r"Requests/sec:\s+([\d.]+)", output))
    p50 = _ms(_search(r"^\s+50%\s+(\S+)", output))
    p99 = _ms(_search(r"^\s+99%\s+(\S+)", output))
    found = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = int(found.group(1)) if found else 0
    found = re.search(r"Socket errors:.*", output)
    if found is not None:
        errors += sum(int(n) for n in re.findall(r"\d+", found.group(0)))
    return Load(rps, p50, p99, errors)


async def _connection(
    port: int, request: bytes, deadline: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            found = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            await reader.readexactly(int(found.group(1)) if found else 0)
            latencies.append(time.perf_counter() - start)
            if head[9:12] != b"200":
                errors.append(1)
    finally:
        writer.close()


def python_client(port: int, authorization: str, seconds: float) -> Load:
    request = (
        f"GET {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\nUser-Agent: bench\r\n"
        f"Accept: */*\r\nAuthorization: {authorization}\r\n\r\n"
    ).encode("latin-1")
    latencies: list[float] = []
    errors: list[int] = []

    async def main() -> float:
        start = time.perf_counter()
        deadline = start + seconds
        await asyncio.gather(
            *(_connection(port, request, deadline, latencies, errors) for _ in range(CONNECTIONS))
        )
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    ordered = sorted(latencies)
    return Load(
        len(ordered) / elapsed,
        ordered[len(ordered) // 2] * 1e3,
        ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3,
        len(errors),
    )


def generator() -> str:
    return "wrk" if shutil.which("wrk") else "python"


# -- the figure ------------------------------------------------------------------------


def run(
    variants: list[Variant],
    fixtures: Fixtures,
    state_path: str,
    logdir: Path,
    *,
    rounds: int,
    seconds: float,
    seed: int = 0,
) -> list[Server]:
    """Start, check, and load every server; returns them with their samples."""
    load = wrk if generator() == "wrk" else python_client
    servers = [start(variant, state_path, logdir) for variant in variants]
    try:
        for server in servers:
            wait_ready(server, fixtures)
        healthy = [server for server in servers if not server.problems]
        for server in healthy:  # warm-up: lazy imports, the token cache, connections
            warm = http.client.HTTPConnection(HOST, server.port, timeout=5)
            for _ in range(200):
                warm.request(
                    "GET", PATH, headers={"Authorization": _authorization(server, fixtures)}
                )
                warm.getresponse().read()
            warm.close()
        # Each round loads one framework's servers back to back (bare and variants close
        # in time, so a drift of the machine hits them alike), frameworks and servers
        # in a fresh shuffled order.
        groups: dict[str, list[Server]] = {}
        for server in healthy:
            groups.setdefault(server.variant.name.split("/", 1)[0], []).append(server)
        rng = random.Random(seed)
        for _ in range(rounds):
            order = list(groups.values())
            rng.shuffle(order)
            for group in order:
                rng.shuffle(group)
                for server in group:
                    result = load(server.port, _authorization(server, fixtures), seconds)
                    server.rps.append(result.rps)
                    server.p50_ms.append(result.p50_ms)
                    server.p99_ms.append(result.p99_ms)
                    server.errors += result.errors
    finally:
        for server in servers:
            stop(server)
    return servers


def _authorization(server: Server, fixtures: Fixtures) -> str:
    return f"Bearer {server.variant.good_and_lacking(fixtures)[0]}"


def ratio(server: Server, floor: Server) -> float | None:
    if not server.rps or len(server.rps) != len(floor.rps):
        return None
    return statistics.median(a / b for a, b in zip(server.rps, floor.rps, strict=True))
