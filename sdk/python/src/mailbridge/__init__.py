"""Mailbridge's Python client: the REST API, webhook verification and a resumable event stream.

from mailbridge import Mailbridge, verify_webhook

mb = Mailbridge("http://127.0.0.1:3000", "mb_…")
for event in mb.listen("support"):
    ...
"""

from mailbridge.client import Mailbridge
from mailbridge.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    Gone,
    MailbridgeError,
    NotFound,
    PayloadTooLarge,
    ServerError,
    TransportError,
    Unauthorized,
    Unprocessable,
    WebhookVerificationError,
)
from mailbridge.webhooks import sign, verify_webhook

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "Gone",
    "Mailbridge",
    "MailbridgeError",
    "NotFound",
    "PayloadTooLarge",
    "ServerError",
    "TransportError",
    "Unauthorized",
    "Unprocessable",
    "WebhookVerificationError",
    "sign",
    "verify_webhook",
]
__version__ = "0.1.0"
