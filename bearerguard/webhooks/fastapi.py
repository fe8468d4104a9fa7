"""A FastAPI dependency that verifies incoming webhooks (Standard Webhooks).

```python
from typing import Annotated

from fastapi import FastAPI

from bearerguard.webhooks import WebhookMessage
from bearerguard.webhooks.fastapi import verified_webhook

app = FastAPI()
Delivery = Annotated[WebhookMessage, verified_webhook()]  # the secret from WEBHOOK_SECRET

@app.post("/webhooks/payments")
async def payments_webhook(delivery: Delivery) -> dict[str, bool]:
    record(delivery.id, delivery.payload)  # delivery.id: the idempotency key
    return {"received": True}
```

A refused delivery is answered before the endpoint runs, with FastAPI's
``HTTPException``: 400 (413 for a body over ``max_body``) and
``{"detail": {"message", "error", "error_description"}}``. Under bearerguard's
middleware the route needs no token: the signature is its authentication.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, HTTPException
from starlette.requests import Request

from .._routes import mark
from ._receiving import DEFAULT_MAX_BODY, Receiver, WebhookSource
from ._signing import WebhookMessage, WebhookVerificationError

__all__ = ["verified_webhook"]


def verified_webhook(webhook: WebhookSource = None, *, max_body: int = DEFAULT_MAX_BODY) -> Any:
    """A dependency (``Depends``) giving the endpoint the verified :class:`WebhookMessage`.

    Use it as a parameter default (``delivery: WebhookMessage = verified_webhook()``) or
    in ``Annotated[WebhookMessage, verified_webhook()]``.

    Args:
        webhook: A :class:`~bearerguard.webhooks.Webhook`, or its secret(s); None reads
            ``WEBHOOK_SECRET`` (:meth:`Webhook.from_env`) now, so a missing secret
            stops the app at start rather than failing deliveries.
        max_body: The largest body read, in bytes; a larger one is answered 413.

    Raises:
        ValueError: no usable secret, or a bad ``max_body``.
    """
    receiver = Receiver(webhook, max_body)

    async def dependency(request: Request) -> WebhookMessage:
        try:
            length = _content_length(request)
            receiver.check_length(length)
            if length is None:  # chunked: read no further than the limit
                body = await _bounded(request, receiver.max_body)
            else:  # the server holds the body to its declared length
                body = await request.body()
            return receiver.verify(body, request.headers)
        except WebhookVerificationError as error:
            raise HTTPException(error.status_code, detail=error.body()) from None

    return Depends(mark(dependency, "public"))


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length", "")
    return int(value) if value.isascii() and value.isdigit() else None


async def _bounded(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise WebhookVerificationError("payload_too_large")
        chunks.append(chunk)
    return b"".join(chunks)
