"""PKCE verifiers and challenges (RFC 7636) and sign-in nonces.

Pure: no I/O (randomness from ``secrets`` only).
"""

from __future__ import annotations

import base64
import hashlib
import secrets


def new_verifier() -> str:
    """A code verifier: 64 URL-safe characters from 384 random bits (RFC 7636 § 4.1 allows 43 to 128)."""
    return secrets.token_urlsafe(48)


def challenge(verifier: str) -> str:
    """The S256 code challenge: BASE64URL(SHA256(verifier)) without padding (RFC 7636 § 4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_nonce() -> str:
    """The id of one pending sign-in, carried inside the signed state."""
    return secrets.token_urlsafe(18)
