"""Audit events and decision logs, through a Starlette app and a Flask app.

Every request is decided once and told once: to ``Guard(on_decision=...)`` as an
:class:`AuditEvent` and to the ``bearerguard`` logger (refusals at INFO, successes at
DEBUG) with the same fields as ``extra``. Neither ever holds the token.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from starlette.testclient import TestClient

from bearerguard.audit import AuditEvent

from ._apps import ADMIN, flask_app, starlette_app
from ._support import CASES, HEALTH, PAYMENT, make_guard, token, tokens
from .test_logs import assert_no_secret_logged

FIELDS = set(AuditEvent.__dataclass_fields__) - {"at"}


def starlette_client(guard_options: dict[str, Any]) -> TestClient:
    return TestClient(starlette_app(make_guard(**guard_options)))


def flask_client(guard_options: dict[str, Any]) -> Any:
    return flask_app(make_guard(**guard_options)).test_client()


CLIENTS = [pytest.param(starlette_client, id="starlette"), pytest.param(flask_client, id="flask")]


def get(client: Any, path: str, value: str | None = None, **headers: str) -> int:
    sent = dict(headers)
    if value is not None:
        sent["Authorization"] = value
    status: int = client.get(path, headers=sent).status_code
    return status


def short(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:12]


@pytest.mark.parametrize("make_client", CLIENTS)
def test_one_event_per_decision_with_its_fields(make_client: Callable[..., Any]) -> None:
    events: list[AuditEvent] = []
    client = make_client({"on_decision": events.append})
    jwt = token("oauth_get")

    assert get(client, PAYMENT, f"Bearer {jwt}", **{"X-Request-ID": "req-1"}) == 200
    assert get(client, PAYMENT, f"Bearer {jwt}") == 200
    assert get(client, PAYMENT, f"Bearer {token('unknown')}") == 401
    assert get(client, PAYMENT) == 401
    assert get(client, PAYMENT, "Bearer a,b") == 400
    assert get(client, PAYMENT, f"Bearer {token('down')}") == 503
    assert get(client, PAYMENT, f"Bearer {token('client_none')}") == 403
    assert get(client, HEALTH) == 200

    miss, hit, unknown, missing, malformed, down, scope, anonymous = events
    assert (miss.outcome, miss.status, miss.cache, miss.kind) == ("allowed", 200, "miss", "oauth")
    assert miss.latency is not None
    assert miss.latency >= 0
    assert miss.request_id == "req-1"
    assert (miss.method, miss.path, miss.action) == ("GET", PAYMENT, "request")
    assert (miss.subject, miss.client_id) == ("user-42", "dashboard")
    assert miss.token_id is not None  # the jti: named by it, not by a hash
    assert miss.token_hash is None
    assert (hit.cache, hit.latency, hit.request_id) == ("hit", None, None)
    assert hit.token_id == miss.token_id

    assert (unknown.outcome, unknown.status, unknown.error) == ("refused", 401, "invalid_token")
    assert unknown.description == "The access token is not recognised"
    assert unknown.token_hash == short(token("unknown"))
    assert (unknown.kind, unknown.cache, unknown.latency) == (None, "miss", None)

    assert (missing.status, missing.error, missing.token_hash) == (401, None, None)
    assert (malformed.status, malformed.error, malformed.token_hash) == (
        400,
        "invalid_request",
        None,
    )
    assert (down.outcome, down.status, down.kind) == ("unavailable", 503, "store")
    assert down.latency is not None
    assert (scope.outcome, scope.status, scope.error) == ("refused", 403, "insufficient_scope")
    assert (scope.kind, scope.token_id, scope.client_id) == ("client", "tok_none", "app_3b9f")
    assert (anonymous.outcome, anonymous.kind, anonymous.cache) == ("allowed", None, None)


@pytest.mark.parametrize("make_client", CLIENTS)
def test_a_cached_refusal_and_a_cached_403_are_hits(make_client: Callable[..., Any]) -> None:
    events: list[AuditEvent] = []
    client = make_client({"on_decision": events.append})
    expired = f"Bearer {token('expired')}"
    wrong = f"Bearer {token('client_none')}"

    for value in (expired, expired, wrong, wrong):
        get(client, PAYMENT, value)

    assert [(e.status, e.cache) for e in events] == [
        (401, "miss"),
        (401, "hit"),
        (403, "miss"),
        (403, "hit"),
    ]
    assert (events[0].kind, events[0].description) == ("oauth", "The access token expired")
    assert events[1].token_hash == events[0].token_hash == short(token("expired"))
    assert events[3].token_id == "tok_none"  # the cached principal's


@pytest.mark.parametrize("make_client", CLIENTS)
def test_a_route_declaration_refusal_is_an_event_too(make_client: Callable[..., Any]) -> None:
    events: list[AuditEvent] = []
    client = make_client({"on_decision": events.append})

    assert get(client, ADMIN, f"Bearer {token('client_get')}") == 403

    allowed, refused = events
    assert (allowed.action, allowed.outcome) == ("request", "allowed")
    assert (refused.action, refused.outcome, refused.status) == ("route", "refused", 403)
    assert (refused.kind, refused.token_id, refused.path) == ("client", "tok_get", ADMIN)


def test_both_adapters_tell_the_same_events() -> None:
    told: list[list[AuditEvent]] = []
    for make_client in (starlette_client, flask_client):
        events: list[AuditEvent] = []
        client = make_client({"on_decision": events.append})
        for param in CASES:
            path, authorization, _, _ = param.values
            values = [template.format(**tokens()) for template in authorization]
            if len(values) > 1:
                continue  # two headers: ASGI refuses them, a WSGI server joins them
            get(client, path, values[0] if values else None, **{"X-Request-ID": "r"})
        told.append([replace(event, latency=0.0 if event.latency else None) for event in events])
    starlette_events, flask_events = told
    assert [e.to_dict() | {"at": None} for e in starlette_events] == [
        e.to_dict() | {"at": None} for e in flask_events
    ]


def test_two_authorization_headers_are_a_logged_refusal_under_asgi(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bearerguard")
    events: list[AuditEvent] = []
    client = starlette_client({"on_decision": events.append})
    headers = [("authorization", "Bearer a"), ("authorization", "Bearer b"), ("x-request-id", "d")]

    assert client.get(PAYMENT, headers=headers).status_code == 400

    (event,) = events
    assert (event.action, event.status, event.error, event.request_id) == (
        "request",
        400,
        "invalid_request",
        "d",
    )
    assert [record.status for record in caplog.records] == [400]  # type: ignore[attr-defined]


@pytest.mark.parametrize("make_client", CLIENTS)
def test_refusals_log_at_info_and_successes_at_debug_with_the_fields(
    make_client: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client({})
    caplog.set_level(logging.INFO, logger="bearerguard")
    get(client, PAYMENT, f"Bearer {token('client_get')}")
    get(client, PAYMENT, f"Bearer {token('unknown')}", **{"X-Request-ID": "abc"})

    (record,) = caplog.records  # the success is below INFO
    assert record.levelno == logging.INFO
    assert {name: getattr(record, name) for name in ("status", "error", "request_id")} == {
        "status": 401,
        "error": "invalid_token",
        "request_id": "abc",
    }
    assert set(record.__dict__) >= FIELDS
    assert record.getMessage() == (
        f"request refused GET {PAYMENT}: 401 The access token is not recognised"
        f" (token {short(token('unknown'))})"
    )

    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="bearerguard")
    # The level is read again on the next verification or refusal; hits follow it.
    get(client, PAYMENT, f"Bearer {token('client_all')}")
    get(client, PAYMENT, f"Bearer {token('client_get')}")
    miss, hit = caplog.records
    assert (miss.levelno, miss.cache, miss.token_id, miss.kind) == (  # type: ignore[attr-defined]
        logging.DEBUG,
        "miss",
        "tok_all",
        "client",
    )
    assert (hit.levelno, hit.cache, hit.token_id) == (logging.DEBUG, "hit", "tok_get")  # type: ignore[attr-defined]
    assert hit.getMessage() == f"request allowed GET {PAYMENT}: client token tok_get"


@pytest.mark.parametrize("make_client", CLIENTS)
def test_no_log_record_and_no_event_holds_a_token(
    make_client: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    events: list[AuditEvent] = []
    client = make_client({"on_decision": events.append})
    secrets = [*tokens().values(), *(f"spray{n:04d}Zx81Qw{n:04d}" for n in range(40))]

    for secret in secrets:
        for value in (f"Bearer {secret}", f"bearer   {secret}  ", f"Bearer {secret},x"):
            get(client, PAYMENT, value, **{"X-Request-ID": "spray"})
            get(client, ADMIN, value)

    assert len(events) >= 4 * len(secrets)
    # The whole record: message, arguments and every extra attribute.
    records = [logging.makeLogRecord(dict(r.__dict__)) for r in caplog.records]
    for record in records:
        record.msg = f"{record.getMessage()} {sorted(map(str, record.__dict__.values()))}"
        record.args = ()
    assert_no_secret_logged(records, secrets)
    texts = [str(event.to_dict()) for event in events]
    for secret in secrets:
        assert not any(secret[:12] in text for text in texts)


@pytest.mark.parametrize("make_client", CLIENTS)
def test_a_failing_hook_fails_no_request(
    make_client: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    def hook(event: AuditEvent) -> None:
        raise RuntimeError(f"could not ship {event}")

    client = make_client({"on_decision": hook})
    assert get(client, PAYMENT, f"Bearer {token('client_get')}") == 200
    assert get(client, PAYMENT, f"Bearer {token('unknown')}") == 401
    failures = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert failures == ["on_decision hook failed: RuntimeError"] * 2


def test_control_characters_from_the_caller_are_escaped() -> None:
    events: list[AuditEvent] = []
    client = starlette_client({"on_decision": events.append})
    get(client, "/api/payment/a%0Ab", **{"X-Request-ID": "x" * 300})

    (event,) = events
    assert event.path == "/api/payment/a\\x0ab"
    assert event.request_id == "x" * 128


def test_an_event_is_plain_data() -> None:
    event = AuditEvent(outcome="refused", status=401, error="invalid_token", method="GET")
    document = event.to_dict()
    assert document["action"] == "request"
    assert document["at"].endswith("+00:00")
    assert set(document) == FIELDS | {"at"}
    with pytest.raises(AttributeError):
        event.status = 200  # type: ignore[misc]
