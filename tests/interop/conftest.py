"""Fixtures of the interop tests: real oidc-provider processes, and the apps under test.

``python3 dev.py test`` installs oidc-provider into ``tests/interop/node_modules`` when
``node`` and ``npm`` are on the PATH. Without them these tests skip locally, with the
reason; under ``CI=true`` they fail instead, since they must run there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from ._provider import HERE, Provider, ProviderError

Call = Callable[..., tuple[int, dict[str, Any], dict[str, str]]]
"""``call(method, path, token=None, scheme="Bearer") -> (status, JSON body, headers)``."""


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not on the PATH (Node 20+ runs the oidc-provider of these tests)"
    if not (HERE / "node_modules" / "oidc-provider" / "package.json").is_file():
        return "oidc-provider is not installed in tests/interop (python3 dev.py test does it)"
    return None


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason + " (CI=true: the interop tests must run)")
    pytest.skip(reason + " (set CI=true to make this a failure)")


def _started(workdir: Path, keys_from: Provider | None = None) -> Provider:
    reason = _missing()
    if reason is not None:
        _unavailable(reason)
    provider = Provider(workdir)
    if keys_from is not None:
        # RSA key generation is most of a start on a busy machine: reuse the keys.
        shutil.copyfile(keys_from.keys_file, provider.keys_file)
    try:
        provider.start()
    except ProviderError as exc:
        _unavailable(str(exc))
    return provider


@pytest.fixture(scope="session")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """The shared provider: read-only use (tokens), never stopped or rotated by a test."""
    started = _started(tmp_path_factory.mktemp("oidc-provider"))
    yield started
    started.stop()


@pytest.fixture(scope="session")
def second_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """Another provider on another port: another issuer with other keys."""
    started = _started(tmp_path_factory.mktemp("oidc-provider-2"))
    yield started
    started.stop()


@pytest.fixture(scope="module")
def _disposable_provider(
    tmp_path_factory: pytest.TempPathFactory, provider: Provider
) -> Iterator[Provider]:
    started = _started(tmp_path_factory.mktemp("oidc-provider-own"), keys_from=provider)
    yield started
    started.stop()


@pytest.fixture
def own_provider(_disposable_provider: Provider) -> Provider:
    """A provider that the test may stop, start again or rotate keys on.

    Shared by such tests (a node start costs about a second), running when each begins;
    its own port, with a copy of the shared provider's keys at first.
    """
    _disposable_provider.start()
    return _disposable_provider


# -- the apps ---------------------------------------------------------------------


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers}


def _fastapi_call(guard: Any) -> Generator[Call, None, None]:
    from fastapi import FastAPI
    from starlette.testclient import TestClient

    from bearerguard import Principal
    from bearerguard.fastapi import require_scopes
    from bearerguard.starlette import BearerGuardMiddleware

    app = FastAPI()
    app.add_middleware(BearerGuardMiddleware, guard=guard)

    @app.get("/api/payment/{payment_id}")
    async def get_payment(
        payment_id: str, principal: Principal = require_scopes("payments.get")
    ) -> dict[str, Any]:
        return {"id": payment_id, "caller": principal.subject, "kind": principal.kind}

    @app.post("/api/payment/checkout")
    async def checkout(principal: Principal = require_scopes("payments.create")) -> dict[str, Any]:
        return {"caller": principal.subject}

    with TestClient(app) as client:

        def call(
            method: str, path: str, token: str | None = None, scheme: str = "Bearer"
        ) -> tuple[int, dict[str, Any], dict[str, str]]:
            headers = {} if token is None else {"Authorization": f"{scheme} {token}"}
            response = client.request(method, path, headers=headers)
            return response.status_code, response.json(), _lower(response.headers.items())

        yield call


def _flask_call(guard: Any) -> Generator[Call, None, None]:
    from flask import Flask

    from bearerguard.flask import current_principal, require_scopes
    from bearerguard.werkzeug import BearerGuardMiddleware

    app = Flask(__name__)
    app.wsgi_app = BearerGuardMiddleware(app.wsgi_app, guard)  # type: ignore[method-assign]

    @app.get("/api/payment/<payment_id>")
    @require_scopes("payments.get")
    def get_payment(payment_id: str) -> dict[str, Any]:
        principal = current_principal
        return {"id": payment_id, "caller": principal.subject, "kind": principal.kind}

    @app.post("/api/payment/checkout")
    @require_scopes("payments.create")
    def checkout() -> dict[str, Any]:
        return {"caller": current_principal.subject}

    client = app.test_client()

    def call(
        method: str, path: str, token: str | None = None, scheme: str = "Bearer"
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        headers = {} if token is None else {"Authorization": f"{scheme} {token}"}
        response = client.open(path, method=method, headers=headers)
        return response.status_code, response.get_json(), _lower(response.headers.items())

    yield call


@pytest.fixture(params=["fastapi", "flask"])
def serve(request: pytest.FixtureRequest) -> Iterator[Callable[[Any], Call]]:
    """``serve(guard)``: the payments app of one framework behind ``guard``, as a caller."""
    build = _fastapi_call if request.param == "fastapi" else _flask_call
    opened: list[Generator[Call, None, None]] = []

    def make(guard: Any) -> Call:
        generator = build(guard)
        opened.append(generator)
        return next(generator)

    yield make
    for generator in opened:
        generator.close()
