"""Amazon SES event notifications delivered by mail (SNS e-mail subscriptions).

Pure: no I/O. Owns reading the JSON body SES sends for Bounce, Complaint
and Delivery events (docs.aws.amazon.com/ses "notification contents"),
either bare or wrapped in the SNS envelope's "Message" string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SesEntry:
    """One recipient of an SES notification."""

    address: str
    action: str
    status: str
    diagnostic: str
    remote_mta: str | None


@dataclass(frozen=True, slots=True)
class SesNotice:
    """The parts of an SES notification the classifier needs."""

    kind: str  # "bounce", "complaint" or "delivered"
    entries: tuple[SesEntry, ...]
    reporting_mta: str | None
    message_id: str | None
    feedback_type: str | None


def _load(text: str) -> dict[str, object] | None:
    start = text.find("{")
    if start < 0:
        return None
    try:
        # Mail transport may wrap long lines inside JSON strings; strict=False
        # accepts the resulting raw newlines.
        value, _ = json.JSONDecoder(strict=False).raw_decode(text[start:])
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get("Message"), str):
        # SNS envelope: the SES event is a JSON string inside it.
        return _load(value["Message"])
    return value if isinstance(value, dict) else None


def _obj(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _list(value: object) -> list[object]:
    return value if isinstance(value, list) else []


def parse(text: str) -> SesNotice | None:
    """Return the SES notification in text, or None if it is not one.

    Args:
        text: a decoded text body.
    """
    if "notificationType" not in text and "eventType" not in text:
        return None
    data = _load(text)
    if data is None:
        return None
    ntype = _str(data.get("notificationType") or data.get("eventType")).lower()
    mail = _obj(data.get("mail"))
    message_id = _str(mail.get("messageId")) or None
    if ntype == "bounce":
        bounce = _obj(data.get("bounce"))
        transient = _str(bounce.get("bounceType")).lower() == "transient"
        entries = tuple(
            SesEntry(
                address=_str(r.get("emailAddress")),
                action=_str(r.get("action")) or ("delayed" if transient else "failed"),
                status=_str(r.get("status")),
                diagnostic=_str(r.get("diagnosticCode")),
                remote_mta=None,
            )
            for r in map(_obj, _list(bounce.get("bouncedRecipients")))
        )
        return SesNotice("bounce", entries, _str(bounce.get("reportingMTA")) or None, message_id, None)
    if ntype == "complaint":
        complaint = _obj(data.get("complaint"))
        entries = tuple(
            SesEntry(_str(r.get("emailAddress")), "", "", "", None)
            for r in map(_obj, _list(complaint.get("complainedRecipients")))
        )
        ftype = _str(complaint.get("complaintFeedbackType")) or "abuse"
        return SesNotice("complaint", entries, None, message_id, ftype)
    if ntype == "delivery":
        delivery = _obj(data.get("delivery"))
        response = _str(delivery.get("smtpResponse"))
        entries = tuple(
            SesEntry(_str(r), "delivered", "", response, _str(delivery.get("remoteMtaIp")) or None)
            for r in _list(delivery.get("recipients"))
        )
        return SesNotice("delivered", entries, _str(delivery.get("reportingMTA")) or None, message_id, None)
    return None
