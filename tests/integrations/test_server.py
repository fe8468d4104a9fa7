"""Real servers on 127.0.0.1: uvicorn with the FastAPI example, werkzeug with the Flask one.

What only a socket shows: how the server hands over repeated ``Authorization`` headers
(H-10 under ASGI, joined with a comma under WSGI: H-11), big headers (H-13), raw
non-ASCII bytes (H-12) and percent-encoded paths (P-02/P-03). Every answer is
400/401/200 as the contract says, never a 500, and the server logs no traceback.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
STARTUP_SECONDS = 20.0
MISSING = b'{"message":"Unauthenticated"}'
BAD_CHARS = b"The bearer token has characters outside RFC 6750 b64token"
# Raw Authorization bytes sent over a socket to uvicorn: (id, value, status, body part).
UVICORN_RAW = [
    ("latin1", b"Bearer t\xe9k", 400, BAD_CHARS),
    ("utf8", "Bearer tök".encode(), 400, BAD_CHARS),
    ("ff", b"Bearer \xff\xfe\xfd", 400, BAD_CHARS),
    # h11 refuses DEL and NUL in a field value itself: the app is never called.
    ("del", b"Bearer t\x7fk", 400, None),
    ("nul", b"Bearer t\x00k", 400, None),
    ("no-scheme", b"\xe9\xe9 \xe9", 401, MISSING),
]


class Server:
    """A server process or thread and its address."""

    def __init__(self, host: str, port: int, log: list[str]) -> None:
        self.host, self.port, self.log = host, port, log

    def request(
        self,
        method: str,
        path: str,
        headers: list[tuple[str, str]] = (),  # type: ignore[assignment]
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
        try:
            connection.putrequest(method, path, skip_accept_encoding=True)
            for name, value in headers:
                connection.putheader(name, value)
            connection.endheaders()
            response = connection.getresponse()
            body = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body
        finally:
            connection.close()

    def raw(self, request: bytes) -> tuple[int, bytes]:
        """Send bytes as they are; the status and body of the answer."""
        with socket.create_connection((self.host, self.port), timeout=10) as conn:
            conn.sendall(request)
            chunks = []
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        data = b"".join(chunks)
        status_line, _, rest = data.partition(b"\r\n")
        return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def _read_lines(process: subprocess.Popen[str], lines: queue.Queue[str], log: list[str]) -> None:
    assert process.stderr is not None
    for line in process.stderr:
        log.append(line)
        lines.put(line)


@contextlib.contextmanager
def _server_process(argv: list[str], listening: str) -> Iterator[Server]:
    """Start a server on port 0 and learn its port from its log (bounded wait)."""
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT
    )
    log: list[str] = []
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(process, lines, log), daemon=True)
    reader.start()
    deadline = time.monotonic() + STARTUP_SECONDS
    port = None
    try:
        while port is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or process.poll() is not None:
                pytest.fail(f"{argv[2]} did not start:\n" + "".join(log))
            try:
                line = lines.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            found = re.search(listening + r" http://127\.0\.0\.1:(\d+)", line)
            if found:
                port = int(found.group(1))
        yield Server("127.0.0.1", port, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
            process.kill()
            process.wait(timeout=10)
        reader.join(timeout=5)
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture
def uvicorn_server() -> Iterator[Server]:
    # A process per test (about a second to start), so one test gets it all.
    argv = [sys.executable, "-m", "uvicorn", "fastapi_app:app", "--app-dir", str(EXAMPLES)]
    argv += ["--host", "127.0.0.1", "--port", "0", "--no-access-log"]
    with _server_process(argv, "running on") as server:
        yield server


@pytest.fixture
def gunicorn_server() -> Iterator[Server]:
    pytest.importorskip("gunicorn")
    argv = [sys.executable, "-m", "gunicorn", "--chdir", str(EXAMPLES), "--workers", "1"]
    argv += ["--bind", "127.0.0.1:0", "flask_app:app"]
    with _server_process(argv, "Listening at:") as server:
        yield server


@pytest.fixture
def werkzeug_server() -> Iterator[Server]:
    from werkzeug.serving import make_server

    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    import flask_app

    log: list[str] = []
    app = flask_app.create_app()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield Server("127.0.0.1", server.server_port, log)
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def _assert_contract(status: int, body: bytes) -> None:
    assert status in (200, 400, 401, 403), body
    json.loads(body)
    assert b"Traceback" not in body


def _tokens() -> dict[str, str]:
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    import payments

    return {"readonly": payments.READONLY_TOKEN, "checkout": payments.CHECKOUT_TOKEN}


def _readonly_id() -> str:
    """The public id of the example's read-only client token (its principal's subject)."""
    import payments

    manager = payments.token_manager()
    tokens = payments.demo_tokens()
    (record,) = [r for r in manager.list() if r.label == "Reporting job"]
    assert tokens.readonly not in repr(record)
    return record.id


# -- uvicorn (ASGI) ----------------------------------------------------------------------


def test_uvicorn_answers(uvicorn_server: Server) -> None:
    tokens = _tokens()
    readonly = [("Authorization", f"Bearer {tokens['readonly']}")]
    checkout = [("Authorization", f"Bearer {tokens['checkout']}")]
    server = uvicorn_server

    status, headers, body = server.request("GET", "/api/payment/pay_1", readonly)
    assert (status, json.loads(body)["viewer"]) == (200, _readonly_id())

    status, headers, body = server.request("GET", "/api/payment/pay_1")
    assert (status, body) == (401, MISSING)
    assert headers["www-authenticate"] == 'Bearer realm="api"'
    assert headers["cache-control"] == "no-store"

    status, headers, body = server.request("HEAD", "/api/payment/pay_1")
    assert (status, body) == (401, b"")
    assert headers["content-length"] == str(len(MISSING))

    # H-10: two header lines reach the app as two entries: 400, never the first one.
    status, _, body = server.request("GET", "/api/payment/pay_1", readonly + checkout)
    assert status == 400
    assert json.loads(body)["error_description"] == "More than one Authorization header"

    # H-13: a 9 KB token is refused before any parsing.
    status, _, body = server.request(
        "GET", "/api/payment/pay_1", [("Authorization", "Bearer " + "a" * 9000)]
    )
    assert status == 401
    assert json.loads(body)["error_description"] == "The access token is too long"
    assert b"aaaaaaaaa" not in body

    # P-02/P-03: decided on the path the server decodes.
    assert server.request("GET", "/heal%74h")[0] == 200
    assert server.request("GET", "/health%3F/x")[0] == 401
    assert server.request("GET", "/api/pay%6Dent/pay_1")[0] == 401
    assert server.request("POST", "//api/payment/checkout/")[0] == 401

    assert server.request("GET", "/health")[0] == 200

    # H-12: raw bytes; 400 from bearerguard or from the server's parser, never 500.
    for case_id, value, status, expected in UVICORN_RAW:
        got, body = server.raw(
            b"GET /api/payment/pay_1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
            b"Authorization: " + value + b"\r\n\r\n"
        )
        assert got == status, case_id
        assert expected is None or expected in body, case_id
        assert b"Traceback" not in body

    assert "Traceback" not in "".join(server.log)


# -- werkzeug (WSGI) ---------------------------------------------------------------------


def test_werkzeug_server_answers(werkzeug_server: Server) -> None:
    import payments

    server = werkzeug_server
    oauth = [("Authorization", f"Bearer {payments.mint_access_token(['payments.get'])}")]
    readonly = [("Authorization", f"Bearer {payments.READONLY_TOKEN}")]

    status, _, body = server.request("GET", "/api/payment/pay_1", oauth)
    assert (status, json.loads(body)["viewer"]) == (200, "user-42")

    status, headers, body = server.request("GET", "/api/payment/pay_1")
    assert (status, body) == (401, MISSING)
    assert headers["www-authenticate"] == 'Bearer realm="api"'

    # H-11: the server joins the two lines with a comma: malformed, 400.
    status, _, body = server.request("GET", "/api/payment/pay_1", oauth + readonly)
    assert status == 400
    assert json.loads(body)["error"] == "invalid_request"

    status, _, body = server.request(
        "GET", "/api/payment/pay_1", [("Authorization", "Bearer " + "a" * 9000)]
    )
    assert status == 401
    assert json.loads(body)["error_description"] == "The access token is too long"

    assert server.request("GET", "/heal%74h")[0] == 200
    assert server.request("GET", "/health%3F/x")[0] == 401


@pytest.mark.parametrize(
    ("value", "status", "expected"),
    [
        pytest.param(b"Bearer t\xe9k", 400, BAD_CHARS, id="latin1"),
        pytest.param("Bearer tök".encode(), 400, BAD_CHARS, id="utf8"),
        pytest.param(b"Bearer t\x7fk", 400, BAD_CHARS, id="del"),
        pytest.param(b"\xe9\xe9 \xe9", 401, MISSING, id="no-scheme"),
    ],
)
def test_werkzeug_server_raw_bytes_in_authorization(
    werkzeug_server: Server, value: bytes, status: int, expected: bytes
) -> None:
    # The server decodes header bytes as latin-1 (PEP 3333 native strings).
    request = (
        b"GET /api/payment/pay_1 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Authorization: " + value + b"\r\n\r\n"
    )

    got, body = werkzeug_server.raw(request)

    assert got == status
    assert expected in body
    _assert_contract(got, body)


def test_gunicorn_joins_repeated_headers_and_we_refuse_them(gunicorn_server: Server) -> None:
    tokens = _tokens()
    readonly = [("Authorization", f"Bearer {tokens['readonly']}")]
    checkout = [("Authorization", f"Bearer {tokens['checkout']}")]

    status, _, body = gunicorn_server.request("GET", "/api/payment/pay_1", readonly)
    assert (status, json.loads(body)["viewer"]) == (200, _readonly_id())
    # H-11: gunicorn joins the two lines as "Bearer a,Bearer b".
    status, _, body = gunicorn_server.request("GET", "/api/payment/pay_1", readonly + checkout)
    assert status == 400
    assert json.loads(body)["error"] == "invalid_request"
    # H-13: gunicorn's own field limit (8190 bytes) answers before the app, with its own
    # 431 (Request Header Fields Too Large) or 400; never 500.
    status, _, _ = gunicorn_server.request(
        "GET", "/api/payment/pay_1", [("Authorization", "Bearer " + "a" * 9000)]
    )
    assert status in (400, 431)
    status, _, body = gunicorn_server.request(
        "GET", "/api/payment/pay_1", [("Authorization", "Bearer " + "a" * 5000)]
    )
    assert status == 401
    assert json.loads(body)["error_description"] == "The access token is too long"
    assert "Traceback" not in "".join(gunicorn_server.log)
