"""The pytest plugin: its fixtures arrive through the pytest11 entry point."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bearerguard.testing import LocalIssuer

SUITE = """
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bearerguard import Guard
from bearerguard.starlette import BearerGuardMiddleware


async def hello(request):
    return PlainTextResponse(request.user.principal.subject)


def app_for(guard):
    app = Starlette(routes=[Route("/", hello)])
    app.add_middleware(BearerGuardMiddleware, guard=guard)
    return TestClient(app)


def test_local_issuer(local_issuer):
    guard = Guard([local_issuer.verifier()])
    token = local_issuer.mint("payments.get", subject="carol")
    assert app_for(guard).get("/", headers={"Authorization": f"Bearer {token}"}).text == "carol"
"""

# One guard for two tests: the second sees what the first left (nothing).
TEARDOWN = """
from bearerguard import Guard, Principal, StaticTokenVerifier

GUARD = Guard([StaticTokenVerifier({"dev-token": ["a"]})])


def test_first(act_as):
    act_as(GUARD, Principal(kind="oauth", subject="dave"))
    assert len(GUARD.verifiers) == 2


def test_second():
    assert len(GUARD.verifiers) == 1
"""


def run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # A directory of its own: no pyproject.toml, so the entry point is what loads it.
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_entry_point_provides_the_fixtures(tmp_path: Path) -> None:
    (tmp_path / "test_suite.py").write_text(SUITE)
    (tmp_path / "test_teardown.py").write_text(TEARDOWN)
    result = run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
    disabled = run_pytest(tmp_path, "-p", "no:bearerguard")
    assert disabled.returncode == 1
    assert "fixture 'local_issuer' not found" in disabled.stdout


def test_local_issuer_fixture_is_one_issuer_per_session(local_issuer: LocalIssuer) -> None:
    assert isinstance(local_issuer, LocalIssuer)
    assert local_issuer.verifier().verify(local_issuer.mint("a")).scopes == {"a"}
