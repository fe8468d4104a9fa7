"""Signed webhooks (Standard Webhooks): sign deliveries, verify them on the receiving end.

```python
import time

from bearerguard.webhooks import Webhook, new_message_id

webhook = Webhook("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD")
body = b'{"type":"payment.succeeded","data":{"id":"pay_1"}}'
headers = webhook.sign(new_message_id(), int(time.time()), body)  # the three webhook-* headers
webhook.verify(body, headers)  # the payload, or WebhookVerificationError
```

The receiving side of a merchant's own server is one dependency or decorator:
:func:`bearerguard.webhooks.fastapi.verified_webhook` (FastAPI) and
:func:`bearerguard.webhooks.flask.verify_webhook` (Flask). Neither framework is imported
until its module is.
"""

from __future__ import annotations

from ._receiving import DEFAULT_MAX_BODY
from ._signing import (
    DEFAULT_TOLERANCE,
    SECRET_ENV,
    Webhook,
    WebhookMessage,
    WebhookVerificationError,
    new_message_id,
)

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_TOLERANCE",
    "SECRET_ENV",
    "Webhook",
    "WebhookMessage",
    "WebhookVerificationError",
    "new_message_id",
]
