"""A listing's view of a message from what one FETCH gives: selected header fields and the body's first bytes.

Pure. ``envelope`` reads the header block of ``BODY[HEADER.FIELDS (…)]``;
``preview`` finds the first text part in the first bytes of ``BODY[TEXT]``
(a truncated MIME body: boundaries, part headers, quoted-printable or base64
cut anywhere) and returns its start as one line of text.
"""

from __future__ import annotations

import base64
import binascii
import html as html_lib
import quopri
import re
from functools import lru_cache
from typing import Any

from bridge.mail.headers import decode_bytes, decode_words, parse_addresses, parse_date, parse_ids
from bridge.models import rfc3339

PREVIEW_CHARS = 200
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:(.*(?:\r?\n[ \t].*)*)", re.M)
_PARAM = re.compile(r';\s*([A-Za-z0-9*_-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;\s]+)')
_TAG = re.compile(r"<(script|style)\b.*?(</\1>|$)|<[^>]*>", re.I | re.S)
_SPACE = re.compile(r"\s+")


def header_fields(block: bytes) -> dict[str, str]:
    """Header name (lower case) -> raw value of its first occurrence (unfolded later, when decoded)."""
    found: dict[str, str] = {}
    for name, value in _FIELD.findall(block):
        key = name.decode("ascii", "replace").lower()
        if key not in found:
            found[key] = value.decode("utf-8", "surrogateescape")
    return found


@lru_cache(maxsize=4096)
def _parsed(value: str) -> tuple[tuple[str, str], ...]:
    # The same few senders and recipients fill a mailbox: parsing each header value once pays (~80 µs each).
    return tuple(parse_addresses(value, [], "address"))


def _addresses(value: str | None, where: str) -> list[dict[str, str]]:
    if not value:
        return []
    return [{"name": n, "address": a} for n, a in _parsed(value)]


def envelope(block: bytes) -> dict[str, Any]:
    """messageId, inReplyTo, from, to, cc, subject, date (RFC 3339 or None)."""
    fields = header_fields(block)
    senders = _addresses(fields.get("from"), "from")
    date = parse_date(fields["date"], []) if "date" in fields else None
    message_ids = parse_ids(fields.get("message-id", ""))
    replied = parse_ids(fields.get("in-reply-to", ""))
    return {
        "messageId": message_ids[0] if message_ids else None,
        "inReplyTo": replied[0] if replied else None,
        "from": senders[0] if senders else None,
        "to": _addresses(fields.get("to"), "to"),
        "cc": _addresses(fields.get("cc"), "cc"),
        "subject": decode_words(fields.get("subject", "")),
        "date": rfc3339(date, "seconds") if date is not None else None,
    }


def _content_type(value: str | None) -> tuple[str, dict[str, str]]:
    if not value:
        return "text/plain", {}
    main = value.split(";", 1)[0].strip().lower() or "text/plain"
    params = {k.lower(): v.strip('"') for k, v in _PARAM.findall(value)}
    return main, params


def _decode(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding == "quoted-printable":
        return quopri.decodestring(body)
    if encoding == "base64":
        compact = re.sub(rb"[^A-Za-z0-9+/=]", b"", body)
        padded = compact.find(b"=")
        # Complete (padded) data ends at its padding; data cut short keeps its whole 4-character groups.
        compact = compact[: padded + (2 if compact[padded + 1 : padded + 2] == b"=" else 1)] if padded >= 0 else compact
        compact = compact[: len(compact) - len(compact) % 4]
        try:
            return base64.b64decode(compact)
        except (binascii.Error, ValueError):
            return b""
    return body


def _first_text(headers: dict[str, str], body: bytes, depth: int = 0) -> tuple[str, str] | None:
    """(content type, text) of the first text/plain part, else the first text/html one."""
    kind, params = _content_type(headers.get("content-type"))
    if kind.startswith("multipart/") and params.get("boundary") and depth < 3:
        delimiter = b"--" + params["boundary"].encode("utf-8", "replace")
        chunks = body.split(delimiter)[1:]
        html_found: tuple[str, str] | None = None
        for chunk in chunks:
            if chunk.startswith(b"--"):
                break
            head, sep, rest = chunk.lstrip(b"\r\n").partition(b"\r\n\r\n")
            if not sep:
                head, sep, rest = chunk.lstrip(b"\n").partition(b"\n\n")
            found = _first_text(header_fields(head), rest, depth + 1)
            if found is not None and found[0] == "text/plain":
                return found
            html_found = html_found or found
        return html_found
    if kind not in ("text/plain", "text/html"):
        return None
    data = _decode(body, headers.get("content-transfer-encoding", "7bit"))
    return kind, decode_bytes(data, params.get("charset"), [], "preview")


def preview(header_block: bytes, body_start: bytes) -> str:
    """The first words of the message's text (HTML stripped), on one line; "" when there is no text part."""
    found = _first_text(header_fields(header_block), body_start)
    if found is None:
        return ""
    kind, text = found
    if kind == "text/html":
        text = html_lib.unescape(_TAG.sub(" ", text))
    line = _SPACE.sub(" ", text).strip()
    return line[:PREVIEW_CHARS]
