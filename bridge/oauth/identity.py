"""Who signed in: the address in an ID token or a user-info document.

Pure: no I/O. The ID token comes straight from the token endpoint over TLS, so
its signature need not be checked (OpenID Connect Core § 3.1.3.7: TLS server
validation may stand in for it); only its claims are read.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

# Google puts the address in "email"; Microsoft in "email" (with the email scope) or
# "preferred_username" / "upn" (work accounts).
_ADDRESS_CLAIMS = ("email", "preferred_username", "upn", "mail", "username")


def id_token_claims(id_token: str) -> dict[str, Any]:
    """The claims (payload) of a JWT, unverified; {} when it is not a JWT."""
    parts = id_token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def address(claims: dict[str, Any]) -> str | None:
    """The first claim that holds an e-mail address."""
    for name in _ADDRESS_CLAIMS:
        value = claims.get(name)
        if isinstance(value, str) and "@" in value and len(value) <= 320:
            return value
    return None
