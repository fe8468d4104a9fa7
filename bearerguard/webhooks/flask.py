"""A Flask decorator that verifies incoming webhooks (Standard Webhooks).

```python
from flask import Flask

from bearerguard.webhooks.flask import current_webhook, verify_webhook

app = Flask(__name__)

@app.post("/webhooks/payments")
@verify_webhook()  # the secret from WEBHOOK_SECRET
def payments_webhook():
    record(current_webhook.id, current_webhook.payload)  # id: the idempotency key
    return {"received": True}
```

A refused delivery never reaches the view: it is answered 400 (413 for a body over
``max_body``) with ``{"message", "error", "error_description"}``. Under bearerguard's
middleware the route needs no token: the signature is its authentication.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Response, jsonify, request
from werkzeug.local import LocalProxy

from .._routes import mark
from ._receiving import DEFAULT_MAX_BODY, Receiver, WebhookSource
from ._signing import WebhookMessage, WebhookVerificationError

__all__ = ["WEBHOOK_KEY", "current_webhook", "verify_webhook"]

WEBHOOK_KEY = "bearerguard.webhook"
"""Where the decorator puts the verified message: ``request.environ[WEBHOOK_KEY]``."""

_F = TypeVar("_F", bound=Callable[..., Any])


def _message() -> WebhookMessage | None:
    return cast("WebhookMessage | None", request.environ.get(WEBHOOK_KEY))


current_webhook: WebhookMessage = cast("WebhookMessage", LocalProxy(_message))
"""The verified :class:`WebhookMessage` of the current request (in a decorated view)."""


def verify_webhook(
    webhook: WebhookSource = None, *, max_body: int = DEFAULT_MAX_BODY
) -> Callable[[_F], _F]:
    """Decorate a view (below ``@app.route``): it runs only for a verified delivery,
    which it reads from :data:`current_webhook`.

    Args:
        webhook: A :class:`~bearerguard.webhooks.Webhook`, or its secret(s); None reads
            ``WEBHOOK_SECRET`` (:meth:`Webhook.from_env`) now, so a missing secret
            stops the app at start rather than failing deliveries.
        max_body: The largest body read, in bytes; a larger one is answered 413.

    Raises:
        ValueError: no usable secret, or a bad ``max_body``.
    """
    receiver = Receiver(webhook, max_body)

    def verified() -> Response | None:
        try:
            length = request.content_length
            receiver.check_length(length)
            if length is None:  # chunked: read no further than the limit
                body = request.stream.read(receiver.max_body + 1)
            else:
                body = request.get_data(cache=True)
            request.environ[WEBHOOK_KEY] = receiver.verify(body, request.headers)
        except WebhookVerificationError as error:
            response = jsonify(error.body())
            response.status_code = error.status_code
            return response
        return None

    def decorator(view: _F) -> _F:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                refused = verified()
                return refused if refused is not None else await view(*args, **kwargs)

            return cast("_F", mark(async_wrapper, "public"))

        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            refused = verified()
            return refused if refused is not None else view(*args, **kwargs)

        return cast("_F", mark(wrapper, "public"))

    return decorator
