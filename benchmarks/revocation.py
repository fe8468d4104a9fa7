"""Revocation latency across workers: ``python -m benchmarks.revocation``.

Per back end (Redis, PostgreSQL): starts the FastAPI example under uvicorn with 4
workers and the Flask example under gunicorn ``--preload`` with 4 workers, both on
loopback and both with ``PAYMENTS_BUS`` pointing at the bus; issues client tokens,
has every worker cache each one, then revokes them one at a time from this process
through :class:`~bearerguard.tokens.TokenManager` and from ``bearerguard tokens
revoke --bus`` processes. For each revoke it reports the time from the revoke
returning until the last of the 8 workers refuses the token (0 when all refused
before it returned), as p50, p99 and max. See :mod:`benchmarks.revocation_app`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 4
ENGINES = {
    "redis": "redis://127.0.0.1:6379/0",
    "postgres": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _servers(env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    python = sys.executable
    return [
        subprocess.Popen(
            [
                python,
                "-m",
                "uvicorn",
                "benchmarks.revocation_app:fastapi_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(_free_port()),
                "--workers",
                str(WORKERS),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env={**env, "BENCH_SERVER": "uvicorn"},
        ),
        subprocess.Popen(
            [
                python,
                "-m",
                "gunicorn",
                "--preload",
                "-w",
                str(WORKERS),
                "-b",
                f"127.0.0.1:{_free_port()}",
                "--log-level",
                "warning",
                "benchmarks.revocation_app:flask_app",
            ],
            cwd=ROOT,
            env={**env, "BENCH_SERVER": "gunicorn"},
        ),
    ]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def run_engine(engine: str, url: str, revokes: int, cli_revokes: int) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "examples"))
    import payments

    from bearerguard.revocation import open_bus
    from bearerguard.stores import open_store
    from bearerguard.tokens import TokenManager

    work = Path(tempfile.mkdtemp(prefix="bearerguard-bench-"))
    store_url = f"sqlite:///{work / 'payments.db'}"
    bus = open_bus(url)
    manager = TokenManager(open_store(store_url), prefix=payments.TOKEN_PREFIX, revocation_bus=bus)
    issued = [
        manager.issue(
            client_id=payments.APPLICATION_ID, label=f"bench {i}", scopes=["payments.get"]
        )
        for i in range(revokes + cli_revokes)
    ]
    (work / "tokens").write_text("\n".join(i.token for i in issued))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(30)
    env = {
        **os.environ,
        "PAYMENTS_STORE": store_url,
        "PAYMENTS_BUS": url,
        "BENCH_TOKENS": str(work / "tokens"),
        "BENCH_PORT": str(udp.getsockname()[1]),
    }
    servers = _servers(env)
    try:
        probes: dict[int, int] = {}
        while len(probes) < 2 * WORKERS:
            message = json.loads(udp.recv(1024))
            if "ready" in message:
                probes[message["ready"]] = message["port"]
        time.sleep(2.0)  # every worker's subscription is up
        results: dict[str, list[float]] = {"TokenManager": [], "CLI": []}
        for index, token in enumerate(issued):
            for port in probes.values():
                udp.sendto(json.dumps({"watch": index}).encode(), ("127.0.0.1", port))
            acks = 0
            refused_at: list[float] = []
            while acks < len(probes):
                message = json.loads(udp.recv(1024))
                if message.get("watching") == index:
                    if not message["cached"]:
                        raise RuntimeError("a worker refused the token before the revoke")
                    acks += 1
                elif message.get("refused") == index:
                    refused_at.append(message["at"])
            how = "TokenManager" if index < revokes else "CLI"
            if how == "TokenManager":
                manager.revoke(token.record.id)
            else:
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bearerguard",
                        "tokens",
                        "revoke",
                        token.record.id,
                        "--store",
                        store_url,
                        "--bus",
                        url,
                        "--prefix",
                        payments.TOKEN_PREFIX,
                    ],
                    check=True,
                    stdout=subprocess.DEVNULL,
                    cwd=ROOT,
                )
            returned = time.time()
            refusals = len(refused_at)
            while refusals < len(probes):
                message = json.loads(udp.recv(1024))
                if message.get("refused") == index:
                    refused_at.append(message["at"])
                    refusals += 1
            results[how].append(max(0.0, max(refused_at) - returned) * 1000)
        return {"engine": engine, "results": results, "workers": len(probes)}
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(30)
        bus.close()
        manager.close()
        udp.close()


def table(runs: list[dict[str, Any]]) -> str:
    lines = [
        "| back end | revoked through | revokes | p50 ms | p99 ms | max ms |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for run in runs:
        for how, values in run["results"].items():
            if values:
                lines.append(
                    f"| {run['engine']} | {how} | {len(values)} | "
                    f"{statistics.median(values):.1f} | {_percentile(values, 0.99):.1f} | "
                    f"{max(values):.1f} |"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.revocation", description=__doc__)
    parser.add_argument("--engine", choices=sorted(ENGINES), action="append")
    parser.add_argument("--revokes", type=int, default=500, help="through TokenManager")
    parser.add_argument("--cli-revokes", type=int, default=50, help="through the CLI")
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    runs = [
        run_engine(engine, ENGINES[engine], args.revokes, args.cli_revokes)
        for engine in (args.engine or sorted(ENGINES))
    ]
    text = table(runs) + f"\n\n{2 * WORKERS} workers (4 uvicorn, 4 gunicorn --preload).\n"
    print(text)
    if args.output:
        args.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
