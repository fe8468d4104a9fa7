"""End to end: an application's webhook secret in the dashboard's registry signs a
delivery, and a merchant's FastAPI or Flask receiver, configured with the secret the
merchant copied at creation, verifies it (also through a rotation of the secret).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import flask
import pytest
import uvicorn
from fastapi import FastAPI
from starlette.testclient import TestClient
from werkzeug.serving import make_server

from bearerguard.dashboard import (
    ApplicationRegistry,
    MemoryApplicationStore,
    SecretBox,
    new_secret_key,
)
from bearerguard.stores import MemoryTokenStore
from bearerguard.tokens import TokenManager
from bearerguard.webhooks import Webhook, WebhookMessage, new_message_id
from bearerguard.webhooks.fastapi import verified_webhook
from bearerguard.webhooks.flask import current_webhook, verify_webhook

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BODY = b'{"type":"payment.succeeded","data":{"id":"pay_1"}}'


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def fastapi_app(secret: str | Webhook, received: list[Any]) -> FastAPI:
    app = FastAPI()
    dependency = verified_webhook(secret)

    @app.post("/webhooks/payments")
    async def receive(delivery: WebhookMessage = dependency) -> dict[str, bool]:
        received.append(delivery.payload)
        return {"received": True}

    return app


def flask_app(secret: str | Webhook, received: list[Any]) -> flask.Flask:
    app = flask.Flask(__name__)

    @app.post("/webhooks/payments")
    @verify_webhook(secret)
    def receive() -> dict[str, bool]:
        received.append(current_webhook.payload)
        return {"received": True}

    return app


def deliver(framework: str, secret: str, headers: dict[str, str], body: bytes, clock: Clock) -> int:
    """The status a receiver configured with ``secret`` answers to the delivery."""
    received: list[Any] = []
    webhook = Webhook(secret, clock=clock)  # the receiver's clock is the registry's
    if framework == "fastapi":
        status = TestClient(fastapi_app(webhook, received)).post(
            "/webhooks/payments", content=body, headers=headers
        )
        code = status.status_code
    else:
        client = flask_app(webhook, received).test_client()
        code = client.post("/webhooks/payments", data=body, headers=headers).status_code
    assert (code == 200) == (received == [{"type": "payment.succeeded", "data": {"id": "pay_1"}}])
    return code


@pytest.mark.parametrize("framework", ["fastapi", "flask"])
def test_the_registry_signs_and_the_merchant_verifies_through_a_rotation(framework: str) -> None:
    clock = Clock()
    manager = TokenManager(MemoryTokenStore(), prefix="pay_test_", clock=clock)
    registry = ApplicationRegistry(MemoryApplicationStore(), manager, SecretBox(new_secret_key()))
    created = registry.create(owner="merchant-1", name="Web shop")
    client_id = created.application.client_id
    copied = created.webhook_secret  # what the merchant put in WEBHOOK_SECRET

    def signed() -> dict[str, str]:
        webhook = Webhook(registry.webhook_secrets(client_id))
        return webhook.sign(new_message_id(), int(clock.now), BODY)

    assert deliver(framework, copied, signed(), BODY, clock) == 200
    other = registry.create(owner="merchant-2", name="Other shop").webhook_secret
    assert deliver(framework, other, signed(), BODY, clock) == 400  # another merchant's secret

    rotated = registry.rotate_webhook_secret(client_id, grace=timedelta(hours=1))
    during = signed()
    assert len(during["webhook-signature"].split(" ")) == 2
    assert deliver(framework, copied, during, BODY, clock) == 200  # not yet switched
    assert deliver(framework, rotated.webhook_secret, during, BODY, clock) == 200  # switched

    clock.now += 2 * 3600  # the grace is over: only the new secret signs
    after = signed()
    assert len(after["webhook-signature"].split(" ")) == 1
    assert deliver(framework, copied, after, BODY, clock) == 400
    assert deliver(framework, rotated.webhook_secret, after, BODY, clock) == 200


@contextlib.contextmanager
def serving(framework: str, secret: str, received: list[Any]) -> Iterator[str]:
    """The receiver on a real socket of 127.0.0.1, in a thread; its URL."""
    if framework == "fastapi":
        config = uvicorn.Config(fastapi_app(secret, received), port=0, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started:
                assert time.monotonic() < deadline, "uvicorn did not start"
                time.sleep(0.02)
            port = server.servers[0].sockets[0].getsockname()[1]
            yield f"http://127.0.0.1:{port}/webhooks/payments"
        finally:
            server.should_exit = True
            thread.join(timeout=10)
    else:
        wsgi = make_server("127.0.0.1", 0, flask_app(secret, received), threaded=True)
        thread = threading.Thread(target=wsgi.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            yield f"http://127.0.0.1:{wsgi.server_port}/webhooks/payments"
        finally:
            wsgi.shutdown()
            wsgi.server_close()
            thread.join(timeout=10)


@pytest.mark.server
@pytest.mark.parametrize("framework", ["fastapi", "flask"])
def test_the_payments_example_sends_a_signed_webhook_to_a_merchant_server(
    framework: str,
) -> None:
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    payments = importlib.import_module("payments")
    registry = payments.management_api().registry
    created = registry.create(owner=payments.MERCHANT, name="Webhook test shop")
    client_id = created.application.client_id
    received: list[Any] = []
    with serving(framework, created.webhook_secret, received) as url:
        data = {"id": "pay_1", "amount": 1250, "currency": "EUR"}
        assert payments.send_webhook(url, client_id, "payment.succeeded", data) == 200
        other = registry.create(owner=payments.MERCHANT, name="Other shop").application
        assert payments.send_webhook(url, other.client_id, "payment.succeeded", data) == 400
    [event] = received
    assert (event["type"], event["data"]) == ("payment.succeeded", data)
    assert event["timestamp"].endswith("Z")
    with pytest.raises(ValueError, match="http"):
        payments.send_webhook("file:///etc/passwd", client_id, "payment.succeeded", data)
