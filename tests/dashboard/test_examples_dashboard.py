"""Both example apps serve the dashboard and its development login alike."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example(name: str) -> Any:
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    return importlib.import_module(name)


def clients() -> dict[str, Any]:
    fastapi = TestClient(example("fastapi_app").create_app())
    flask = example("flask_app").create_app().test_client()

    def fastapi_call(method: str, path: str, **kwargs: Any) -> Any:
        response = fastapi.request(method, path, **kwargs)
        return response.status_code, response.headers, response.content

    def flask_call(method: str, path: str, **kwargs: Any) -> Any:
        response = flask.open(path, method=method, **kwargs)
        return response.status_code, response.headers, response.get_data()

    return {"fastapi": fastapi_call, "flask": flask_call}


@pytest.mark.parametrize("framework", ["fastapi", "flask"])
def test_the_development_login_signs_the_page_in(framework: str) -> None:
    call = clients()[framework]

    status, headers, body = call("POST", "/dev/login")

    assert status == 200
    assert headers["cache-control"] == "no-store"
    answer = json.loads(body)
    assert answer["subject"] == "merchant-1"
    bearer = {"Authorization": f"Bearer {answer['access_token']}"}
    status, _, body = call("GET", "/dashboard/api/applications", headers=bearer)
    assert status == 200
    assert isinstance(json.loads(body)["applications"], list)


@pytest.mark.parametrize("framework", ["fastapi", "flask"])
def test_the_page_names_the_login(framework: str) -> None:
    status, headers, body = clients()[framework]("GET", "/dashboard/")

    assert status == 200
    assert 'data-login-url="/dev/login"' in body.decode()
    assert "script-src 'self'" in headers["content-security-policy"]


@pytest.mark.parametrize("framework", ["fastapi", "flask"])
def test_a_demo_client_token_cannot_reach_the_dashboard_api(framework: str) -> None:
    operator = example("payments").OPERATOR_TOKEN  # scope "*", but a client token
    status, _, _ = clients()[framework](
        "GET", "/dashboard/api/applications", headers={"Authorization": f"Bearer {operator}"}
    )
    assert status == 403
