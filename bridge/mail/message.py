"""Parse raw RFC 5322 bytes once into a ParsedMessage.

Pure: no I/O, no clock. This module is the only caller of the stdlib email
parser; every other module (auth_results, bounces, payloads, storage) reads
headers and parts from the ParsedMessage it returns. Never re-parse.

``parse`` never raises: malformed mail comes back with ``parse_errors``.
Header decoding lives in ``bridge.mail.headers``, body selection and
attachment metadata in ``bridge.mail.parts``.
"""

from __future__ import annotations

import datetime as dt
import email
import email.message
import email.policy
import hashlib
import re
from dataclasses import dataclass

from bridge.mail.headers import (
    decode_words,
    parse_addresses,
    parse_date,
    parse_ids,
    raw_text,
)
from bridge.mail.parts import Attachment, collect, find_part, part_bytes
from bridge.mail.parts import content_type as _content_type

__all__ = ["Address", "Attachment", "ParsedMessage", "attachment_content", "parse"]

_OBS_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]+:", re.MULTILINE)
_ADDRESS_FIELDS = ("from", "sender", "reply-to", "to", "cc", "bcc")


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: decoded display name ("" when absent) and addr-spec."""

    name: str
    address: str


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    """One message, parsed once.

    Attributes:
        raw: the exact bytes as fetched (DKIM needs them unchanged).
        tree: the stdlib MIME tree, parsed with ``compat32`` because it never
            raises on malformed headers; read it, do not mutate it.
        body_sha256: hex SHA-256 of ``raw``.
        message_id: Message-ID without angle brackets, or None.
        in_reply_to: the first id in In-Reply-To, or None.
        references: ids in References, oldest first.
        date: the Date header as an aware datetime, or None if absent or bad.
        from_: From mailboxes (groups flattened, as in all address fields).
        sender: Sender mailboxes.
        reply_to: Reply-To mailboxes.
        to: To mailboxes.
        cc: Cc mailboxes.
        bcc: Bcc mailboxes.
        subject: decoded Subject ("" when absent).
        text: the plain-text body (parts joined), or None if there is none.
        html: the HTML body (parts joined), or None if there is none.
        attachments: every non-body leaf part, inline images included.
        size: ``len(raw)``.
        headers: top-level (name, unfolded and decoded value) pairs in order.
        parse_errors: human-readable problems met while parsing.
    """

    raw: bytes
    tree: email.message.Message
    body_sha256: str
    message_id: str | None
    in_reply_to: str | None
    references: list[str]
    date: dt.datetime | None
    from_: list[Address]
    sender: list[Address]
    reply_to: list[Address]
    to: list[Address]
    cc: list[Address]
    bcc: list[Address]
    subject: str
    text: str | None
    html: str | None
    attachments: list[Attachment]
    size: int
    headers: list[tuple[str, str]]
    parse_errors: list[str]


def parse(raw: bytes) -> ParsedMessage:
    """Parse raw message bytes.

    Args:
        raw: the message exactly as fetched from IMAP.

    Returns:
        The parsed message. Never raises on malformed input; problems are
        listed in ``parse_errors``.
    """
    tree = email.message_from_bytes(_repair_header_block(raw), policy=email.policy.compat32)
    errors: list[str] = []
    try:
        return _build(raw, tree, errors)
    except Exception as exc:  # noqa: BLE001 - a malformed message must never kill the watcher
        errors.append(f"internal: parser failed ({type(exc).__name__}: {exc})")
        return _empty(raw, tree, errors)


def attachment_content(parsed: ParsedMessage, attachment_id: str) -> tuple[bytes, str] | None:
    """Return the decoded bytes and content type of one attachment.

    Args:
        parsed: a message from ``parse``.
        attachment_id: an ``Attachment.id`` of that message.

    Returns:
        ``(content, content_type)``, or None if the id names no attachment.
    """
    if not any(att.id == attachment_id for att in parsed.attachments):
        return None
    part = find_part(parsed.tree, attachment_id)
    if part is None:
        return None
    return part_bytes(part), _content_type(part)


def _build(raw: bytes, tree: email.message.Message, errors: list[str]) -> ParsedMessage:
    first: dict[str, str] = {}
    headers: list[tuple[str, str]] = []
    addresses: dict[str, list[Address]] = {name: [] for name in _ADDRESS_FIELDS}
    # raw_items, not items: compat32 turns 8-bit values into lossy Header objects.
    for name, stored in tree.raw_items():
        key = name.lower()
        value = stored if isinstance(stored, str) else str(stored)
        first.setdefault(key, value)
        headers.append((raw_text(name), decode_words(value, errors)))
        if key in addresses:
            pairs = parse_addresses(value, errors, name)
            addresses[key].extend(Address(n, a) for n, a in pairs)
    for required in ("from", "date"):
        if required not in first:
            errors.append(f"header: {required.title()} is missing")
    bodies = collect(tree, errors)
    reply_ids = parse_ids(first.get("in-reply-to", ""))
    message_ids = parse_ids(first.get("message-id", ""))
    return ParsedMessage(
        raw=raw,
        tree=tree,
        body_sha256=hashlib.sha256(raw).hexdigest(),
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=reply_ids[0] if reply_ids else None,
        references=parse_ids(first.get("references", "")),
        date=parse_date(first["date"], errors) if "date" in first else None,
        from_=addresses["from"],
        sender=addresses["sender"],
        reply_to=addresses["reply-to"],
        to=addresses["to"],
        cc=addresses["cc"],
        bcc=addresses["bcc"],
        subject=decode_words(first.get("subject", "")),
        text=_join(bodies.text),
        html=_join(bodies.html),
        attachments=bodies.attachments,
        size=len(raw),
        headers=headers,
        parse_errors=errors,
    )


def _repair_header_block(raw: bytes) -> bytes:
    # RFC 5322 § 4.5.3 obs-optional allows WSP before the colon ("Subject :");
    # the stdlib parser takes such a line for the start of the body.
    ends = [i for i in (raw.find(b"\n\n"), raw.find(b"\r\n\r\n")) if i >= 0]
    end = min(ends) if ends else len(raw)
    head = raw[:end]
    if _OBS_FIELD.search(head) is None:
        return raw
    return _OBS_FIELD.sub(rb"\1:", head) + raw[end:]


def _join(texts: list[str]) -> str | None:
    # Several inline text parts (text, image, text in multipart/mixed) read as one.
    if not texts:
        return None
    out = texts[0]
    for more in texts[1:]:
        out += more if out.endswith("\n") else "\n" + more
    return out


def _empty(raw: bytes, tree: email.message.Message, errors: list[str]) -> ParsedMessage:
    return ParsedMessage(
        raw=raw,
        tree=tree,
        body_sha256=hashlib.sha256(raw).hexdigest(),
        message_id=None,
        in_reply_to=None,
        references=[],
        date=None,
        from_=[],
        sender=[],
        reply_to=[],
        to=[],
        cc=[],
        bcc=[],
        subject="",
        text=None,
        html=None,
        attachments=[],
        size=len(raw),
        headers=[],
        parse_errors=errors,
    )
