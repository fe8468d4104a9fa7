"""The README's dashboard snippet runs where it stands, after the client-token one."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from bearerguard.dashboard import new_secret_key

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def _first_block(heading: str) -> str:
    match = re.search(r"```python\n(.*?)```", README.split(f"## {heading}", 1)[1], re.S)
    assert match is not None
    return match.group(1)


def test_the_dashboard_snippet_serves_the_page_and_guards_the_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # the snippets make bearerguard.db here
    monkeypatch.setenv("BEARERGUARD_SECRET_KEY", new_secret_key())
    namespace: dict[str, Any] = {"__name__": "readme_dashboard"}
    exec(compile(_first_block("Client tokens"), "README.md", "exec"), namespace)  # noqa: S102
    exec(compile(_first_block("The dashboard"), "README.md", "exec"), namespace)  # noqa: S102
    capsys.readouterr()  # the client-token snippet prints its token

    client = TestClient(namespace["app"])
    assert client.get("/dashboard/").status_code == 200
    assert client.get("/dashboard/api/applications").status_code == 401
    namespace["manager"].close()
