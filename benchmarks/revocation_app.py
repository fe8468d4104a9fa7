"""The example apps with a probe in each worker, for ``python -m benchmarks.revocation``.

``benchmarks.revocation_app:fastapi_app`` (uvicorn) and ``:flask_app`` (gunicorn) are
the examples as they are, built with ``PAYMENTS_BUS`` set. The probe is a thread in
every worker that asks that worker's own guard, as a request would, whether the
token under test is still accepted, and reports over UDP to the benchmark the moment
it is refused: the only way to know that *every* worker refuses, since a load
balancer picks the worker of each HTTP request.

Protocol (one JSON datagram each): a probe says ``ready`` with its pid and UDP port;
the benchmark says ``watch i``; the probe checks token ``i`` is accepted (cached),
acks, then checks it every millisecond until refused and reports the wall-clock time.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
sys.path.insert(0, str(EXAMPLES))

import payments  # noqa: E402

if os.environ.get("BENCH_KEY"):
    # One signing key for every worker and the benchmark, so its JWTs verify here.
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    payments._SIGNING_KEY = load_pem_private_key(  # type: ignore[assignment]
        Path(os.environ["BENCH_KEY"]).read_bytes(), password=None
    )

_guards: list[Any] = []
_build_guard = payments.build_guard


def _capturing_build_guard(*args: Any, **kwargs: Any) -> Any:
    guard = _build_guard(*args, **kwargs)
    _guards.append(guard)
    return guard


payments.build_guard = _capturing_build_guard  # type: ignore[assignment]


def _probe() -> None:
    from bearerguard import UnauthenticatedError

    guard = _guards[-1]
    tokens = Path(os.environ["BENCH_TOKENS"]).read_text().split()
    driver = ("127.0.0.1", int(os.environ["BENCH_PORT"]))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))

    def send(document: dict[str, Any]) -> None:
        sock.sendto(json.dumps(document).encode(), driver)

    def accepted(token: str) -> bool:
        try:
            guard.authenticate(f"Bearer {token}")
        except UnauthenticatedError:
            return False
        except Exception:
            return True  # cannot decide (503): not a refusal
        return True

    send({"ready": os.getpid(), "port": sock.getsockname()[1]})
    while True:
        index = json.loads(sock.recv(1024))["watch"]
        token = tokens[index]
        send({"watching": index, "pid": os.getpid(), "cached": accepted(token)})
        while accepted(token):
            time.sleep(0.001)
        send({"refused": index, "pid": os.getpid(), "at": time.time()})


def _start_probe() -> None:
    threading.Thread(target=_probe, name="bench-probe", daemon=True).start()


if os.environ.get("BENCH_SERVER") == "gunicorn":
    import flask_app as _flask  # built in the master (--preload); probes start per worker

    os.register_at_fork(after_in_child=_start_probe)
    flask_app = _flask.app
else:
    import fastapi_app as _fastapi

    fastapi_app = _fastapi.app
    _start_probe()
