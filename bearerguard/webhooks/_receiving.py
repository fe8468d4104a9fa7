"""What the FastAPI and Flask receivers share: the secret, the body limit, the log line."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ._signing import SupportsItems, Webhook, WebhookMessage, WebhookVerificationError

__all__ = ["DEFAULT_MAX_BODY", "Receiver"]

DEFAULT_MAX_BODY = 1024 * 1024
"""The largest webhook body a receiver reads by default (bytes); larger ones get 413.

The specification advises payloads under 20 kB; the limit only stops an unsigned
request from making the receiver buffer and hash an arbitrary amount of data.
"""

logger = logging.getLogger("bearerguard")

WebhookSource = Webhook | str | bytes | Iterable[str | bytes] | None


class Receiver:
    """A receiver's configuration: the :class:`Webhook` and the body limit."""

    __slots__ = ("max_body", "webhook")

    def __init__(self, webhook: WebhookSource, max_body: int) -> None:
        if isinstance(webhook, Webhook):
            self.webhook = webhook
        elif webhook is None:
            self.webhook = Webhook.from_env()
        else:
            self.webhook = Webhook(webhook)
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            raise ValueError("max_body must be a positive number of bytes")
        self.max_body = max_body

    def check_length(self, content_length: int | None) -> None:
        """Refuse a declared length over the limit before reading a byte."""
        if content_length is not None and content_length > self.max_body:
            raise self.refuse(WebhookVerificationError("payload_too_large"))

    def verify(self, body: bytes, headers: SupportsItems) -> WebhookMessage:
        if len(body) > self.max_body:
            raise self.refuse(WebhookVerificationError("payload_too_large"))
        try:
            return self.webhook.verify_message(body, headers)
        except WebhookVerificationError as error:
            raise self.refuse(error) from None

    @staticmethod
    def refuse(error: WebhookVerificationError) -> WebhookVerificationError:
        # The code only: header values are the sender's (or an attacker's) text.
        logger.info("webhook refused: %s", error.error)
        return error
