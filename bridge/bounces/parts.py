"""MIME access helpers shared by the bounce modules.

Pure: no I/O. Owns decoding of header values and text bodies from the stdlib
tree, walking the report's own parts (not the returned message), and finding
the returned message's headers and Message-ID.
"""

from __future__ import annotations

import email.errors
import email.header
import email.message
import email.policy
import re
from collections.abc import Iterator

Message = email.message.Message

# RFC 5322 addr-spec, loosely: real bounces quote addresses in every style.
# RFC 5321 § 4.1.2 also allows a Quoted-string local part ("a..b"@example.org),
# kept with its quotes: it is the address as the remote saw it. An apostrophe
# is legal atext but never starts a real local part; reports use it as a
# quote ("addressed to 'a@b.example'").
ADDRESS_RE = re.compile(
    r"(?:\"[^\"\s<>@]+\"|(?!')[A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-]+)@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)+"
)
_MSGID_LINE_RE = re.compile(r"^\s*Message-I[Dd]\s*:\s*(.*)$", re.MULTILINE | re.IGNORECASE)
_ORIGINAL_TYPES = ("message/rfc822", "text/rfc822-headers", "text/rfc822-header")


def header(msg: Message, name: str) -> str:
    """Return a header decoded per RFC 2047 and unfolded, or "".

    Args:
        msg: the message or part.
        name: header name.

    Returns:
        The decoded value; "" when absent or undecodable.
    """
    value = msg.get(name)
    if value is None:
        return ""
    if isinstance(value, str) and value.isascii() and "=?" not in value:
        # No RFC 2047 encoded word: decoding would return the text as it is.
        return " ".join(value.split())
    try:
        decoded = str(email.header.make_header(email.header.decode_header(str(value))))
    except (LookupError, ValueError, UnicodeError, email.errors.HeaderParseError):
        decoded = str(value)
    return " ".join(decoded.split())


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode body bytes with the declared charset, falling back safely."""
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeError):
            continue
    # latin-1 maps every byte, so undeclared 8-bit text never crashes.
    return data.decode("latin-1")


def part_text(part: Message) -> str:
    """Return a non-multipart part's decoded body, "" for multiparts."""
    if part.is_multipart():
        payload = part.get_payload()
        if isinstance(payload, list):
            return "\n".join(m.as_string() for m in payload if isinstance(m, Message))
        return ""
    try:
        data = part.get_payload(decode=True)
    except (ValueError, TypeError, AssertionError):
        data = None
    if not isinstance(data, bytes):
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    return decode_bytes(data, part.get_content_charset())


def own_parts(msg: Message) -> Iterator[Message]:
    """Yield the report's parts depth-first, not descending into attached messages."""
    yield msg
    if msg.get_content_type() in ("message/rfc822", "message/delivery-status"):
        return
    payload = msg.get_payload()
    if msg.is_multipart() and isinstance(payload, list):
        for sub in payload:
            if isinstance(sub, Message):
                yield from own_parts(sub)


def report_texts(msg: Message, decoded: dict[int, str] | None = None) -> list[str]:
    """Return the decoded text/plain (else text/html) bodies of the report itself.

    Args:
        msg: the report.
        decoded: when given, filled with each decoded part's text by
            ``id(part)``, so that a later reader of the same parts (the
            pre-check's pasted-DSN test) does not decode them again.
    """
    memo: dict[int, str] = {} if decoded is None else decoded

    def text_of(part: Message) -> str:
        key = id(part)
        if key not in memo:
            memo[key] = part_text(part)
        return memo[key]

    plain: list[str] = []
    html: list[str] = []
    for part in own_parts(msg):
        if part.get_content_maintype() == "multipart" and isinstance(part.get_payload(), str):
            # A multipart without a usable boundary (RFC 2046 § 5.1.1
            # violated) parses as one string: read it as text.
            plain.append(text_of(part))
            continue
        if part.is_multipart() or part.get_content_maintype() not in ("text", ""):
            continue
        ctype = part.get_content_type()
        if ctype in _ORIGINAL_TYPES:
            continue
        if header(part, "Content-Disposition").lower().startswith("attachment") and plain:
            continue
        if ctype == "text/html":
            html.append(strip_html(text_of(part)))
        else:
            plain.append(text_of(part))
    return plain or html


def strip_html(text: str) -> str:
    """Reduce HTML to text lines, enough for pattern matching."""
    text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", text)
    text = re.sub(r"(?i)<br\s*/?>|</(p|div|tr|li|h\d)>", "\n", text)
    text = re.sub(r"<[^>]+>", " ", text)
    for entity, char in (("&lt;", "<"), ("&gt;", ">"), ("&nbsp;", " "), ("&quot;", '"'), ("&amp;", "&")):
        text = text.replace(entity, char)
    return text


def original_headers(msg: Message) -> Message | None:
    """Return the returned message's header block (RFC 3462 § 2 third part), if attached."""
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/rfc822" or (ctype == "text/rfc822-headers" and part is not msg):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
            if isinstance(payload, str):
                return email.message_from_string(part_text(part), policy=email.policy.compat32)
        elif ctype == "text/rfc822-header":
            return email.message_from_string(part_text(part), policy=email.policy.compat32)
    return None


def clean_message_id(value: str) -> str | None:
    """Strip a Message-ID to its id-left@id-right form, without brackets."""
    match = re.search(r"<([^<>\s]+)>", value)
    token = match.group(1) if match else value.strip().split()[0] if value.strip() else ""
    token = token.strip("<>;,")
    return token or None


def original_message_id(msg: Message, quoted_text: str) -> str | None:
    """Find the Message-ID of the bounced message.

    Args:
        msg: the report.
        quoted_text: the report's text after its "original message follows"
            separator, where text bounces quote the returned headers.

    Returns:
        The id without angle brackets, or None.
    """
    orig = original_headers(msg)
    if orig is not None:
        value = header(orig, "Message-ID")
        if value:
            return clean_message_id(value)
        body = orig.get_payload()
        match = _MSGID_LINE_RE.search(body) if isinstance(body, str) else None
        if match:
            return clean_message_id(match.group(1))
    match = _MSGID_LINE_RE.search(quoted_text)
    if match:
        value = match.group(1)
        if not value.strip():
            rest = quoted_text[match.end() :].lstrip("\n")
            value = rest.splitlines()[0] if rest else ""
        return clean_message_id(value)
    return None
