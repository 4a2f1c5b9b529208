"""Build forwarded, ARC-sealed messages with dkimpy, as a sender, a mailing list and a forwarder would.

No fixtures here; plain functions shared by the ARC unit and end-to-end tests. Keys are made
fresh per test run and published by the caller (a dict-backed Resolver or the local DNS server).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

SIGNED_HEADERS = [b"from", b"to", b"subject", b"date", b"message-id"]


@dataclass(frozen=True)
class Key:
    """A signing key and where its public half is published."""

    domain: str
    selector: str
    pem: bytes
    record: str  # the TXT value of <selector>._domainkey.<domain>

    @property
    def dns_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"


def make_key(domain: str, selector: str = "sel") -> Key:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505  (fast; RFC 8301 minimum)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return Key(domain, selector, pem, f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}")


def original(sender: str = "ann@sender.example", subject: str = "Quarterly numbers") -> bytes:
    """A plain message as the author's server sends it (CRLF)."""
    lines = [
        f"From: Ann <{sender}>",
        "To: list@lists.forwarder.example",
        f"Subject: {subject}",
        "Date: Mon, 02 Mar 2026 10:00:00 +0000",
        "Message-ID: <q1-2026@sender.example>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        "The numbers are in the attached sheet.",
        "",
    ]
    return "\r\n".join(lines).encode()


def dkim_sign(raw: bytes, key: Key) -> bytes:
    """Prepend a DKIM-Signature made with ``key``."""
    sig: bytes = dkim.sign(raw, key.selector.encode(), key.domain.encode(), key.pem, include_headers=SIGNED_HEADERS)
    return sig + raw


def as_list_would(raw: bytes, tag: str = "[team]") -> bytes:
    """Change the message as a mailing list does: subject tag and footer (the author's DKIM breaks)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    head = head.replace(b"\r\nSubject: ", b"\r\nSubject: " + tag.encode() + b" ", 1)
    return head + b"\r\n\r\n" + body + b"--\r\nYou are subscribed to team@lists.forwarder.example\r\n"


def arc_seal(raw: bytes, key: Key, results: str, *, srv_id: str | None = None, received: str = "") -> bytes:
    """ARC-seal ``raw`` as the forwarder ``key.domain``, recording ``results`` as its AAR.

    Args:
        raw: the message as the forwarder will pass it on (already modified).
        key: the sealer's key; ``key.domain`` becomes the ARC-Seal ``d=``.
        results: the resinfo part of the forwarder's Authentication-Results, e.g.
            ``"dkim=pass header.d=sender.example; dmarc=pass header.from=sender.example"``;
            for a second hop it must include ``arc=pass``.
        srv_id: the forwarder's authserv-id; defaults to ``key.domain``.
        received: a Received field value the forwarder adds above the seal, if any.

    Returns:
        The message with the new ARC set (and the Authentication-Results it sealed) on top.
    """
    srv = srv_id or key.domain
    with_ar = f"Authentication-Results: {srv}; {results}\r\n".encode() + raw
    headers = dkim.arc_sign(
        with_ar,
        key.selector.encode(),
        key.domain.encode(),
        key.pem,
        srv.encode(),
        include_headers=SIGNED_HEADERS,
    )
    top = f"Received: {received}\r\n".encode() if received else b""
    return top + b"".join(headers) + with_ar


def forwarded(sender_key: Key, sealer_key: Key, dmarc: str = "pass", from_domain: str = "sender.example") -> bytes:
    """A message DKIM-signed by the author, changed by a list, then sealed by ``sealer_key``'s domain."""
    raw = as_list_would(dkim_sign(original(f"ann@{from_domain}"), sender_key))
    results = f"spf=pass smtp.mailfrom={from_domain}; dkim=pass header.d={from_domain}; dmarc={dmarc} header.from={from_domain}"
    return arc_seal(raw, sealer_key, results)
