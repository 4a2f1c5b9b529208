"""The audit record: one policy decision, its outcome and cause apart, and how Redis keeps it.

``AuditRecord`` owns its API JSON form (``to_json``, the shape ``GET /v1/account/{account}/audit``
answers) and its two stored forms, written by ``bridge.storage.audit``:

- **full** (field ``r``): the record as JSON. Every decision that matters is kept this way,
  whole: held, rejected, guard hits, rate limits, reviewer decisions, expiries, every outbound
  decision, and anything the compact form cannot spell exactly.
- **compact** (fields ``m s t h c``): an inbound message the policy simply delivered, the one
  record every inbound message gets (issue 14: it was 566 of the 1,462 bytes Redis kept per
  message). It keeps only what differs from one delivered record to the next: the message id,
  sender, recipients (newline-joined), the body's SHA-256 as its 32 bytes, and a code for the
  cause. The time is the stream entry's id (``<ms>-<n>``, written with the record's own
  millisecond; field ``w`` only when the stream already held a later id), the account is the
  key's; direction, outcome, decision, ``by`` and the cause's kind follow from "delivered by
  policy". The cause (rule and reason, ~40 bytes spelled out) is a code into the account's
  cause table (``keys.audit_causes``): a policy has a handful of delivering rules, so the
  table stays tiny. Redis stores a stream node's field names once when its entries share them,
  so the five names cost nothing per record. ~145 bytes of Redis per record instead of ~570
  (bench/redis_growth.py).

Records written before outcome and cause existed (``decision`` only) get them derived on
reading (``from_json``). Pure: no Redis calls here.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from bridge.models import rfc3339
from bridge.policy.verdict import Decision, Verdict

POLICY = "policy"
EXPIRY = "expiry"
INBOUND = "inbound"
DELIVERED = Decision.DELIVERED.value

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
# The fields of a compact entry, in the order written (one order, so entries share their node's names).
COMPACT_FIELDS = ("m", "s", "t", "h", "c")
LATE_TIME_FIELD = "w"
FULL_FIELD = "r"


class Outcome(StrEnum):
    """What happened to the message (the audit API's ``outcome`` and ``decision`` filters match these)."""

    DELIVERED = "delivered"
    HELD = "held"
    REJECTED = "rejected"
    APPROVED = "approved"
    EXPIRED = "expired"


class CauseKind(StrEnum):
    RULE = "rule"
    GUARD = "guard"
    RATE_LIMIT = "rateLimit"
    REVIEWER = "reviewer"
    EXPIRY = "expiry"
    DEFAULT = "default"


def rule_kind(rule: str) -> CauseKind:
    """The kind of a sender rule's cause: the policy's default action, or one of its rules."""
    return CauseKind.DEFAULT if rule.endswith(".defaultAction") else CauseKind.RULE


@dataclass(frozen=True, slots=True)
class Cause:
    """What decided the outcome: a sender/review rule, a content guard, a rate limit, a reviewer, the expiry,
    or the default action; ``rule`` is the policy's JSON path, ``by`` who acted (reviewer and expiry)."""

    kind: CauseKind
    rule: str | None = None
    reason: str | None = None
    by: str | None = None

    @classmethod
    def of(cls, verdict: Verdict) -> Cause:
        """The cause of a policy verdict: the guard or rate limit that decided, else the rule (or default action)."""
        kind = _CAUSE_OF_DECISION.get(verdict.decision) or rule_kind(verdict.rule)
        return cls(kind, rule=verdict.rule, reason=verdict.reason)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value}
        for name in ("rule", "reason", "by"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Cause:
        return cls(CauseKind(doc["kind"]), rule=doc.get("rule"), reason=doc.get("reason"), by=doc.get("by"))


_CAUSE_OF_DECISION = {Decision.GUARD_HIT: CauseKind.GUARD, Decision.RATE_LIMITED: CauseKind.RATE_LIMIT}
# Records written before outcome and cause existed: what their decision name tells (guard_hit and
# rate_limited do not say whether the message was held or rejected, so those get no outcome).
_LEGACY_OUTCOME = {
    "delivered": Outcome.DELIVERED, "held": Outcome.HELD, "rejected": Outcome.REJECTED,
    "review_approved": Outcome.APPROVED, "review_rejected": Outcome.REJECTED, "review_expired": Outcome.EXPIRED,
}  # fmt: skip
_LEGACY_CAUSE = {
    "guard_hit": CauseKind.GUARD, "rate_limited": CauseKind.RATE_LIMIT, "review_approved": CauseKind.REVIEWER,
    "review_rejected": CauseKind.REVIEWER, "review_expired": CauseKind.EXPIRY,
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One policy decision about one message.

    Attributes:
        time: when it was decided (RFC 3339 UTC, milliseconds).
        direction: ``inbound`` or ``outbound``.
        account: the account it belongs to.
        message_id: the message (inbound: the bridge's message id; outbound: the outbox message id).
        sender, recipients: the envelope as the policy saw it (sender lower-cased).
        outcome: what happened to the message; None only for an older ``guard_hit`` or
            ``rate_limited`` record, which did not say.
        cause: what made it happen.
        decision: the older single name (``bridge.policy.verdict.Decision``), kept for readers of it.
        rule, reason: the deciding rule's JSON path, and why.
        body_sha256: SHA-256 (hex) of the message's bytes, when known.
        by: who decided: ``policy``, ``token:<id>``, ``link:<reviewer address>`` or ``expiry``.
        review_id: the review of a held message and of its decision.
        id: the stream entry id (time-ordered, unique; the listing cursor); None until stored.
    """

    time: str
    direction: str
    account: str
    message_id: str | None
    sender: str
    recipients: tuple[str, ...]
    outcome: Outcome | None
    cause: Cause
    decision: str
    rule: str
    reason: str
    body_sha256: str | None
    by: str = POLICY
    review_id: str | None = None
    id: str | None = None

    @property
    def time_ms(self) -> int:
        moment = datetime.fromisoformat(self.time.replace("Z", "+00:00"))
        return (moment - _EPOCH) // timedelta(milliseconds=1)

    def with_id(self, record_id: str) -> AuditRecord:
        return replace(self, id=record_id)

    def to_json(self) -> dict[str, Any]:
        """The API form (``bridge.schemas.audit.AuditRecord``); ``id`` only once stored."""
        doc: dict[str, Any] = {} if self.id is None else {"id": self.id}
        doc.update(
            time=self.time,
            direction=self.direction,
            account=self.account,
            messageId=self.message_id,
            sender=self.sender,
            recipients=list(self.recipients),
            outcome=self.outcome.value if self.outcome is not None else None,
            cause=self.cause.to_json(),
            decision=self.decision,
            rule=self.rule,
            reason=self.reason,
            bodySha256=self.body_sha256,
            by=self.by,
            reviewId=self.review_id,
        )
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any], record_id: str | None = None) -> AuditRecord:
        """A full stored record (or an API document); outcome and cause derived for older records."""
        decision = str(doc.get("decision") or "")
        rule, reason, by = str(doc.get("rule") or ""), str(doc.get("reason") or ""), str(doc.get("by") or POLICY)
        if doc.get("outcome") or doc.get("cause"):
            outcome = Outcome(doc["outcome"]) if doc.get("outcome") else None
            cause = Cause.from_json(doc["cause"]) if doc.get("cause") else Cause(rule_kind(rule), rule, reason)
        else:
            outcome = _LEGACY_OUTCOME.get(decision)
            kind = _LEGACY_CAUSE.get(decision) or rule_kind(rule)
            acted = by if kind in (CauseKind.REVIEWER, CauseKind.EXPIRY) else None
            cause = Cause(kind, rule=doc.get("rule"), reason=doc.get("reason"), by=acted)
        return cls(
            time=str(doc["time"]),
            direction=str(doc.get("direction") or INBOUND),
            account=str(doc["account"]),
            message_id=doc.get("messageId"),
            sender=str(doc.get("sender") or ""),
            recipients=tuple(str(r) for r in doc.get("recipients") or ()),
            outcome=outcome,
            cause=cause,
            decision=decision,
            rule=rule,
            reason=reason,
            body_sha256=doc.get("bodySha256"),
            by=by,
            review_id=doc.get("reviewId"),
            id=record_id if record_id is not None else doc.get("id"),
        )

    # -- the compact stored form --------------------------------------------------------

    def compact(self) -> tuple[list[bytes], str] | None:
        """The compact form's values (``COMPACT_FIELDS`` order) and the cause's text, or None when
        this record must be kept whole (anything but a plain inbound delivery, or a value the
        compact form cannot spell exactly)."""
        if (
            self.direction != INBOUND
            or self.outcome is not Outcome.DELIVERED
            or self.decision != DELIVERED
            or self.by != POLICY
            or self.review_id is not None
            or not self.message_id
            or self.cause != Cause(rule_kind(self.rule), self.rule, self.reason)
            or (self.body_sha256 is not None and not _SHA256_HEX.match(self.body_sha256))
        ):
            return None
        texts = (self.message_id, self.sender, *self.recipients, self.rule, self.reason)
        if any("\n" in value for value in texts) or "" in self.recipients or rfc3339(self._moment()) != self.time:
            return None
        cause = f"{self.rule}\n{self.reason}"
        sha = bytes.fromhex(self.body_sha256) if self.body_sha256 else b""
        values = [self.message_id.encode(), self.sender.encode(), "\n".join(self.recipients).encode(), sha]
        return [*values, cause_code(cause).encode()], cause

    def _moment(self) -> datetime:
        return _EPOCH + timedelta(milliseconds=self.time_ms)

    @classmethod
    def from_compact(
        cls, account: str, record_id: str, fields: dict[str, bytes], causes: dict[str, str]
    ) -> AuditRecord:
        """A compact entry back as the record it was written from; ``causes`` is the account's cause table."""
        late = fields.get(LATE_TIME_FIELD)
        ms = int(late) if late is not None else int(record_id.split("-", 1)[0])
        rule, _, reason = causes.get(fields["c"].decode(), "\n").partition("\n")
        recipients = fields["t"].decode()
        return cls(
            time=rfc3339(_EPOCH + timedelta(milliseconds=ms)),
            direction=INBOUND,
            account=account,
            message_id=fields["m"].decode(),
            sender=fields["s"].decode(),
            recipients=tuple(recipients.split("\n")) if recipients else (),
            outcome=Outcome.DELIVERED,
            cause=Cause(rule_kind(rule), rule, reason),
            decision=DELIVERED,
            rule=rule,
            reason=reason,
            body_sha256=fields["h"].hex() if fields["h"] else None,
            id=record_id,
        )


def cause_code(cause: str) -> str:
    """The code of a cause's text in the cause table: 8 characters of its SHA-256 (48 bits: for the
    few dozen causes one account's policy can give, a collision is not a practical concern)."""
    return base64.urlsafe_b64encode(hashlib.sha256(cause.encode()).digest()[:6]).decode()
