"""The README's quick starts are copy-paste runnable, and its commands are the real ones."""

from __future__ import annotations

import re
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
        assert len(_block(heading).strip().splitlines()) < 20


def test_fastapi_quick_start_runs() -> None:
    app = _run(_block("FastAPI quick start"))["app"]
    with TestClient(app) as client:
        assert client.get("/health").json() == {"status": "ok"}
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


def test_readme_commands_exist() -> None:
    assert "python3 dev.py demo" in README
    assert "python3 dev.py test" in README
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert "python3 dev.py test" in ci


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
