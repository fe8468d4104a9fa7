"""The receivers of a merchant's server: the FastAPI dependency and the Flask decorator.

Each test runs against both, through a real app and its test client. A refused delivery
is 400 (413 for a body over the limit) with a fixed JSON answer, never the endpoint,
never a 500, never the secret.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import flask
import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient

from bearerguard import Guard, StaticTokenVerifier
from bearerguard.starlette import BearerGuardMiddleware as ASGIGuard
from bearerguard.webhooks import Webhook, WebhookMessage, new_message_id
from bearerguard.webhooks.fastapi import verified_webhook
from bearerguard.webhooks.flask import current_webhook, verify_webhook
from bearerguard.werkzeug import BearerGuardMiddleware as WSGIGuard

SECRET = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
OTHER = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOKEN = "tok_webhook_tests_Qz81Lp"
EVENT = {"type": "payment.succeeded", "data": {"id": "pay_1", "amount": 1250}}
BODY = json.dumps(EVENT, separators=(",", ":")).encode()


@dataclass
class Answer:
    status: int
    body: Any


@dataclass
class Receiver:
    """One framework's app: ``post`` sends a request, ``seen`` holds what the view got."""

    name: str
    post: Callable[..., Answer]
    seen: list[WebhookMessage]

    def refusal(self, answer: Answer) -> dict[str, str]:
        """The refusal document, wherever the framework puts it."""
        document: dict[str, str] = answer.body["detail"] if self.name == "fastapi" else answer.body
        assert set(document) == {"message", "error", "error_description"}
        return document


def fastapi_receiver(webhook: Any = SECRET, *, guarded: bool = False, **options: Any) -> Receiver:
    seen: list[WebhookMessage] = []
    app = FastAPI()
    dependency = verified_webhook(webhook, **options)

    # A parameter default: a local Annotated alias is a string FastAPI cannot resolve here.
    @app.post("/webhooks")
    async def receive(delivery: WebhookMessage = dependency) -> dict[str, str]:
        seen.append(delivery)
        return {"received": delivery.id}

    @app.get("/private")
    async def private() -> dict[str, bool]:
        return {"private": True}

    guard = Guard([StaticTokenVerifier({TOKEN: ["all"]})])
    client = TestClient(ASGIGuard(app, guard) if guarded else app, raise_server_exceptions=False)

    def post(body: Any = BODY, headers: dict[str, str] | None = None, **kw: Any) -> Answer:
        response = client.post("/webhooks", content=body, headers=headers or {}, **kw)
        return Answer(response.status_code, response.json())

    receiver = Receiver("fastapi", post, seen)
    receiver.get = lambda path: client.get(path).status_code  # type: ignore[attr-defined]
    return receiver


def flask_receiver(webhook: Any = SECRET, *, guarded: bool = False, **options: Any) -> Receiver:
    seen: list[WebhookMessage] = []
    app = flask.Flask(__name__)

    @app.post("/webhooks")
    @verify_webhook(webhook, **options)
    def receive() -> dict[str, str]:
        seen.append(
            WebhookMessage(
                current_webhook.id,
                current_webhook.timestamp,
                current_webhook.body,
                current_webhook.payload,
            )
        )
        return {"received": current_webhook.id}

    @app.get("/private")
    def private() -> dict[str, bool]:
        return {"private": True}

    if guarded:
        guard = Guard([StaticTokenVerifier({TOKEN: ["all"]})])
        app.wsgi_app = WSGIGuard(app.wsgi_app, guard)  # type: ignore[method-assign]
    client = app.test_client()

    def post(body: Any = BODY, headers: dict[str, str] | None = None, **kw: Any) -> Answer:
        response = client.post("/webhooks", data=body, headers=headers or {}, **kw)
        return Answer(response.status_code, response.get_json())

    receiver = Receiver("flask", post, seen)
    receiver.get = lambda path: client.get(path).status_code  # type: ignore[attr-defined]
    return receiver


BUILDERS = {"fastapi": fastapi_receiver, "flask": flask_receiver}


@pytest.fixture(params=sorted(BUILDERS))
def build(request: pytest.FixtureRequest) -> Callable[..., Receiver]:
    return BUILDERS[request.param]


def signed(body: bytes = BODY, *, secret: Any = SECRET, at: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return Webhook(secret).sign(new_message_id(), stamp, body)


def test_a_signed_delivery_reaches_the_endpoint(build: Callable[..., Receiver]) -> None:
    receiver = build()
    headers = signed()
    answer = receiver.post(BODY, headers)
    assert (answer.status, answer.body) == (200, {"received": headers["webhook-id"]})
    [message] = receiver.seen
    assert message.payload == EVENT
    assert message.body == BODY
    assert str(int(message.timestamp.timestamp())) == headers["webhook-timestamp"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        pytest.param(lambda h: {}, "missing_header", id="no-headers"),
        pytest.param(lambda h: {**h, "webhook-signature": ""}, "missing_header", id="empty"),
        pytest.param(lambda h: {**h, "webhook-timestamp": "soon"}, "invalid_header", id="ts"),
        pytest.param(lambda h: {**h, "webhook-id": "a.b"}, "invalid_header", id="dotted-id"),
        pytest.param(lambda h: {**h, "webhook-signature": "v1,AAAA"}, "invalid_signature", id="s"),
        pytest.param(lambda h: {**h, "webhook-signature": "v1"}, "invalid_signature", id="v1"),
        pytest.param(lambda h: signed(secret=OTHER), "invalid_signature", id="other-secret"),
        pytest.param(
            lambda h: signed(at=int(time.time()) - 600), "timestamp_too_old", id="replayed"
        ),
        pytest.param(lambda h: signed(at=int(time.time()) + 600), "timestamp_too_new", id="future"),
    ],
)
def test_refused_deliveries_never_reach_the_endpoint(
    build: Callable[..., Receiver],
    change: Callable[[dict[str, str]], dict[str, str]],
    error: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    receiver = build()
    answer = receiver.post(BODY, change(signed()))
    assert answer.status == 400
    document = receiver.refusal(answer)
    assert document["error"] == error
    assert receiver.seen == []
    assert SECRET.removeprefix("whsec_") not in json.dumps(answer.body) + caplog.text
    assert f"webhook refused: {error}" in caplog.text


def test_a_body_changed_in_transit_is_refused(build: Callable[..., Receiver]) -> None:
    receiver = build()
    answer = receiver.post(BODY.replace(b"1250", b"9999"), signed())
    assert (answer.status, receiver.refusal(answer)["error"]) == (400, "invalid_signature")


def test_a_signed_body_that_is_not_json(build: Callable[..., Receiver]) -> None:
    receiver = build()
    answer = receiver.post(b"\xff not json", signed(b"\xff not json"))
    assert (answer.status, receiver.refusal(answer)["error"]) == (400, "invalid_payload")


def test_a_body_over_the_limit_is_413_before_it_is_read(build: Callable[..., Receiver]) -> None:
    receiver = build(max_body=64)
    big = json.dumps({"pad": "x" * 100}).encode()
    answer = receiver.post(big, signed(big))
    assert (answer.status, receiver.refusal(answer)["error"]) == (413, "payload_too_large")
    small = build(max_body=len(BODY))
    assert small.post(BODY, signed()).status == 200


def chunks(body: bytes) -> Iterator[bytes]:
    yield body[:10]
    yield body[10:]


def test_a_chunked_body_is_read_up_to_the_limit(build: Callable[..., Receiver]) -> None:
    big = json.dumps({"pad": "x" * 100}).encode()
    receiver = build(max_body=64)
    small = build(max_body=len(BODY))
    if receiver.name == "fastapi":
        refused = receiver.post(chunks(big), signed(big))
        accepted = small.post(chunks(BODY), signed())
    else:  # as gunicorn passes a chunked body: no CONTENT_LENGTH, wsgi.input_terminated
        chunked = {"wsgi.input_terminated": True, "CONTENT_LENGTH": None}
        refused = receiver.post(big, signed(big), environ_overrides=chunked)
        accepted = small.post(BODY, signed(), environ_overrides=chunked)
    assert (refused.status, receiver.refusal(refused)["error"]) == (413, "payload_too_large")
    assert accepted.status == 200
    assert small.seen[0].payload == EVENT


def test_under_the_guard_the_webhook_needs_no_token(build: Callable[..., Receiver]) -> None:
    """The signature is the delivery's authentication; the rest of the app stays guarded."""
    receiver = build(guarded=True)
    assert receiver.post(BODY, signed()).status == 200
    assert receiver.post(BODY, {}).status == 400
    assert receiver.get("/private") == 401  # type: ignore[attr-defined]


def test_the_secret_comes_from_webhook_secret(
    build: Callable[..., Receiver], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WEBHOOK_SECRET", f"{SECRET},{OTHER}")
    receiver = build(None)
    assert receiver.post(BODY, signed()).status == 200
    assert receiver.post(BODY, signed(secret=OTHER)).status == 200  # the older one, rotating
    monkeypatch.delenv("WEBHOOK_SECRET")
    with pytest.raises(ValueError, match="set WEBHOOK_SECRET"):
        build(None)


def test_a_webhook_object_and_a_bad_limit(build: Callable[..., Receiver]) -> None:
    strict = Webhook(SECRET, clock=lambda: 1_000_000)
    receiver = build(strict)
    answer = receiver.post(BODY, signed())
    assert receiver.refusal(answer)["error"] == "timestamp_too_new"
    assert receiver.post(BODY, signed(at=1_000_000)).status == 200
    for bad in (0, -1, True, 1.5):
        with pytest.raises(ValueError, match="max_body"):
            build(max_body=bad)


def test_flask_async_views_are_verified_too() -> None:
    pytest.importorskip("asgiref")
    app = flask.Flask(__name__)

    @app.post("/webhooks")
    @verify_webhook(SECRET)
    async def receive() -> dict[str, Any]:
        return {"type": current_webhook.payload["type"]}

    client = app.test_client()
    assert client.post("/webhooks", data=BODY, headers=signed()).get_json() == {
        "type": "payment.succeeded"
    }
    assert client.post("/webhooks", data=BODY).status_code == 400


def test_current_webhook_outside_a_verified_view_is_none() -> None:
    app = flask.Flask(__name__)
    with app.test_request_context("/"):
        assert not current_webhook  # a proxy to None: a message is always true
