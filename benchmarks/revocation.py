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


def _jwts(work: Path, count: int) -> list[str]:
    import jwt
    import payments
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (work / "key.pem").write_bytes(pem)
    payments._SIGNING_KEY = key  # this process's guard verifies them too
    now = int(time.time())
    claims = {"iss": payments.ISSUER, "aud": payments.AUDIENCE, "client_id": "dashboard"}
    return [
        jwt.encode(
            {
                **claims,
                "sub": f"user-{i}",
                "scope": "payments.get",
                "iat": now,
                "exp": now + 3600,
                "jti": f"bench-{now}-{i}",
            },
            key,
            algorithm="RS256",
            headers={"kid": "dev-1"},
        )
        for i in range(count)
    ]


def run_engine(
    engine: str, url: str, revokes: int, cli_revokes: int, jwt_revokes: int
) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "examples"))
    import payments

    from bearerguard import ClientTokenVerifier, Guard, JWTVerifier
    from bearerguard.revocation import open_bus
    from bearerguard.stores import open_store
    from bearerguard.tokens import TokenManager

    work = Path(tempfile.mkdtemp(prefix="bearerguard-bench-"))
    store_url = f"sqlite:///{work / 'payments.db'}"
    bus = open_bus(url)
    manager = TokenManager(
        open_store(store_url),
        prefix=payments.TOKEN_PREFIX,
        known_scopes=payments.KNOWN_SCOPES,
        revocation_bus=bus,
    )
    issued = [
        manager.issue(
            client_id=payments.APPLICATION_ID, label=f"bench {i}", scopes=["payments.get"]
        )
        for i in range(revokes + cli_revokes)
    ]
    jwts = _jwts(work, jwt_revokes)
    revoker = Guard(
        [
            ClientTokenVerifier(manager),
            JWTVerifier(
                key=payments._SIGNING_KEY.public_key(),
                algorithms=["RS256"],
                issuer=payments.ISSUER,
                audience=payments.AUDIENCE,
            ),
        ],
        revocation_bus=bus,
    )
    tokens = [i.token for i in issued] + jwts
    (work / "tokens").write_text("\n".join(tokens))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    udp.settimeout(30)
    env = {
        **os.environ,
        "PAYMENTS_STORE": store_url,
        "PAYMENTS_BUS": url,
        "BENCH_TOKENS": str(work / "tokens"),
        "BENCH_PORT": str(udp.getsockname()[1]),
        "BENCH_KEY": str(work / "key.pem"),
    }
    servers = _servers(env)
    try:
        probes: dict[int, int] = {}
        while len(probes) < 2 * WORKERS:
            message = json.loads(udp.recv(1024))
            if "ready" in message:
                probes[message["ready"]] = message["port"]
        time.sleep(2.0)  # every worker's subscription is up
        results: dict[str, list[float]] = {"TokenManager": [], "CLI": [], "Guard.revoke (JWT)": []}
        for index, token in enumerate(tokens):
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
            if index < revokes:
                how = "TokenManager"
                manager.revoke(issued[index].record.id)
            elif index >= len(issued):
                how = "Guard.revoke (JWT)"
                revoker.revoke(token)
            else:
                how = "CLI"
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "bearerguard",
                        "tokens",
                        "revoke",
                        issued[index].record.id,
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


BEGIN = (
    "<!-- revocation: written by python -m benchmarks.revocation --output docs/benchmarks.md -->"
)
END = "<!-- /revocation -->"


def replace_section(page: str, section: str) -> str:
    """``page`` with its revocation section replaced (appended when it has none)."""
    begin, end = page.find(BEGIN), page.find(END)
    if begin < 0 or end < begin:
        return page.rstrip("\n") + "\n\n" + section + "\n"
    return page[:begin] + section + page[end + len(END) :]


def carry(old_page: str, new_page: str) -> str:
    """``new_page`` with the revocation section of ``old_page``, when it had one."""
    begin, end = old_page.find(BEGIN), old_page.find(END)
    if begin < 0 or end < begin:
        return new_page
    return replace_section(new_page, old_page[begin : end + len(END)])


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
    parser.add_argument("--jwt-revokes", type=int, default=100, help="JWTs, Guard.revoke")
    parser.add_argument("--output", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    runs = [
        run_engine(engine, ENGINES[engine], args.revokes, args.cli_revokes, args.jwt_revokes)
        for engine in (args.engine or sorted(ENGINES))
    ]
    section = "\n".join(
        [
            BEGIN,
            "## Revocation across processes",
            "",
            f"Measured by `python -m benchmarks.revocation` on {started} UTC: the FastAPI "
            f"example under uvicorn with {WORKERS} workers and the Flask example under "
            f"gunicorn `--preload` with {WORKERS} workers, on loopback, each with the bus "
            "configured. Each figure is the time from the revoke returning (in another "
            "process) until the last of the "
            f"{2 * WORKERS} workers refuses the token, checked every millisecond in each "
            "worker against its own guard; 0 means every worker refused it before the "
            "revoke returned. A command-line revoke returns when its process exits.",
            "",
            table(runs),
            END,
        ]
    )
    print(section)
    if args.output:
        page = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        args.output.write_text(replace_section(page, section), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
