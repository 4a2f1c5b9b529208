"""Encryption of secrets at rest (AES-256-GCM) and API token hashing.

Pure: no I/O. The AES key is derived from BRIDGE_SECRET with HKDF-SHA256, so
the operator keeps one secret and the bridge never stores a key. Each
ciphertext is bound to its context (associated data such as
``account:<id>:imap``) so a stored value cannot be swapped into another
account. Format: ``v1.<base64url(nonce || ciphertext+tag)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bridge.errors import BridgeError

_VERSION = "v1"
_NONCE_BYTES = 12  # NIST SP 800-38D recommends 96-bit nonces for GCM.
_TAG_BYTES = 16
TOKEN_PREFIX = "mb_"  # noqa: S105 - a public prefix


class DecryptionFailed(BridgeError):
    """Raised when a stored secret cannot be decrypted (wrong BRIDGE_SECRET or tampering)."""

    code = "decryptionFailed"


def derive_key(secret: str, purpose: str) -> bytes:
    """Derive a 32-byte key for one purpose from the operator's secret."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"mailbridge", info=purpose.encode())
    return hkdf.derive(secret.encode())


class Vault:
    """Encrypts and decrypts small secrets with AES-GCM."""

    def __init__(self, secret: str) -> None:
        self._aead = AESGCM(derive_key(secret, "secrets-at-rest/v1"))

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, context: str) -> str:
        """Raises: DecryptionFailed on a wrong key, wrong context or altered value."""
        version, _, body = token.partition(".")
        try:
            if version != _VERSION:
                raise ValueError(version)
            blob = base64.b64decode(body, altchars=b"-_", validate=True)
            if len(blob) <= _NONCE_BYTES + _TAG_BYTES:
                raise ValueError("too short")
            plain = self._aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], context.encode())
        except (ValueError, binascii.Error, InvalidTag) as exc:
            raise DecryptionFailed(f"cannot decrypt the stored secret for {context}") from exc
        return plain.decode()


def new_api_token() -> str:
    """A fresh API token: 256 random bits, prefixed so leaked tokens are recognisable."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    """SHA-256 of a token. Tokens carry 256 random bits, so a fast hash is enough
    (a slow password hash protects low-entropy secrets, which these are not)."""
    return hashlib.sha256(token.encode()).hexdigest()
