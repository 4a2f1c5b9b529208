"""How a review hold looks: ``Review``, its JSON form and its Redis hash encoding.

``Review`` is the one shape of a hold, built by the policy gate
(``bridge.review.gate``), stored by ``bridge.storage.reviews``, decided by
``bridge.review.holds`` and shown by the reviews API and the review pages.
``to_json`` is the camelCase form the API schema (``ReviewOut``) and the
templates read. No Redis calls here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bridge.storage.base import text

_JSON_FIELDS = ("recipients", "reviewers", "message", "send")
_FLOAT_FIELDS = ("expiresAt",)


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
    message: dict[str, Any] | None = None
    send: dict[str, Any] | None = None
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
            out["message"] = self.message
        if self.send is not None:
            out["send"] = self.send
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
            message=doc.get("message"),
            send=doc.get("send"),
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
