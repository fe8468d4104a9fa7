"""The README's quick starts are copy-paste runnable, and its commands are the real ones."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _block(heading: str) -> str:
    section = README.split(f"## {heading}", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None
    return match.group(1)


def _run(source: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(source, "README.md", "exec"), namespace)  # noqa: S102 - our own README
    return namespace


def test_quick_starts_are_short() -> None:
    for heading in ("FastAPI quick start", "Flask quick start"):
        assert len(_block(heading).strip().splitlines()) <= 20


def test_fastapi_quick_start_runs() -> None:
    app = _run(_block("FastAPI quick start"))["app"]
    with TestClient(app) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/docs").status_code == 200
        ok = client.get("/api/payment/1", headers={"Authorization": "Bearer dev-token"})
        assert ok.status_code == 200
        assert ok.json()["id"] == "1"
        assert client.get("/api/payment/1").status_code == 401
        wrong = client.get("/api/payment/1", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_token"


def test_flask_quick_start_runs() -> None:
    client = _run(_block("Flask quick start"))["app"].test_client()
    assert client.get("/health").json == {"status": "ok"}
    ok = client.get("/api/payment/1", headers={"Authorization": "Bearer dev-token"})
    assert ok.status_code == 200
    assert ok.json["caller"].startswith("static_")
    assert client.get("/api/payment/1").status_code == 401


def test_rules_example_builds_a_guard() -> None:
    guard = _run(_block("Declaring what routes need"))["guard"]
    assert guard.requirement("POST", "//api/payment/checkout/").scopes == ("payments.create",)
    assert guard.requirement("GET", "/health").public


def test_a_token_the_readme_cli_makes_is_accepted_by_the_readme_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    section = README.split("**CLI.**", 1)[1].split("**Advice.**", 1)[0]
    toml = re.search(r"```toml\n(.*?)```", section, re.S)
    shell = re.search(r"```sh\n(.*?)```", section, re.S)
    assert toml is not None
    assert shell is not None
    (tmp_path / "pyproject.toml").write_text(toml.group(1))
    lines = shell.group(1).strip().splitlines()
    script = Path(sys.executable).with_name("bearerguard")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BEARERGUARD_")}

    def run(line: str, **names: str) -> str:
        for name, value in names.items():
            line = line.replace(name, value)
        command = shlex.split(line)
        assert command[0] == "bearerguard"
        done = subprocess.run(
            [str(script), *command[1:]], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, (line, done.stderr)
        return done.stdout

    client_id = run(lines[0]).strip()
    token = run(lines[1], ID=client_id).splitlines()[-1]
    typo = lines[1].replace("payments.create", "payments.craete").replace("ID", client_id)
    refused = subprocess.run(
        [str(script), *shlex.split(typo)[1:]], cwd=tmp_path, env=env, capture_output=True
    )
    assert refused.returncode == 2  # the configured scopes catch a typo

    monkeypatch.chdir(tmp_path)
    app = _run(_block("Client tokens"))  # the README's app, in the same folder
    capsys.readouterr()
    principal = app["guard"].authenticate(f"Bearer {token}")
    assert principal.client_id == client_id
    assert principal.scopes == frozenset({"payments.create"})
    token_id = principal.token_id or ""
    assert token_id in run(lines[2])
    assert "status:    active" in run(lines[3], **{"tok_…": token_id})
    rotated = run(lines[4], **{"tok_…": token_id})
    successor = rotated.splitlines()[-1]
    assert app["guard"].authenticate(f"Bearer {successor}").client_id == client_id
    assert "rotated" in run(lines[2])
    new_id = app["guard"].authenticate(f"Bearer {successor}").token_id or ""
    run(lines[5], **{"tok_…": new_id})
    assert "Nothing to prune" in run(lines[6])
    app["manager"].close()


CI_SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "run"


def test_readme_commands_exist() -> None:
    assert "python3 dev.py demo" in README
    assert "python3 dev.py test" in README


# The repository's CI script and dev.py are not in the sdist, whose tests must pass too.
@pytest.mark.skipif(not CI_SCRIPT.exists(), reason=".ci/run is in the repository, not the sdist")
def test_ci_runs_the_readme_test_command() -> None:
    assert "python3 dev.py test" in CI_SCRIPT.read_text()


def test_client_tokens_example_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    namespace = _run(_block("Client tokens"))
    token = namespace["issued"].token
    assert capsys.readouterr().out.strip() == token
    principal = namespace["guard"].authenticate(f"Bearer {token}")
    assert principal.kind == "client"
    assert principal.scopes == frozenset({"payments.create"})
    assert token.encode() not in (tmp_path / "bearerguard.db").read_bytes()
    namespace["manager"].close()


def test_discovery_example_builds_a_guard_that_serves_its_metadata() -> None:
    guard = _run(_block("Discovery and resource metadata"))["guard"]
    metadata = guard.resource_metadata
    assert metadata.url == "https://payments.example/.well-known/oauth-protected-resource/api"
    assert metadata.document["authorization_servers"] == ["https://id.example.com/"]
    assert metadata.document["scopes_supported"] == ["payments.get"]
    assert guard.requirement("GET", "/.well-known/oauth-protected-resource/api").public


# -- the quick starts as written, under the servers they name ---------------------------------

BIN = Path(sys.executable).parent
STARTUP_SECONDS = 20.0


def _section(heading: str) -> str:
    return README.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]


def _commands(heading: str) -> list[str]:
    """The server commands the section names: `Run it with `...` (or `...`)`."""
    sentence = _section(heading).split("Run it with ", 1)[1].split("\n\n", 1)[0]
    return re.findall(r"`([^`]+)`", sentence)


def _curl_lines(heading: str) -> list[str]:
    match = re.search(r"```sh\n(.*?)```", _section(heading), re.S)
    assert match is not None
    lines = match.group(1).strip().splitlines()
    assert all(line.startswith("curl ") for line in lines)
    return lines


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def _serving(tmp_path: Path, heading: str, command: str) -> Iterator[int]:
    """Save the section's app as app.py and run ``command`` there, on a free port."""
    (tmp_path / "app.py").write_text(_block(heading))
    port = _free_port()
    argv = shlex.split(command)
    if "--port" in argv:
        argv[argv.index("--port") + 1] = str(port)
    elif argv[0] == "uvicorn":
        argv += ["--port", str(port)]
    elif argv[0] == "gunicorn":
        argv += ["--bind", f"127.0.0.1:{port}"]
    argv[0] = str(BIN / argv[0])
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert process.poll() is None, log.read_text()
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            assert time.monotonic() < deadline, f"{command} did not listen: {log.read_text()}"
            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert "Traceback" not in log.read_text()


def _curl(line: str, port: int) -> str:
    line = line.replace("localhost:8000", f"localhost:{port}")
    done = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, (line, done.stderr)
    return done.stdout


def _get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _assert_curl_lines(heading: str, port: int) -> None:
    granted, refused, health = (_curl(line, port) for line in _curl_lines(heading))
    body = json.loads(granted)
    assert body["id"] == "1"
    assert body["caller"].startswith("static_")
    head, _, rest = refused.replace("\r\n", "\n").partition("\n\n")
    assert head.startswith("HTTP/1.1 401")
    assert 'www-authenticate: bearer realm="api"' in head.lower()
    assert json.loads(rest) == {"message": "Unauthenticated"}
    assert json.loads(health) == {"status": "ok"}


@pytest.mark.server
def test_fastapi_quick_start_under_uvicorn_as_written(tmp_path: Path) -> None:
    (command,) = _commands("FastAPI quick start")
    assert command == "uvicorn app:app"
    with _serving(tmp_path, "FastAPI quick start", command) as port:
        _assert_curl_lines("FastAPI quick start", port)
        status, page = _get(port, "/docs")
        assert status == 200
        assert b"swagger-ui" in page
        status, schema = _get(port, "/openapi.json")
        assert status == 200
        document = json.loads(schema)
        operation = document["paths"]["/api/payment/{payment_id}"]["get"]
        assert operation["security"] == [{"BearerGuard": ["payments.get"]}]
        assert {"401", "403"} <= set(operation["responses"])
        assert "security" not in document["paths"]["/health"]["get"]
        assert _get(port, "/api/payment/1")[0] == 401


@pytest.mark.server
@pytest.mark.parametrize("server", ["flask", "gunicorn"])
def test_flask_quick_start_under_its_servers_as_written(tmp_path: Path, server: str) -> None:
    commands = {command.split()[0]: command for command in _commands("Flask quick start")}
    assert set(commands) == {"flask", "gunicorn"}
    with _serving(tmp_path, "Flask quick start", commands[server]) as port:
        _assert_curl_lines("Flask quick start", port)
