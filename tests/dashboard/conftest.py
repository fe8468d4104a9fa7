"""Fixtures for the dashboard tests: one registry, both frameworks' apps around it.

Callers are OAuth principals from a small table verifier of the test's own (kind
``"oauth"``), and client tokens from the registry's own TokenManager; one fake clock
drives the manager and the guard, so grace periods can be run out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bearerguard import ClientTokenVerifier, Guard, Principal, Rule, UnauthenticatedError
from bearerguard.dashboard import (
    ApplicationRegistry,
    ManagementAPI,
    ManagementEvent,
    MemoryApplicationStore,
    SecretBox,
    SQLiteApplicationStore,
    new_secret_key,
)
from bearerguard.stores import MemoryTokenStore, SQLiteTokenStore
from bearerguard.tokens import TokenManager

KNOWN_SCOPES = ["payments.create", "payments.get", "payments.user-instructions.get", "*"]
MANAGE = "applications.manage"
# OAuth access tokens of the test's identity provider: token -> (subject, scopes).
OAUTH = {
    "oauth-merchant-1": ("merchant-1", [MANAGE]),
    "oauth-merchant-2": ("merchant-2", [MANAGE]),
    "oauth-no-scope": ("merchant-1", ["payments.get"]),
    "oauth-star": ("merchant-1", ["*"]),  # an identity provider's "*" is a plain string
}


class OAuthTable:
    """A verifier of kind "oauth" over the OAUTH table (the test's identity provider)."""

    kind = "oauth"

    def accepts(self, token: str) -> bool:
        return token.startswith("oauth-")

    def verify(self, token: str) -> Principal:
        if token not in OAUTH:
            raise UnauthenticatedError()
        subject, scopes = OAUTH[token]
        return Principal(kind="oauth", subject=subject, scopes=scopes, literal_scopes=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Dashboard:
    """One registry, its API, and a client for one framework's app."""

    framework: str
    clock: Clock
    registry: ApplicationRegistry
    api: ManagementAPI
    guard: Guard
    call: Callable[..., Reply]
    events: list[ManagementEvent] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)

    def create_application(self, name: str = "Web shop", token: str = "oauth-merchant-1") -> Any:
        reply = self.call("POST", "/api/applications", token, {"name": name})
        assert reply.status == 201, reply.body
        return reply.json()

    def create_token(self, client_id: str, **body: Any) -> Any:
        body.setdefault("label", "Checkout server")
        body.setdefault("scopes", ["payments.create", "payments.get"])
        reply = self.call("POST", f"/api/applications/{client_id}/tokens", "oauth-merchant-1", body)
        assert reply.status == 201, reply.body
        return reply.json()

    def checkout(self, token: str) -> int:
        return self.call("POST", "/checkout", token, {}, prefix="").status


def _apps(api: ManagementAPI, guard: Guard) -> dict[str, Callable[[], Any]]:
    def starlette() -> Any:
        from fastapi import FastAPI
        from starlette.testclient import TestClient

        from bearerguard.dashboard.starlette import router
        from bearerguard.starlette import BearerGuardMiddleware

        app = FastAPI()
        app.add_middleware(BearerGuardMiddleware, guard=guard)

        @app.post("/checkout", status_code=201)
        async def checkout() -> dict[str, str]:
            return {"status": "paid"}

        app.mount(api.prefix, router(api))
        client = TestClient(app)

        def call(method: str, path: str, headers: dict[str, str], content: bytes | None) -> Any:
            response = client.request(
                method,
                "http://testserver" + path,
                headers=headers,
                content=content,
                follow_redirects=False,
            )
            return response.status_code, dict(response.headers), response.content

        return call

    def flask() -> Any:
        from flask import Flask

        from bearerguard.dashboard.flask import blueprint
        from bearerguard.werkzeug import BearerGuardMiddleware

        app = Flask(__name__)
        app.wsgi_app = BearerGuardMiddleware(app.wsgi_app, guard)  # type: ignore[method-assign]

        @app.post("/checkout")
        def checkout() -> Any:
            return {"status": "paid"}, 201

        app.register_blueprint(blueprint(api))
        client = app.test_client()

        def call(method: str, path: str, headers: dict[str, str], content: bytes | None) -> Any:
            response = client.open(
                "http://localhost" + path, method=method, headers=headers, data=content
            )
            return response.status_code, dict(response.headers.items()), response.get_data()

        return call

    return {"starlette": starlette, "flask": flask}


FRAMEWORKS = ["starlette", "flask"]


@pytest.fixture
def make_dashboard(tmp_path: Path) -> Iterator[Callable[..., Dashboard]]:
    managers: list[TokenManager] = []

    def make(
        framework: str,
        *,
        sqlite: bool = False,
        revocation_bus: Any = None,
        on_decision: Any = None,
        **api_kwargs: Any,
    ) -> Dashboard:
        clock = Clock()
        if sqlite:
            path = tmp_path / "payments.db"
            token_store: Any = SQLiteTokenStore(path)
            app_store: Any = SQLiteApplicationStore(path)
        else:
            token_store, app_store = MemoryTokenStore(), MemoryApplicationStore()
        manager = TokenManager(
            token_store,
            prefix="pay_live_",
            known_scopes=KNOWN_SCOPES,
            clock=clock,
            last_used_interval=1.0,
            revocation_bus=revocation_bus,
        )
        managers.append(manager)
        events: list[ManagementEvent] = []
        registry = ApplicationRegistry(
            app_store, manager, SecretBox(new_secret_key()), on_event=events.append
        )
        api = ManagementAPI(registry, **api_kwargs)
        guard = Guard(
            [ClientTokenVerifier(manager), OAuthTable()],
            rules=[Rule("POST", "/checkout", scopes=["payments.create"], kinds=["client"])],
            public_paths=api.public_paths,
            timer=clock,
            clock=clock,
            revocation_bus=revocation_bus,
            on_decision=on_decision,
        )
        raw = _apps(api, guard)[framework]()
        dashboard: Dashboard

        def call(
            method: str,
            path: str,
            token: str | None = None,
            body: Any = None,
            *,
            prefix: str | None = None,
            content: bytes | None = None,
            headers: dict[str, str] | None = None,
        ) -> Reply:
            sent = dict(headers or {})
            if token is not None:
                sent["Authorization"] = f"Bearer {token}"
            if body is not None:
                content = json.dumps(body).encode()
                sent.setdefault("Content-Type", "application/json")
            base = api.prefix if prefix is None else prefix
            status, answered, data = raw(method, base + path, sent, content)
            reply = Reply(status, {name.lower(): value for name, value in answered.items()}, data)
            dashboard.replies.append(reply)
            return reply

        dashboard = Dashboard(framework, clock, registry, api, guard, call, events)
        return dashboard

    yield make
    for manager in managers:
        manager.close()


@pytest.fixture(params=FRAMEWORKS)
def dashboard(
    request: pytest.FixtureRequest, make_dashboard: Callable[..., Dashboard]
) -> Dashboard:
    return make_dashboard(request.param)
