"""How a review hold looks: ``Review``, its JSON form and its Redis hash encoding.

``Review`` is the one shape of a hold, built by the policy gate
(``bridge.review.gate``), stored by ``bridge.storage.reviews``, decided by
``bridge.review.holds`` and shown by the reviews API and the review pages.
``to_json`` is the camelCase form the API schema (``ReviewOut``) and the
templates read. An outbound hold carries a ``HeldMessage`` (what the reviewer
sees; its bodies go once decided) and a ``HeldSend`` (what queueing it needs:
``HeldSend.entry`` is its outbox entry once approved). No Redis calls here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bridge.storage.base import text
from bridge.storage.outbox_records import OutboxEntry, Reference

_JSON_FIELDS = ("recipients", "reviewers", "message", "send")
_FLOAT_FIELDS = ("expiresAt",)


@dataclass(frozen=True, slots=True)
class HeldAttachment:
    filename: str | None
    content_type: str
    size: int

    def to_json(self) -> dict[str, Any]:
        return {"filename": self.filename, "contentType": self.content_type, "size": self.size}


@dataclass(frozen=True, slots=True)
class HeldMessage:
    """What a reviewer sees of a held outbound message (``message`` in the JSON form).

    ``bodies`` is False once the hold is decided: the text and HTML go then
    (``without_bodies``) and the JSON form has neither key; the rest stays readable.
    """

    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    bcc: tuple[str, ...]
    subject: str
    text: str | None
    html: str | None
    attachments: tuple[HeldAttachment, ...]
    bodies: bool = True

    def without_bodies(self) -> HeldMessage:
        return replace(self, text=None, html=None, bodies=False)

    def guarded_text(self) -> str:
        """What content guards read: subject, text and HTML, one per line (as for an inbound message)."""
        return "\n".join(part or "" for part in (self.subject, self.text, self.html))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "from": self.sender,
            "to": list(self.to),
            "cc": list(self.cc),
            "bcc": list(self.bcc),
            "subject": self.subject,
            "attachments": [a.to_json() for a in self.attachments],
        }
        if self.bodies:
            out.update(text=self.text, html=self.html)
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> HeldMessage:
        return cls(
            sender=str(doc.get("from") or ""),
            to=tuple(doc.get("to") or ()),
            cc=tuple(doc.get("cc") or ()),
            bcc=tuple(doc.get("bcc") or ()),
            subject=str(doc.get("subject") or ""),
            text=doc.get("text"),
            html=doc.get("html"),
            attachments=tuple(
                HeldAttachment(a.get("filename"), str(a.get("contentType") or ""), int(a.get("size") or 0))
                for a in doc.get("attachments") or ()
            ),
            bodies="text" in doc or "html" in doc,
        )


@dataclass(frozen=True, slots=True)
class HeldSend:
    """What queueing a held outbound message needs once approved (``send`` in the JSON form)."""

    envelope_from: str
    envelope_to: tuple[str, ...]
    send_at: str | None  # RFC 3339, as requested; None: now
    max_attempts: int
    copy: bool
    smtputf8: bool
    conversation_id: str
    reference: Reference | None  # the replied-to or forwarded message

    def entry(self, review: Review, *, queue_id: str, job_id: str, now: datetime) -> OutboxEntry:
        """The outbox entry of the approved message, queued as a submission is (``OutboxEntry.queued``)."""
        requested = datetime.fromisoformat(self.send_at.replace("Z", "+00:00")) if self.send_at else None
        return OutboxEntry.queued(
            queue_id=queue_id,
            account=review.account,
            message_id=review.message_id,
            subject=review.subject,
            envelope_from=self.envelope_from,
            envelope_to=self.envelope_to,
            send_at=requested,
            now=now,
            max_attempts=self.max_attempts,
            copy=self.copy,
            smtputf8=self.smtputf8,
            conversation_id=self.conversation_id,
            reference=self.reference,
            job_id=job_id,
            review_id=review.id,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "envelope": {"from": self.envelope_from, "to": list(self.envelope_to)},
            "sendAt": self.send_at,
            "maxAttempts": self.max_attempts,
            "copy": self.copy,
            "smtputf8": self.smtputf8,
            "conversationId": self.conversation_id,
            "reference": self.reference.to_json() if self.reference is not None else None,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> HeldSend:
        envelope = doc.get("envelope") or {}
        return cls(
            envelope_from=str(envelope.get("from") or ""),
            envelope_to=tuple(envelope.get("to") or ()),
            send_at=doc.get("sendAt") or None,
            max_attempts=int(doc.get("maxAttempts") or 0),
            copy=bool(doc.get("copy")),
            smtputf8=bool(doc.get("smtputf8")),
            conversation_id=str(doc.get("conversationId") or ""),
            reference=Reference.from_json(doc["reference"]) if doc.get("reference") else None,
        )


@dataclass(frozen=True, slots=True)
class Review:
    """One review hold.

    Attributes:
        direction: ``inbound`` or ``outbound``.
        state: ``pending``, ``approved``, ``rejected`` or ``expired`` (``bridge.review.links.State``).
        expires_at: epoch seconds; ``expires_at_iso`` the same time as RFC 3339.
        sender: the sender address (``from`` in the JSON form).
        decision, rule, reason: the policy verdict that opened the hold.
        message: what a reviewer sees of an outbound message (``from``, ``to``, ``subject``, ``text`` …).
        send: what queueing an approved outbound message needs (``envelope``, ``sendAt``, ``maxAttempts`` …).
        decided_at, decided_by, outcome: set once, when the hold leaves ``pending``.
        queue_id: the outbox entry of an approved outbound message.
    """

    id: str
    account: str
    direction: str
    state: str
    created_at: str
    expires_at: float
    expires_at_iso: str
    on_expiry: str
    message_id: str
    subject: str
    sender: str
    recipients: tuple[str, ...]
    preview: str
    decision: str
    rule: str
    reason: str
    body_sha256: str
    reviewers: tuple[str, ...]
    message: HeldMessage | None = None
    send: HeldSend | None = None
    decided_at: str | None = None
    decided_by: str | None = None
    outcome: str | None = None
    queue_id: str | None = None

    @property
    def outbound(self) -> bool:
        return self.direction == "outbound"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "account": self.account,
            "direction": self.direction,
            "state": self.state,
            "createdAt": self.created_at,
            "expiresAt": self.expires_at,
            "expiresAtIso": self.expires_at_iso,
            "onExpiry": self.on_expiry,
            "messageId": self.message_id,
            "subject": self.subject,
            "from": self.sender,
            "recipients": list(self.recipients),
            "preview": self.preview,
            "decision": self.decision,
            "rule": self.rule,
            "reason": self.reason,
            "bodySha256": self.body_sha256,
            "reviewers": list(self.reviewers),
            "decidedAt": self.decided_at,
            "decidedBy": self.decided_by,
            "outcome": self.outcome,
            "queueId": self.queue_id,
        }
        if self.message is not None:
            out["message"] = self.message.to_json()
        if self.send is not None:
            out["send"] = self.send.to_json()
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Review:
        return cls(
            id=str(doc["id"]),
            account=str(doc["account"]),
            direction=str(doc["direction"]),
            state=str(doc["state"]),
            created_at=str(doc.get("createdAt") or ""),
            expires_at=float(doc.get("expiresAt") or 0.0),
            expires_at_iso=str(doc.get("expiresAtIso") or ""),
            on_expiry=str(doc.get("onExpiry") or "reject"),
            message_id=str(doc.get("messageId") or ""),
            subject=str(doc.get("subject") or ""),
            sender=str(doc.get("from") or ""),
            recipients=tuple(doc.get("recipients") or ()),
            preview=str(doc.get("preview") or ""),
            decision=str(doc.get("decision") or ""),
            rule=str(doc.get("rule") or ""),
            reason=str(doc.get("reason") or ""),
            body_sha256=str(doc.get("bodySha256") or ""),
            reviewers=tuple(doc.get("reviewers") or ()),
            message=HeldMessage.from_json(doc["message"]) if doc.get("message") else None,
            send=HeldSend.from_json(doc["send"]) if doc.get("send") else None,
            decided_at=doc.get("decidedAt") or None,
            decided_by=doc.get("decidedBy") or None,
            outcome=doc.get("outcome") or None,
            queue_id=doc.get("queueId") or None,
        )


def encode(fields: dict[str, Any]) -> dict[Any, Any]:
    """Hash fields of (part of) a ``to_json`` form: JSON for lists and objects, repr for floats."""
    out: dict[Any, Any] = {}
    for name, value in fields.items():
        if name in _JSON_FIELDS:
            out[name] = json.dumps(value)
        elif name in _FLOAT_FIELDS:
            out[name] = repr(float(value))
        else:
            out[name] = "" if value is None else str(value)
    return out


def decode(raw: dict[Any, Any]) -> Review:
    doc: dict[str, Any] = {text(k): text(v) for k, v in raw.items()}
    for name in _JSON_FIELDS:
        doc[name] = json.loads(doc[name]) if doc.get(name) else None
    return Review.from_json(doc)
