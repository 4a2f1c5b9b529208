"""SASL messages for OAuth 2.0 bearer tokens: XOAUTH2 and OAUTHBEARER (RFC 7628).

Pure: no I/O. The IMAP (``bridge.imap.oauth_login``) and SMTP
(``bridge.outbound.smtp``) adapters send what this module builds.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable
from enum import StrEnum


class Mechanism(StrEnum):
    XOAUTH2 = "XOAUTH2"
    OAUTHBEARER = "OAUTHBEARER"


# RFC 7628 § 3.2.3: after an error challenge the client sends a dummy %x01 response,
# and the server then ends the exchange with its failure. Google's XOAUTH2 wants an empty one.
FAILURE_ACK = {Mechanism.OAUTHBEARER: b"\x01", Mechanism.XOAUTH2: b""}


def choose(mechanisms: Iterable[str]) -> Mechanism:
    """The mechanism to use given the server's advertised SASL mechanisms.

    OAUTHBEARER is the standard (RFC 7628) and wins when offered; XOAUTH2 is what
    Microsoft offers and the fallback when the server advertises neither.
    """
    offered = {m.upper() for m in mechanisms}
    if Mechanism.OAUTHBEARER.value in offered:
        return Mechanism.OAUTHBEARER
    return Mechanism.XOAUTH2


def _gs2_authzid(user: str) -> str:
    # RFC 5801 § 4: "," and "=" in the authzid are escaped as =2C and =3D.
    return user.replace("=", "=3D").replace(",", "=2C")


def initial_response(mechanism: Mechanism, user: str, token: str, host: str = "", port: int = 0) -> bytes:
    """The client's first message, not yet base64-encoded.

    XOAUTH2 (Google's and Microsoft's documentation):
    ``user=<user>^Aauth=Bearer <token>^A^A``. OAUTHBEARER (RFC 7628 § 3.1):
    ``n,a=<user>,^Ahost=<host>^Aport=<port>^Aauth=Bearer <token>^A^A``.
    """
    if mechanism is Mechanism.XOAUTH2:
        return f"user={user}\x01auth=Bearer {token}\x01\x01".encode()
    fields = ""
    if host:
        fields += f"host={host}\x01"
    if port:
        fields += f"port={port}\x01"
    return f"n,a={_gs2_authzid(user)},\x01{fields}auth=Bearer {token}\x01\x01".encode()


def encoded(message: bytes) -> str:
    return base64.b64encode(message).decode("ascii")


def error_reason(challenge_b64: str) -> str | None:
    """The server's error from a failure challenge: RFC 7628 § 3.2.2 JSON ``{"status", "scope"…}``."""
    try:
        doc = json.loads(base64.b64decode(challenge_b64.strip(), validate=True))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(doc, dict):
        return None
    status = doc.get("status")
    return f"status {status}" if status is not None else None
