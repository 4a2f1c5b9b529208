"""Feedback-loop complaints: ARF (RFC 5965, RFC 6591) and Hotmail-style forwards.

Pure: no I/O. Owns recognising a complaint and reading its feedback type,
complaining recipients, reporter and the complained-about Message-ID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bridge.bounces.parts import (
    ADDRESS_RE,
    Message,
    header,
    original_headers,
    original_message_id,
    own_parts,
    part_text,
)

_FIELD_RE = re.compile(r"^([A-Za-z][A-Za-z0-9\-]*)\s*:\s*(.*)$", re.MULTILINE)
# RFC 5965 § 7.3 registry plus RFC 6591 "auth-failure" and the older
# "dmarc"/"not-spam" tokens some providers still send.
_FEEDBACK_TYPES = frozenset({"abuse", "fraud", "virus", "other", "not-spam", "opt-out", "auth-failure", "dmarc"})
# Microsoft's JMRP and similar forwards carry no feedback-report part; the
# subject and sender say what they are.
_FORWARD_SUBJECT_RE = re.compile(r"complaint about message from|abuse report|spam report|fbl report", re.IGNORECASE)
_FORWARD_FROM_RE = re.compile(r"staff@hotmail\.com|complaints?@|feedbackloop|fbl@|abuse@", re.IGNORECASE)
_OPTOUT_RE = re.compile(r"\bunsubscribe|opt[- ]out\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Complaint:
    """What a complaint says; the classifier turns it into a Report."""

    feedback_type: str
    recipients: tuple[str, ...]
    reporting_mta: str | None
    original_message_id: str | None
    user_agent: str


def _report_fields(part: Message) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    text = re.sub(r"\n[ \t]+", " ", part_text(part).replace("\r\n", "\n"))
    for match in _FIELD_RE.finditer(text):
        fields.setdefault(match.group(1).lower(), []).append(match.group(2).strip())
    return fields


def _feedback_part(msg: Message) -> Message | None:
    for part in own_parts(msg):
        if part.get_content_type() == "message/feedback-report":
            return part
    return None


def _addresses(values: list[str]) -> list[str]:
    found: list[str] = []
    for value in values:
        for address in ADDRESS_RE.findall(value):
            if address.lower() not in (a.lower() for a in found):
                found.append(address)
    return found


def _returned_recipients(msg: Message) -> list[str]:
    orig = original_headers(msg)
    if orig is None:
        return []
    # Hotmail's JMRP keeps the complaining mailbox in a private header.
    hotmail = header(orig, "X-HmXmrOriginalRecipient")
    return _addresses([hotmail] if hotmail else [header(orig, "To")])


def _message_id(msg: Message) -> str | None:
    return original_message_id(msg, "")


def parse(msg: Message) -> Complaint | None:
    """Return the complaint the message carries, or None.

    Args:
        msg: the inbound message tree.

    Returns:
        A Complaint when the message is an ARF report (RFC 5965 § 2) or a
        recognisable non-ARF feedback-loop forward.
    """
    part = _feedback_part(msg)
    if part is not None:
        fields = _report_fields(part)
        ftype = (
            (fields.get("feedback-type") or ["other"])[0].lower().split()[0] if fields.get("feedback-type") else "other"
        )
        if ftype not in _FEEDBACK_TYPES:
            ftype = "other"
        recipients = _addresses(fields.get("original-rcpt-to", [])) or _addresses(fields.get("removal-recipient", []))
        recipients = recipients or _returned_recipients(msg)
        reporter = (fields.get("reporting-mta") or [""])[0]
        return Complaint(
            feedback_type=ftype,
            recipients=tuple(recipients),
            reporting_mta=reporter.split(";", 1)[-1].strip() or None,
            original_message_id=_message_id(msg),
            user_agent=(fields.get("user-agent") or [""])[0],
        )
    return _forwarded_complaint(msg)


def looks_forwarded(msg: Message) -> bool:
    """True when subject and sender are those of a non-ARF feedback-loop forward."""
    return bool(_FORWARD_SUBJECT_RE.search(header(msg, "Subject"))) and bool(
        _FORWARD_FROM_RE.search(header(msg, "From"))
    )


def _forwarded_complaint(msg: Message) -> Complaint | None:
    if not looks_forwarded(msg):
        return None
    if original_headers(msg) is None:
        return None
    ftype = "opt-out" if _OPTOUT_RE.search(header(msg, "Subject")) else "abuse"
    return Complaint(
        feedback_type=ftype,
        recipients=tuple(_returned_recipients(msg)),
        reporting_mta=None,
        original_message_id=_message_id(msg),
        user_agent="",
    )
