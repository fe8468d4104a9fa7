"""The management API on FastAPI (a mounted router) and Flask (a blueprint): same answers."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from bearerguard import UnauthenticatedError
from bearerguard.dashboard import ROUTES

MERCHANT = "oauth-merchant-1"
OTHER = "oauth-merchant-2"
FORBIDDEN_BODY = {"message": "Insufficient permissions", "error": "insufficient_scope"}


def day(offset: int, clock: Any) -> str:
    return (
        (datetime.fromtimestamp(clock.now, timezone.utc) + timedelta(days=offset))
        .date()
        .isoformat()
    )


def test_list_create_and_show_applications(dashboard: Any) -> None:
    assert dashboard.call("GET", "/api/applications", MERCHANT).json() == {"applications": []}

    reply = dashboard.call("POST", "/api/applications", MERCHANT, {"name": "Web shop"})

    assert reply.status == 201
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["content-type"] == "application/json"
    created = reply.json()
    assert created["webhook_secret"].startswith("whsec_")
    application = created["application"]
    assert (application["name"], application["owner"], application["status"]) == (
        "Web shop",
        "merchant-1",
        "active",
    )
    client_id = application["client_id"]
    assert dashboard.call("GET", "/api/applications", MERCHANT).json() == {
        "applications": [application]
    }
    shown = dashboard.call("GET", f"/api/applications/{client_id}", MERCHANT)
    assert shown.json() == {"application": application}
    assert dashboard.call("GET", "/api/applications", OTHER).json() == {"applications": []}
    assert dashboard.registry.webhook_secret(client_id) == created["webhook_secret"]


@pytest.mark.parametrize(
    ("content", "loc"),
    [
        (b"{}", ["body", "name"]),
        (b'{"name": ""}', ["body", "name"]),
        (b'{"name": "   "}', ["body", "name"]),
        (b'{"name": 5}', ["body", "name"]),
        (json.dumps({"name": "x" * 101}).encode(), ["body", "name"]),
        (b'{"name": "a\\u0000b"}', ["body", "name"]),
        (b"not json", ["body"]),
        (b"[1, 2]", ["body"]),
        (b"\xff\xfe", ["body"]),
        (b"[" * 100_00, ["body"]),
    ],
)
def test_a_bad_application_body_is_422_naming_the_field(
    dashboard: Any, content: bytes, loc: list[str]
) -> None:
    reply = dashboard.call(
        "POST",
        "/api/applications",
        MERCHANT,
        content=content,
        headers={"Content-Type": "application/json"},
    )

    assert reply.status == 422, reply.body
    [problem] = reply.json()["detail"]
    assert problem["loc"] == loc
    assert problem["msg"]
    assert dashboard.registry.list() == []


def test_create_token_shows_the_plaintext_once(dashboard: Any) -> None:
    client_id = dashboard.create_application()["application"]["client_id"]
    expiry = day(30, dashboard.clock)

    reply = dashboard.call(
        "POST",
        f"/api/applications/{client_id}/tokens",
        MERCHANT,
        {
            "label": "Checkout server",
            "scopes": ["payments.create", "payments.get"],
            "expires_at": expiry,
        },
    )

    assert reply.status == 201
    assert reply.headers["cache-control"] == "no-store"
    created = reply.json()
    token, record = created["token"], created["record"]
    assert dashboard.registry.tokens.is_well_formed(token)
    assert record["scopes"] == ["payments.create", "payments.get"]
    assert record["client_id"] == client_id
    assert record["status"] == "active"
    # A date: the token stops working at its start (UTC).
    assert record["expires_at"] == f"{expiry}T00:00:00+00:00"
    listed = dashboard.call("GET", f"/api/applications/{client_id}/tokens", MERCHANT)
    assert listed.json() == {"tokens": [record]}
    assert token.encode() not in listed.body
    assert dashboard.checkout(token) == 201


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"scopes": ["payments.get"]}, ["label"]),
        ({"label": "x", "scopes": []}, ["scopes"]),
        ({"label": "x", "scopes": "payments.get"}, ["scopes"]),
        ({"label": "x", "scopes": ["payments.refund"]}, ["scopes"]),
        ({"label": "x", "scopes": [1]}, ["scopes"]),
        ({"label": "x", "scopes": ["payments.get"], "expires_at": "2001-01-01"}, ["expires_at"]),
        # The fake clock's own day (2023-11-14): its start has passed.
        ({"label": "x", "scopes": ["payments.get"], "expires_at": "2023-11-14"}, ["expires_at"]),
        ({"label": "x", "scopes": ["payments.get"], "expires_at": "tomorrow"}, ["expires_at"]),
        (
            {"label": "x", "scopes": ["payments.get"], "expires_at": "2099-01-01T00:00"},
            ["expires_at"],
        ),
        ({"label": "x", "scopes": ["payments.get"], "expires_at": "9999-12-31"}, ["expires_at"]),
        ({"label": "x", "scopes": ["payments.get"], "expires_at": 1700000000}, ["expires_at"]),
        ({"label": "\n", "scopes": "x", "expires_at": "no"}, ["label", "scopes", "expires_at"]),
    ],
)
def test_a_bad_token_body_is_422_naming_each_field_and_writes_nothing(
    dashboard: Any, body: dict[str, Any], fields: list[str]
) -> None:
    client_id = dashboard.create_application()["application"]["client_id"]

    reply = dashboard.call("POST", f"/api/applications/{client_id}/tokens", MERCHANT, body)

    assert reply.status == 422, reply.body
    assert [problem["loc"] for problem in reply.json()["detail"]] == [
        ["body", field] for field in fields
    ]
    assert dashboard.registry.tokens_of(client_id) == []


def test_rotate_keeps_the_old_token_for_the_grace(dashboard: Any) -> None:
    client_id = dashboard.create_application()["application"]["client_id"]
    old = dashboard.create_token(client_id)

    reply = dashboard.call(
        "POST",
        f"/api/applications/{client_id}/tokens/{old['record']['id']}/rotate",
        MERCHANT,
        {"grace_seconds": 60},
    )

    assert reply.status == 201
    assert reply.headers["cache-control"] == "no-store"
    rotated = reply.json()
    assert rotated["record"]["label"] == old["record"]["label"]
    assert rotated["replaced"]["id"] == old["record"]["id"]
    assert dashboard.checkout(old["token"]) == 201
    assert dashboard.checkout(rotated["token"]) == 201
    dashboard.clock.now += 61
    assert dashboard.checkout(old["token"]) == 401
    assert dashboard.checkout(rotated["token"]) == 201


@pytest.mark.parametrize("grace", [-1, 30 * 86400 + 1, "1", True, 1e400])
def test_a_bad_grace_is_422(dashboard: Any, grace: Any) -> None:
    client_id = dashboard.create_application()["application"]["client_id"]
    token_id = dashboard.create_token(client_id)["record"]["id"]
    content = f'{{"grace_seconds": {json.dumps(grace) if grace != 1e400 else "1e400"}}}'.encode()

    reply = dashboard.call(
        "POST",
        f"/api/applications/{client_id}/tokens/{token_id}/rotate",
        MERCHANT,
        content=content,
        headers={"Content-Type": "application/json"},
    )

    assert reply.status == 422
    assert reply.json()["detail"][0]["loc"] == ["body", "grace_seconds"]
    assert len(dashboard.registry.tokens_of(client_id)) == 1


def test_revoke_refuses_the_token_at_once(dashboard: Any) -> None:
    client_id = dashboard.create_application()["application"]["client_id"]
    issued = dashboard.create_token(client_id)
    token_id = issued["record"]["id"]
    assert dashboard.checkout(issued["token"]) == 201  # cached by the guard

    reply = dashboard.call(
        "POST", f"/api/applications/{client_id}/tokens/{token_id}/revoke", MERCHANT
    )

    assert reply.status == 200
    assert reply.json()["record"]["status"] == "revoked"
    assert dashboard.checkout(issued["token"]) == 401
    again = dashboard.call(
        "POST", f"/api/applications/{client_id}/tokens/{token_id}/revoke", MERCHANT
    )
    assert again.json() == reply.json()
    rotate = dashboard.call(
        "POST", f"/api/applications/{client_id}/tokens/{token_id}/rotate", MERCHANT
    )
    assert rotate.status == 409
    assert "revoked" in rotate.json()["detail"]


def test_revoking_an_application_revokes_its_tokens(dashboard: Any) -> None:
    client_id = dashboard.create_application()["application"]["client_id"]
    issued = dashboard.create_token(client_id)

    reply = dashboard.call("POST", f"/api/applications/{client_id}/revoke", MERCHANT)

    assert reply.json()["application"]["status"] == "revoked"
    assert dashboard.checkout(issued["token"]) == 401
    listed = dashboard.call("GET", f"/api/applications/{client_id}/tokens", MERCHANT).json()
    assert [token["status"] for token in listed["tokens"]] == ["revoked"]
    refused = dashboard.call(
        "POST",
        f"/api/applications/{client_id}/tokens",
        MERCHANT,
        {"label": "x", "scopes": ["payments.get"]},
    )
    assert refused.status == 409
    assert len(dashboard.registry.tokens_of(client_id)) == 1


def test_rotating_the_webhook_secret_shows_the_new_one_once(dashboard: Any) -> None:
    created = dashboard.create_application()
    client_id = created["application"]["client_id"]

    reply = dashboard.call(
        "POST", f"/api/applications/{client_id}/webhook-secret", MERCHANT, {"grace_seconds": 600}
    )

    assert reply.status == 200
    assert reply.headers["cache-control"] == "no-store"
    secret = reply.json()["webhook_secret"]
    assert dashboard.registry.webhook_secrets(client_id) == (secret, created["webhook_secret"])


def _route_calls(client_id: str, token_id: str) -> list[tuple[str, str]]:
    return [
        (route.method, route.path.format(client_id=client_id, token_id=token_id))
        for route in ROUTES
        if "{client_id}" in route.path
    ]


def test_another_merchants_application_is_403_on_every_route(dashboard: Any) -> None:
    client_id = dashboard.create_application()["application"]["client_id"]
    issued = dashboard.create_token(client_id)
    before = dashboard.registry.tokens_of(client_id)

    for method, path in _route_calls(client_id, issued["record"]["id"]):
        body = {"label": "x", "scopes": ["payments.get"]} if method == "POST" else None
        reply = dashboard.call(method, path, OTHER, body)
        assert reply.status == 403, (method, path)
        assert reply.json() == {
            **FORBIDDEN_BODY,
            "required_scopes": [],
            "error_description": "The application belongs to another merchant",
        }
        assert reply.headers["www-authenticate"].startswith('Bearer realm="api"')

    assert dashboard.registry.tokens_of(client_id) == before
    assert dashboard.registry.get(client_id).status() == "active"
    assert dashboard.checkout(issued["token"]) == 201


def test_unknown_applications_and_tokens_are_404(dashboard: Any) -> None:
    client_id = dashboard.create_application()["application"]["client_id"]
    other_app = dashboard.create_application(token=OTHER)["application"]["client_id"]
    theirs = dashboard.registry.issue_token(other_app, label="x", scopes=["payments.get"])

    for method, path in _route_calls("Z" * 32, "tok_" + "0" * 20):
        assert dashboard.call(method, path, MERCHANT).status == 404, (method, path)
    for token_id in ("tok_" + "0" * 20, theirs.record.id, "pay_live_pasted"):
        for action in ("rotate", "revoke"):
            path = f"/api/applications/{client_id}/tokens/{token_id}/{action}"
            reply = dashboard.call("POST", path, MERCHANT)
            assert reply.status == 404
            assert reply.json() == {"detail": "no token with this id in this application"}
    assert dashboard.registry.token(other_app, theirs.record.id).revoked_at is None


@pytest.mark.parametrize(
    ("token", "status"),
    [(None, 401), ("oauth-unknown", 401), ("oauth-no-scope", 403), ("oauth-star", 403)],
)
def test_the_api_needs_an_oauth_token_with_the_management_scope(
    dashboard: Any, token: str | None, status: int
) -> None:
    for route in ROUTES:
        path = route.path.format(client_id="A" * 32, token_id="tok_" + "0" * 20)
        reply = dashboard.call(route.method, path, token, {"name": "x"})
        assert reply.status == status, (route, reply.body)
        assert "www-authenticate" in reply.headers
    assert dashboard.registry.list() == []


def test_a_client_token_never_manages_tokens(dashboard: Any) -> None:
    client_id = dashboard.create_application()["application"]["client_id"]
    operator = dashboard.registry.issue_token(client_id, label="Operator", scopes=["*"])

    reply = dashboard.call("GET", f"/api/applications/{client_id}/tokens", operator.token)

    assert reply.status == 403
    assert reply.json() == {
        **FORBIDDEN_BODY,
        "required_scopes": [],
        "error_description": "This route accepts only oauth tokens",
    }


def test_the_management_scope_is_configurable(make_dashboard: Any) -> None:
    dashboard = make_dashboard("flask", scope="payments.get")
    assert dashboard.call("GET", "/api/applications", "oauth-no-scope").status == 200
    assert dashboard.call("GET", "/api/applications", MERCHANT).status == 403


def test_a_body_over_the_limit_is_413(dashboard: Any) -> None:
    reply = dashboard.call("POST", "/api/applications", MERCHANT, {"name": "x" * 20_000})
    assert reply.status == 413
    assert dashboard.registry.list() == []


def test_a_failing_store_is_503_without_details(dashboard: Any, caplog: Any) -> None:
    def down(*args: Any, **kwargs: Any) -> Any:
        from bearerguard.tokens import StoreError

        raise StoreError("connection to db.internal:5432 password=hunter2 failed")

    dashboard.registry.store.query = down
    with caplog.at_level(logging.DEBUG):
        reply = dashboard.call("GET", "/api/applications", MERCHANT)

    assert reply.status == 503
    assert reply.headers["retry-after"] == "1"
    assert b"hunter2" not in reply.body
    assert "hunter2" not in caplog.text


def test_every_change_is_an_event_with_the_merchant_as_actor(dashboard: Any) -> None:
    client_id = dashboard.create_application()["application"]["client_id"]
    token_id = dashboard.create_token(client_id)["record"]["id"]
    dashboard.call("POST", f"/api/applications/{client_id}/tokens/{token_id}/rotate", MERCHANT)
    dashboard.call("POST", f"/api/applications/{client_id}/tokens/{token_id}/revoke", MERCHANT)
    dashboard.call("POST", f"/api/applications/{client_id}/webhook-secret", MERCHANT)
    dashboard.call("POST", f"/api/applications/{client_id}/revoke", MERCHANT)

    assert [(event.action, event.actor) for event in dashboard.events] == [
        ("application.created", "merchant-1"),
        ("token.created", "merchant-1"),
        ("token.rotated", "merchant-1"),
        ("token.revoked", "merchant-1"),
        ("application.webhook_secret_rotated", "merchant-1"),
        ("application.revoked", "merchant-1"),
        ("token.revoked", "merchant-1"),  # the rotated token
    ]


def test_secrets_appear_in_no_later_response_no_log_and_no_sqlite_column(
    make_dashboard: Any, tmp_path: Path, caplog: Any, request: Any
) -> None:
    dashboard = make_dashboard("starlette", sqlite=True)
    secrets: list[str] = []
    with caplog.at_level(logging.DEBUG):
        created = dashboard.create_application()
        client_id = created["application"]["client_id"]
        secrets.append(created["webhook_secret"])
        issued = dashboard.create_token(client_id, expires_at=day(10, dashboard.clock))
        secrets.append(issued["token"])
        rotated = dashboard.call(
            "POST",
            f"/api/applications/{client_id}/tokens/{issued['record']['id']}/rotate",
            MERCHANT,
        ).json()
        secrets.append(rotated["token"])
        webhook = dashboard.call("POST", f"/api/applications/{client_id}/webhook-secret", MERCHANT)
        secrets.append(webhook.json()["webhook_secret"])
        creations = {id(reply) for reply in dashboard.replies if reply.status == 201}
        creations.add(id(webhook))
        assert dashboard.checkout(rotated["token"]) == 201
        for method, path in _route_calls(client_id, issued["record"]["id"]):
            dashboard.call(method, path, MERCHANT, {} if method == "POST" else None)
        dashboard.call("GET", "/api/applications", MERCHANT)
        dashboard.call("GET", "/", None)
        dashboard.registry.tokens.flush()

    later = [reply for reply in dashboard.replies if id(reply) not in creations]
    assert len(later) >= 10
    text = caplog.text + "".join(
        reply.body.decode("latin-1") + repr(reply.headers) for reply in later
    )
    for secret in secrets:
        assert secret not in text
    dashboard.registry.store.close()
    dashboard.registry.tokens.store.close()
    files = b"".join(path.read_bytes() for path in tmp_path.glob("payments.db*"))
    assert client_id.encode() in files
    for secret in secrets:
        assert secret.encode() not in files


@pytest.mark.parametrize("framework", ["starlette", "flask"])
def test_with_a_revocation_bus_a_revoke_reaches_every_worker(
    make_dashboard: Any, framework: str
) -> None:
    from bearerguard import ClientTokenVerifier, Guard
    from bearerguard.revocation import MemoryRevocationBus
    from bearerguard.tokens import TokenManager

    bus = MemoryRevocationBus()
    dashboard = make_dashboard(framework, revocation_bus=bus)
    # Another worker: its own manager over the same store, its own guard and cache.
    worker_manager = TokenManager(dashboard.registry.tokens.store, prefix="pay_live_")
    worker = Guard([ClientTokenVerifier(worker_manager)], revocation_bus=bus, cache_ttl=3600)
    client_id = dashboard.create_application()["application"]["client_id"]
    issued = dashboard.create_token(client_id)
    assert worker.authenticate(f"Bearer {issued['token']}").client_id == client_id  # cached

    path = f"/api/applications/{client_id}/tokens/{issued['record']['id']}/revoke"
    assert dashboard.call("POST", path, MERCHANT).status == 200

    digest = hashlib.sha256(issued["token"].encode()).digest()
    assert [revocation.key for revocation in bus.published] == [digest]
    with pytest.raises(UnauthenticatedError):
        worker.authenticate(f"Bearer {issued['token']}")
    worker_manager.close()


@pytest.mark.parametrize("odd", ["%E2%98%83", "A" * 5000, "%00", "..", "A" * 31 + "%20", "a b"])
def test_odd_path_parameters_are_404_never_500(dashboard: Any, odd: str) -> None:
    for method, path in (
        ("GET", f"/api/applications/{odd}"),
        ("GET", f"/api/applications/{odd}/tokens"),
        ("POST", f"/api/applications/{odd}/revoke"),
        ("POST", f"/api/applications/{'A' * 32}/tokens/{odd}/revoke"),
    ):
        reply = dashboard.call(method, path, MERCHANT)
        assert reply.status == 404, (path, reply.status)
        assert odd.encode() not in reply.body


def test_the_router_mounts_in_a_plain_starlette_app(make_dashboard: Any) -> None:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Mount
    from starlette.testclient import TestClient

    from bearerguard.dashboard.starlette import router
    from bearerguard.starlette import BearerGuardMiddleware

    dashboard = make_dashboard("starlette")
    app = Starlette(
        routes=[Mount(dashboard.api.prefix, app=router(dashboard.api))],
        middleware=[Middleware(BearerGuardMiddleware, guard=dashboard.guard)],
    )
    client = TestClient(app)
    headers = {"Authorization": f"Bearer {MERCHANT}"}

    created = client.post("/dashboard/api/applications", headers=headers, json={"name": "Shop"})
    assert created.status_code == 201
    assert client.get("/dashboard/api/applications", headers=headers).json()["applications"] == [
        created.json()["application"]
    ]
    assert client.get("/dashboard/").headers["content-security-policy"]
    assert client.get("/dashboard/api/applications").status_code == 401


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"known_scopes": []}, "known_scopes"),
        ({"known_scopes": ["bad scope"]}, "invalid known scope"),
        ({"scope": "has space"}, "invalid management scope"),
        ({"prefix": "dashboard"}, "prefix"),
        ({"prefix": "/dashboard/"}, "prefix"),
        ({"max_body": 0}, "max_body"),
        ({"max_body": True}, "max_body"),
        ({"login_url": "https://elsewhere.example/token"}, "login_url"),
        ({"login_url": "//elsewhere.example/token"}, "login_url"),
    ],
)
def test_a_bad_configuration_is_refused_at_start(
    dashboard: Any, options: dict[str, Any], message: str
) -> None:
    from bearerguard.dashboard import ManagementAPI

    with pytest.raises(ValueError, match=message):
        ManagementAPI(dashboard.registry, **options)


def test_known_scopes_default_to_the_managers_and_must_exist() -> None:
    from bearerguard.dashboard import (
        ApplicationRegistry,
        ManagementAPI,
        MemoryApplicationStore,
        SecretBox,
        new_secret_key,
    )
    from bearerguard.stores import MemoryTokenStore
    from bearerguard.tokens import TokenManager

    def registry(**manager_options: Any) -> Any:
        manager = TokenManager(MemoryTokenStore(), **manager_options)
        return ApplicationRegistry(MemoryApplicationStore(), manager, SecretBox(new_secret_key()))

    with pytest.raises(ValueError, match="known_scopes"):
        ManagementAPI(registry())
    assert ManagementAPI(registry(known_scopes=["a", "b"])).known_scopes == {"a", "b"}
    assert ManagementAPI(registry(), known_scopes=["c"]).known_scopes == {"c"}


def test_the_blueprint_needs_the_middleware() -> None:
    from flask import Flask

    from bearerguard.dashboard import (
        ApplicationRegistry,
        ManagementAPI,
        MemoryApplicationStore,
        SecretBox,
        new_secret_key,
    )
    from bearerguard.dashboard.flask import blueprint
    from bearerguard.stores import MemoryTokenStore
    from bearerguard.tokens import TokenManager

    manager = TokenManager(MemoryTokenStore(), known_scopes=["a"])
    registry = ApplicationRegistry(MemoryApplicationStore(), manager, SecretBox(new_secret_key()))
    app = Flask(__name__)
    app.testing = True  # the error reaches the test instead of a 500 page
    app.register_blueprint(blueprint(ManagementAPI(registry)))

    with pytest.raises(RuntimeError, match="BearerGuardMiddleware"):
        app.test_client().get("/dashboard/api/applications")


def test_a_corrupt_application_row_is_503_not_a_conflict(dashboard: Any) -> None:
    client_id = dashboard.create_application()["application"]["client_id"]
    real_get = dashboard.registry.store.get

    def corrupt(wanted: str) -> Any:
        row = real_get(wanted)
        return None if row is None else {**row, "created_at": "yesterday"}

    dashboard.registry.store.get = corrupt
    reply = dashboard.call("GET", f"/api/applications/{client_id}/tokens", MERCHANT)

    assert reply.status == 503
    assert reply.json() == {"detail": "the store is unavailable; try again"}


def test_management_events_join_the_guards_audit_stream(dashboard: Any, caplog: Any) -> None:
    from bearerguard.audit import AuditEvent
    from bearerguard.dashboard import audit_sink

    stream: list[AuditEvent] = []  # what Guard(on_decision=stream.append) also receives
    dashboard.registry.on_event = audit_sink(stream.append)
    with caplog.at_level(logging.INFO, logger="bearerguard"):
        created = dashboard.create_application()
        client_id = created["application"]["client_id"]
        issued = dashboard.create_token(client_id)
        path = f"/api/applications/{client_id}/tokens/{issued['record']['id']}/revoke"
        dashboard.call("POST", path, MERCHANT)

    assert [(e.action, e.outcome, e.status) for e in stream] == [
        ("application.created", "allowed", 201),
        ("token.created", "allowed", 201),
        ("token.revoked", "allowed", 200),
    ]
    assert {(e.subject, e.kind, e.client_id) for e in stream} == {
        ("merchant-1", "oauth", client_id)
    }
    assert stream[2].token_id == issued["record"]["id"]
    logged = [r for r in caplog.records if getattr(r, "action", "").startswith("token.")]
    assert [r.action for r in logged] == ["token.created", "token.revoked"]  # type: ignore[attr-defined]
    for secret in (created["webhook_secret"], issued["token"]):
        assert secret not in caplog.text
        assert secret not in repr(stream)


@pytest.mark.parametrize("framework", ["starlette", "flask"])
def test_a_refused_api_call_is_one_audit_event_with_its_request(
    make_dashboard: Any, framework: str
) -> None:
    events: list[Any] = []
    dashboard = make_dashboard(framework, on_decision=events.append)
    client_id = dashboard.create_application()["application"]["client_id"]
    events.clear()

    path = f"/api/applications/{client_id}/tokens"
    reply = dashboard.call("GET", path, OTHER, headers={"X-Request-ID": "req-7"})

    assert reply.status == 403
    refused = [event for event in events if event.outcome == "refused"]
    assert len(refused) == 1
    assert refused[0].status == 403
    assert refused[0].request_id == "req-7"
    assert refused[0].path.endswith(path)
    assert refused[0].description == "The application belongs to another merchant"
