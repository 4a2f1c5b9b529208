"""RFC 3464 delivery status notifications, parsed per recipient.

Pure: no I/O. Owns reading the ``message/delivery-status`` part (RFC 3464
§ 2.1: one per-message block, then one block per recipient) into plain field
maps, so that a recipient's Status never mixes with another's Diagnostic-Code.
Also reads the same field blocks when a vendor pastes them into a text part.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field

from bridge.bounces.parts import Message, decode_bytes, own_parts, part_text

_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9\-]*)\s*:\s?(.*)$")
# A folded Diagnostic-Code line may start "host.example[192.0.2.1]: said".
_HOSTPORT_RE = re.compile(r"^[A-Za-z0-9][\w.\-]*\.[A-Za-z]{2,}\S*:")
_RECIPIENT_FIELDS = ("final-recipient", "original-recipient", "x-actual-recipient")
_PASTED_RECIPIENT_RE = re.compile(r"(?im)^\s*final-recipient\s*:")
_PASTED_STATUS_RE = re.compile(r"(?im)^\s*status\s*:")
_MESSAGE_FIELDS = ("reporting-mta", "received-from-mta", "arrival-date", "x-postfix-queue-id", "original-envelope-id")


@dataclass(slots=True)
class DsnBlock:
    """The fields of one per-recipient block; names lower-cased, values unfolded."""

    fields: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.fields.get(name, "")


@dataclass(slots=True)
class Dsn:
    """A parsed delivery-status body: per-message fields and recipient blocks."""

    message_fields: dict[str, str] = field(default_factory=dict)
    recipients: list[DsnBlock] = field(default_factory=list)


def _blocks(text: str) -> list[dict[str, str]]:
    """Split DSN text into header-like blocks (RFC 3464 § 2.1), unfolding continuations."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last: str | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, None
            continue
        if line[0] in " \t" and last is not None:
            current[last] += " " + line.strip()
            continue
        match = _FIELD_RE.match(line)
        if not match:
            last = None
            continue
        name = match.group(1).lower()
        if name in current and name in _RECIPIENT_FIELDS + ("action", "status"):
            # A second recipient without a separating blank line (seen from
            # some Exchange builds): start a new block.
            blocks.append(current)
            current = {}
        current[name] = match.group(2).strip()
        last = name
    if current:
        blocks.append(current)
    return blocks


def parse_text(text: str) -> Dsn:
    """Parse DSN fields from text; blocks naming a recipient become recipients."""
    dsn = Dsn()
    for block in _blocks(text):
        if any(name in block for name in _RECIPIENT_FIELDS):
            dsn.recipients.append(DsnBlock(block))
        elif "action" in block and "status" in block and dsn.recipients and not _has_recipient(block):
            dsn.recipients[-1].fields.update(block)
        else:
            for name, value in block.items():
                if name in _MESSAGE_FIELDS:
                    dsn.message_fields.setdefault(name, value)
    return dsn


def _has_recipient(block: dict[str, str]) -> bool:
    return any(name in block for name in _RECIPIENT_FIELDS)


def _status_part_text(part: Message) -> str:
    if str(part.get("Content-Transfer-Encoding", "")).strip().lower() == "base64":
        # Some MTAs base64-encode the delivery-status part (RFC 6533 § 6
        # allows it for the global type); the parser has cut the still
        # encoded text into "blocks", so decode the part's raw body.
        _, _, encoded = part.as_string().replace("\r\n", "\n").partition("\n\n")
        try:
            data = base64.b64decode(encoded)
        except (ValueError, binascii.Error):
            data = encoded.encode("utf-8", "replace")
        return decode_bytes(data, part.get_content_charset() or "utf-8")
    payload = part.get_payload()
    if isinstance(payload, list):
        # compat32 parses message/delivery-status into one Message per block.
        chunks = []
        for block in payload:
            if isinstance(block, Message):
                chunks.append("\n".join(f"{k}: {' '.join(_raw_text(v).split())}" for k, v in block.raw_items()))
                # Bytes, not the str payload: for 8-bit text the str form has
                # already replaced what it could not read in the block's
                # (default ASCII) charset.
                raw = block.get_payload(decode=True)
                body = decode_bytes(raw, "utf-8") if isinstance(raw, bytes) else block.get_payload()
                if isinstance(body, str) and body.strip():
                    chunks.append(body)
        return "\n\n".join(chunks)
    return part_text(part)


def _raw_text(value: object) -> str:
    """A field value as UTF-8 text: the parser keeps 8-bit bytes as surrogate escapes (RFC 6533 fields are UTF-8)."""
    text = str(value)
    try:
        return text.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return text


def find_dsn(msg: Message) -> Dsn | None:
    """Return the DSN carried by the report, or None.

    Looks for a ``message/delivery-status`` part first (RFC 3464 § 2), then
    for a text part that spells out Final-Recipient/Action/Status blocks.
    """
    for part in own_parts(msg):
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            dsn = parse_text(_status_part_text(part))
            if dsn.recipients:
                return dsn
    for part in own_parts(msg):
        if may_hold_fields(part):
            text = part_text(part)
            if spells_out_fields(text):
                dsn = parse_text("\n".join(_dedent_field(line) for line in text.splitlines()))
                if dsn.recipients:
                    return dsn
    return None


def may_hold_fields(part: Message) -> bool:
    """True for a single (non-multipart) text part, where vendors paste DSN fields."""
    return part.get_content_maintype() in ("text", "multipart") and not part.is_multipart()


def spells_out_fields(text: str) -> bool:
    """True when text has RFC 3464 Final-Recipient and Status field lines."""
    return bool(_PASTED_RECIPIENT_RE.search(text)) and bool(_PASTED_STATUS_RE.search(text))


def _dedent_field(line: str) -> str:
    """Unindent a pasted field line, keep a folded continuation (RFC 5322 § 2.2.3) indented."""
    stripped = line.strip()
    if _FIELD_RE.match(stripped) and not _HOSTPORT_RE.match(stripped):
        return stripped
    return " " + stripped if line[:1] in " \t" and stripped else stripped


def type_of(value: str) -> str:
    """Return the RFC 3464 § 2.3.6 diagnostic-type of a field ("smtp", "x-unix"), lower-cased, or ""."""
    head, sep, _ = value.partition(";")
    return head.strip().lower() if sep and re.fullmatch(r"\s*[A-Za-z0-9\-]+\s*", head) else ""


def strip_type(value: str) -> str:
    """Drop an RFC 3464 type prefix ("rfc822;", "dns;", "smtp;")."""
    if ";" in value:
        head, rest = value.split(";", 1)
        if re.fullmatch(r"\s*[A-Za-z0-9\-]+\s*", head):
            return rest.strip()
    return value.strip()


def find_nested_dsn(msg: Message) -> Dsn | None:
    """Return a DSN found inside an attached message (a forwarded bounce)."""
    for part in msg.walk():
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            dsn = parse_text(_status_part_text(part))
            if dsn.recipients:
                return dsn
    return None
