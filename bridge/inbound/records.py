"""The stored message record and its projections (the JSON shapes of inbound mail).

Pure: no I/O, no clock (``received_at`` is passed in). ``message_fields``
takes what a ParsedMessage says and ``build_record`` makes the record of it; the REST API, webhooks and WebSocket stream
all send projections of that one record, so the shapes cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from bridge.bounces import BounceRecipient, Kind, Report
from bridge.events.model import EventName
from bridge.mail import ids
from bridge.mail.message import Address, ParsedMessage
from bridge.models import rfc3339
from bridge.senderauth.results import AuthReport

# Bodies larger than this stay on REST; webhooks and streams carry a flag instead.
EVENT_BODY_LIMIT = 64 * 1024


def message_key(folder: str, uidvalidity: int, uid: int) -> str:
    """The message's id (``bridge.mail.ids``): resolvable on the server, and the dedupe key.

    The same IMAP message always gets the same id, so a message fetched again
    after a crash or reconnect is recognised (the store is per account).
    """
    return ids.encode(folder, uidvalidity, uid)


def _address(a: Address) -> dict[str, str]:
    return {"name": a.name, "address": a.address}


def _iso(value: datetime | None, timespec: Literal["seconds", "milliseconds"] = "seconds") -> str | None:
    if value is None:
        return None
    return rfc3339(value, timespec)


def message_fields(parsed: ParsedMessage) -> dict[str, Any]:
    """The parts of the record that come from the message alone (picklable, JSON-ready).

    The analysis (maybe in another process, ``bridge.inbound.analysis``) makes these;
    ``build_record`` adds where the message sits and when it came.
    """
    return {
        "messageId": parsed.message_id,
        "inReplyTo": parsed.in_reply_to,
        "references": list(parsed.references),
        "date": _iso(parsed.date),
        "from": _address(parsed.from_[0]) if parsed.from_ else None,
        "sender": _address(parsed.sender[0]) if parsed.sender else None,
        "replyTo": [_address(a) for a in parsed.reply_to],
        "to": [_address(a) for a in parsed.to],
        "cc": [_address(a) for a in parsed.cc],
        "subject": parsed.subject,
        "text": parsed.text,
        "html": parsed.html,
        "attachments": [
            {
                "id": a.id,
                "filename": a.filename,
                "contentType": a.content_type,
                "size": a.size,
                "contentId": a.content_id,
                "inline": a.inline,
            }
            for a in parsed.attachments
        ],
        "size": parsed.size,
        "bodySha256": parsed.body_sha256,
        "headers": [[name, value] for name, value in parsed.headers],
        "parseErrors": list(parsed.parse_errors),
    }


@dataclass(frozen=True, slots=True)
class MessageRecord:
    """One stored inbound message; owns its JSON form (storage and REST) and its event body.

    The identity and the fields decisions read are typed; the parts that are only ever
    served as they are (addresses, attachments, headers, ``auth``, ``classification`` …) stay
    in ``content``, in the order ``to_json`` writes them, so the JSON is byte-compatible.
    """

    id: str
    account: str
    folder: str
    uid: int
    uid_validity: int
    conversation_id: str
    received_at: str  # ISO 8601, milliseconds, "Z"
    content: dict[str, Any]  # message_fields, then flags, then the verdicts; further keys (``policy``) after

    @classmethod
    def build(
        cls,
        fields: dict[str, Any],
        *,
        message_id: str,
        account: str,
        folder: str,
        uid: int,
        uidvalidity: int,
        received_at: datetime,
        conversation_id: str,
        flags: list[str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> MessageRecord:
        """``fields`` come from ``message_fields``; ``extra`` carries the verdicts (``auth``, ``classification`` …)."""
        content = {**fields, "flags": list(flags or []), **(extra or {})}
        when = _iso(received_at, "milliseconds") or ""
        return cls(message_id, account, folder, uid, uidvalidity, conversation_id, when, content)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> MessageRecord:
        content = {k: v for k, v in doc.items() if k not in _IDENTITY}
        return cls(
            doc["id"], doc["account"], doc["folder"], int(doc["uid"]), int(doc["uidValidity"]),
            doc["conversationId"], doc["receivedAt"], content,
        )  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        """The record as stored and served by REST (camelCase)."""
        return {
            "id": self.id,
            "account": self.account,
            "folder": self.folder,
            "uid": self.uid,
            "uidValidity": self.uid_validity,
            "conversationId": self.conversation_id,
            "receivedAt": self.received_at,
            **self.content,
        }

    def for_event(self) -> dict[str, Any]:
        return for_event(self.to_json())

    @property
    def header_message_id(self) -> str | None:
        value = self.content.get("messageId")
        return str(value) if value else None

    @property
    def classification(self) -> dict[str, Any] | None:
        value = self.content.get("classification")
        return value if isinstance(value, dict) else None

    @property
    def sender_address(self) -> str:
        """The From address, lower-cased ("" when there is none): what policy rules and rate limits key on."""
        return str((self.content.get("from") or {}).get("address") or "").lower()

    @property
    def recipient_addresses(self) -> list[str]:
        """The To and Cc addresses, in order."""
        found = (self.content.get("to") or []) + (self.content.get("cc") or [])
        return [str(a["address"]) for a in found if a.get("address")]

    def guarded_text(self) -> str:
        """What content guards read: subject, text and HTML, one per line."""
        return "\n".join(str(self.content.get(field) or "") for field in ("subject", "text", "html"))

    def with_content(self, **changes: Any) -> MessageRecord:
        return replace(self, content={**self.content, **changes})

    def events(self, sent_lookup: Callable[[str], str | None]) -> MessageEvents:
        return message_events(self, sent_lookup)


_IDENTITY = frozenset(("id", "account", "folder", "uid", "uidValidity", "conversationId", "receivedAt"))


def build_record(fields: dict[str, Any], **where: Any) -> dict[str, Any]:
    """The JSON of ``MessageRecord.build`` (for callers that store a record directly)."""
    return MessageRecord.build(fields, **where).to_json()


def for_event(record: dict[str, Any]) -> dict[str, Any]:
    """The record as webhooks and streams carry it: bodies over 64 KiB stay on REST."""
    out = dict(record)
    for field in ("text", "html"):
        value = out.get(field)
        if value is not None and len(value.encode("utf-8", "surrogatepass")) > EVENT_BODY_LIMIT:
            out[field] = None
            out[f"{field}Truncated"] = True
    return out


def auth_json(report: AuthReport) -> dict[str, Any]:
    """The ``auth`` field of a record: who really sent the message."""
    return {
        "verified": report.verified,
        "verifiedVia": str(report.verified_via) if report.verified_via else None,
        "fromDomain": report.from_domain,
        "dmarc": {
            "result": str(report.dmarc.result),
            "policy": str(report.dmarc.policy) if report.dmarc.policy else None,
            "domain": report.dmarc.domain,
            "reason": report.dmarc.reason or None,
        },
        "spf": {
            "result": str(report.spf.result),
            "domain": report.spf.domain,
            "ip": report.spf.ip,
            "helo": report.spf.helo,
            "reason": report.spf.reason or None,
        },
        "dkim": [
            {
                "result": str(d.result),
                "domain": d.domain,
                "selector": d.selector,
                "aligned": d.aligned,
                "reason": d.reason or None,
            }
            for d in report.dkim
        ],
        "arc": _arc_json(report),
        "providerResults": report.provider_results or None,
    }


def _arc_json(report: AuthReport) -> dict[str, Any]:
    arc = report.arc
    return {
        "result": str(arc.result),
        "reason": arc.reason or None,
        "chain": [
            {"instance": hop.instance, "domain": hop.domain, "selector": hop.selector, "cv": hop.cv} for hop in arc.hops
        ],
        "sealers": list(arc.sealers),
        "trustedSealer": report.arc_vouch.domain if report.arc_vouch else None,
        "trustedInstance": report.arc_vouch.instance if report.arc_vouch else None,
    }


def recipient_json(r: BounceRecipient) -> dict[str, Any]:
    return {
        "recipient": r.recipient,
        "action": r.action,
        "status": r.status,
        "replyCode": r.reply_code,
        "diagnostic": r.diagnostic,
        "reason": str(r.reason),
        "remoteMta": r.remote_mta,
        "hard": r.hard,
    }


def classification_json(report: Report | None) -> dict[str, Any] | None:
    """The ``classification`` field: bounce, complaint, auto-reply or delivery report."""
    if report is None:
        return None
    return {
        "kind": str(report.kind),
        "reportingMta": report.reporting_mta,
        "originalMessageId": report.original_message_id,
        "feedbackType": report.feedback_type,
        "recipients": [recipient_json(r) for r in report.recipients],
    }


@dataclass(frozen=True, slots=True)
class Suppress:
    """A recipient a report says to stop mailing: a hard bounce, or a complaint (RFC 5965)."""

    address: str
    reason: str
    source: str  # "bounce" or "complaint"


@dataclass(frozen=True, slots=True)
class MessageEvents:
    """What delivering one stored message publishes, in order, and whom it suppresses.

    The suppressions are added before the events go out, so a re-run after a crash repeats
    an idempotent add rather than missing it.
    """

    events: list[tuple[EventName, dict[str, Any]]]
    suppressions: list[Suppress]


def message_events(record: MessageRecord, sent_lookup: Callable[[str], str | None]) -> MessageEvents:
    """The one place that decides a delivered message's events: the pipeline and an approved hold.

    ``messageNew``; for a bounce or complaint also ``messageBounce``/``messageComplaint`` tied
    to the submission it answers (``sent_lookup``: original Message-ID → our queueId, or None),
    and the recipients to suppress. Works from the stored ``classification`` so a message
    released later (``bridge.review.holds``) gets exactly what the pipeline would have sent.
    """
    events: list[tuple[EventName, dict[str, Any]]] = [(EventName.MESSAGE_NEW, record.for_event())]
    classification = record.classification or {}
    kind = classification.get("kind")
    if kind not in (str(Kind.BOUNCE), str(Kind.COMPLAINT)):
        return MessageEvents(events, [])
    original = classification.get("originalMessageId")
    data = {
        **classification,
        "bounceMessage": record.id,
        "messageId": original,
        "queueId": sent_lookup(original) if original else None,
    }
    rcpts = classification.get("recipients") or []
    if kind == str(Kind.BOUNCE):
        events.append((EventName.MESSAGE_BOUNCE, data))
        doomed = [Suppress(r["recipient"], r["reason"], "bounce") for r in rcpts if r.get("hard")]
    else:
        events.append((EventName.MESSAGE_COMPLAINT, data))
        reason = classification.get("feedbackType") or "complaint"
        doomed = [Suppress(r["recipient"], reason, "complaint") for r in rcpts]
    return MessageEvents(events, doomed)
