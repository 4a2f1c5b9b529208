"""Verify a webhook delivery the Standard Webhooks way (https://www.standardwebhooks.com/).

Mailbridge signs ``<webhook-id>.<webhook-timestamp>.<body>`` with HMAC-SHA256 under the key in
the ``whsec_`` secret and sends ``webhook-signature: v1,<base64> [v1,<base64> …]`` (two while a
secret is being rotated). A delivery is genuine when any one signature matches, and fresh when its
timestamp is within ``tolerance`` seconds of now, which stops a captured delivery from being
replayed later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from mailbridge.errors import WebhookVerificationError

DEFAULT_TOLERANCE_S = 300


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    raise WebhookVerificationError(f"missing header {name}")


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise WebhookVerificationError("the secret is not whsec_ followed by base64") from exc
    if not key:
        raise WebhookVerificationError("the secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature, as Mailbridge computes it (for forwarding and tests)."""
    digest = hmac.new(_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify_webhook(
    secret: str,
    body: bytes | str,
    headers: Mapping[str, str],
    *,
    tolerance: int = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> Any:
    """Check a delivery and return its JSON payload (the event).

    ``body`` must be the raw request body, byte for byte; ``headers`` any mapping (names are matched
    case-insensitively). Raises ``WebhookVerificationError`` when a header is missing, the timestamp
    is more than ``tolerance`` seconds off, or no signature matches.
    """
    raw = body.encode() if isinstance(body, str) else bytes(body)
    msg_id = _header(headers, "webhook-id")
    stamp = _header(headers, "webhook-timestamp")
    signatures = _header(headers, "webhook-signature")
    try:
        timestamp = int(stamp)
    except ValueError as exc:
        raise WebhookVerificationError("webhook-timestamp is not a number") from exc
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance (replayed or a wrong clock)")
    expected = sign(secret, msg_id, timestamp, raw).encode()
    if not any(hmac.compare_digest(expected, candidate.encode()) for candidate in signatures.split()):
        raise WebhookVerificationError("no signature matches")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise WebhookVerificationError("the body is not JSON") from exc
