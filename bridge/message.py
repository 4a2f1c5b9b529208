"""Parse raw RFC 5322 bytes once into a ParsedMessage.

Pure: no I/O, no clock. This module is the only caller of the stdlib email
parser; every other module (auth_results, bounces, payloads, storage) reads
headers and parts from the ParsedMessage it returns. Never re-parse.

(Minimal seed: the MIME work extends ParsedMessage with the full record.)
"""

from __future__ import annotations

import email
import email.message
import email.policy
import hashlib
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """One message, parsed once.

    Attributes:
        raw: the exact bytes as fetched (DKIM needs them unchanged).
        tree: the stdlib MIME tree, parsed with ``compat32`` because it never
            raises on malformed headers; read it, do not mutate it.
        body_sha256: hex SHA-256 of ``raw``.
    """

    raw: bytes
    tree: email.message.Message
    body_sha256: str


def parse(raw: bytes) -> ParsedMessage:
    """Parse raw message bytes. Never raises on malformed input."""
    tree = email.message_from_bytes(raw, policy=email.policy.compat32)
    return ParsedMessage(raw=raw, tree=tree, body_sha256=hashlib.sha256(raw).hexdigest())
