"""Standard Webhooks signatures: secrets, signing and verification.

Pure: no I/O, no clock (``now`` is passed in). Owns the wire format of
https://www.standardwebhooks.com/ so any Standard Webhooks verifier accepts
our deliveries:

- a secret is ``whsec_<base64 of the key bytes>``;
- the signed content is ``<webhook-id>.<webhook-timestamp>.<body>``;
- ``webhook-signature`` is ``v1,<base64 HMAC-SHA256>``, space-separated when
  several secrets are active (during a rotation both the old and the new
  secret sign, so receivers can switch at their own pace).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _random
from collections.abc import Iterable, Mapping

SECRET_PREFIX = "whsec_"  # noqa: S105 - the public prefix of the format
SIGNATURE_VERSION = "v1"
# The spec recommends secrets of 24 to 64 bytes; 32 bytes match the HMAC-SHA256 block use.
SECRET_BYTES = 32
# Standard Webhooks receivers reject timestamps more than 5 minutes off (replay protection).
DEFAULT_TOLERANCE_S = 300

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"


def generate_secret() -> str:
    """A new random signing secret, ``whsec_<base64 of 32 random bytes>``."""
    return SECRET_PREFIX + base64.b64encode(_random.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key bytes of a ``whsec_`` secret.

    Raises:
        ValueError: the secret is not ``whsec_`` followed by base64.
    """
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc
    if not key:
        raise ValueError("a webhook secret must not be empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One signature, ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signature_header(secrets: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one signature per active secret, space-separated."""
    signatures = [sign(s, msg_id, timestamp, body) for s in secrets]
    if not signatures:
        raise ValueError("at least one secret is needed to sign")
    return " ".join(signatures)


def headers(secrets: Iterable[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt."""
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature_header(secrets, msg_id, timestamp, body),
    }


def verify(
    secrets: str | Iterable[str],
    received: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE_S,
) -> bool:
    """Whether a delivery carries a valid, fresh signature by one of ``secrets``.

    Args:
        secrets: the receiver's secret, or several while it rotates.
        received: the request headers (names in any case).
        body: the raw request body, exactly as received.
        now: the current time in epoch seconds.
        tolerance: how far the timestamp may be from ``now``, in seconds.

    Returns:
        True when the headers are present, the timestamp is within the
        tolerance and at least one ``v1`` signature matches.
    """
    lowered = {name.lower(): value for name, value in received.items()}
    msg_id = lowered.get(ID_HEADER)
    stamp = lowered.get(TIMESTAMP_HEADER, "")
    offered = lowered.get(SIGNATURE_HEADER, "").split()
    if not msg_id or not stamp.isdigit() or not offered:
        return False
    timestamp = int(stamp)
    if abs(now - timestamp) > tolerance:
        return False
    candidates = [secrets] if isinstance(secrets, str) else list(secrets)
    for secret in candidates:
        try:
            expected = sign(secret, msg_id, timestamp, body)
        except ValueError:
            continue
        # Compare every offered signature; compare_digest keeps each comparison constant-time.
        if any(hmac.compare_digest(expected.encode(), sig.encode()) for sig in offered):
            return True
    return False
