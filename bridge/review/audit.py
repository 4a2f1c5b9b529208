"""Write one audit-log record per policy decision.

Orchestration over ``storage.audit``. The record shape is fixed here, once:
``{time, direction, account, messageId, sender, recipients, outcome, cause,
decision, rule, reason, bodySha256, by, reviewId}``.

``outcome`` is what happened to the message (``delivered``, ``held``,
``rejected``, ``approved``, ``expired``) and ``cause`` what made it happen
(``{kind, rule?, reason?, by?}``, kind one of ``rule``, ``guard``,
``rateLimit``, ``reviewer``, ``expiry``, ``default``): kept apart, so a
content guard that rejects is found among the rejections. ``decision`` is the
older single name (``guard_hit`` says the cause but not the outcome), kept
for existing readers; ``with_outcome`` fills outcome and cause into records
written before they existed. ``by`` says who decided: ``policy``, an API
token (``token:<id>``), a magic link (``link:<reviewer address>``) or
``expiry``. Storage layout and retention: ``bridge.storage.audit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from bridge.models import rfc3339
from bridge.policy.verdict import Action, Decision, Verdict
from bridge.storage import Storage


class Outcome(StrEnum):
    """What happened to the message (the audit API's ``decision`` filter matches these)."""

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
        """The cause of a policy verdict."""
        kind = _CAUSE_OF_DECISION.get(verdict.decision)
        if kind is None:
            kind = CauseKind.DEFAULT if verdict.rule.endswith(".defaultAction") else CauseKind.RULE
        return cls(kind, rule=verdict.rule, reason=verdict.reason)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind.value}
        for name in ("rule", "reason", "by"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


_CAUSE_OF_DECISION = {Decision.GUARD_HIT: CauseKind.GUARD, Decision.RATE_LIMITED: CauseKind.RATE_LIMIT}
_OUTCOME_OF_ACTION = {Action.DELIVER: Outcome.DELIVERED, Action.HOLD: Outcome.HELD, Action.REJECT: Outcome.REJECTED}
# Records written before outcome and cause existed: what their decision name tells (guard_hit and
# rate_limited do not say whether the message was held or rejected, so those get no outcome).
_LEGACY_OUTCOME = {
    Decision.DELIVERED: Outcome.DELIVERED, Decision.HELD: Outcome.HELD, Decision.REJECTED: Outcome.REJECTED,
    Decision.REVIEW_APPROVED: Outcome.APPROVED, Decision.REVIEW_REJECTED: Outcome.REJECTED,
    Decision.REVIEW_EXPIRED: Outcome.EXPIRED,
}  # fmt: skip
_LEGACY_CAUSE = {
    Decision.GUARD_HIT: CauseKind.GUARD, Decision.RATE_LIMITED: CauseKind.RATE_LIMIT,
    Decision.REVIEW_APPROVED: CauseKind.REVIEWER, Decision.REVIEW_REJECTED: CauseKind.REVIEWER,
    Decision.REVIEW_EXPIRED: CauseKind.EXPIRY,
}  # fmt: skip


def outcome_of(verdict: Verdict) -> Outcome:
    """What a policy verdict does to the message."""
    return _OUTCOME_OF_ACTION[verdict.action]


def with_outcome(record: dict[str, Any]) -> dict[str, Any]:
    """The record with ``outcome`` and ``cause`` (derived from ``decision`` for records written before them)."""
    if record.get("outcome") or record.get("cause"):
        return record
    try:
        decision = Decision(str(record.get("decision")))
    except ValueError:
        return record
    outcome = _LEGACY_OUTCOME.get(decision)
    kind = _LEGACY_CAUSE.get(decision)
    if kind is None:
        kind = CauseKind.DEFAULT if str(record.get("rule", "")).endswith(".defaultAction") else CauseKind.RULE
    cause = Cause(kind, rule=record.get("rule"), reason=record.get("reason"))
    if kind in (CauseKind.REVIEWER, CauseKind.EXPIRY):
        cause = Cause(kind, rule=cause.rule, reason=cause.reason, by=record.get("by"))
    return {**record, "outcome": outcome.value if outcome else None, "cause": cause.to_json()}


POLICY = "policy"
EXPIRY = "expiry"


def by_token(token_id: str) -> str:
    return f"token:{token_id}"


def by_link(reviewer: str) -> str:
    return f"link:{reviewer}"


def record(storage: Storage, entry: dict[str, Any], *, retention_days: int | None = None) -> str:
    """Append one ``document``; ``retention_days`` defaults to the account policy's. Returns the record id."""
    if retention_days is None:
        retention_days = storage.policies.get(entry["account"]).audit.retention_days
    now_ms = int(datetime.fromisoformat(entry["time"].replace("Z", "+00:00")).timestamp() * 1000)
    return storage.audit.append(entry, retention_days=retention_days, now_ms=now_ms)


def document(
    *,
    now: datetime,
    direction: str,
    account: str,
    message_id: str | None,
    sender: str,
    recipients: list[str],
    outcome: Outcome,
    cause: Cause,
    decision: str,
    rule: str,
    reason: str,
    body_sha256: str | None,
    by: str = POLICY,
    review_id: str | None = None,
) -> dict[str, Any]:
    """The audit record; write it with ``record``, or several at once with ``storage.audit.append_many``."""
    return {
        "time": iso(now),
        "direction": direction,
        "account": account,
        "messageId": message_id,
        "sender": sender,
        "recipients": recipients,
        "outcome": outcome.value,
        "cause": cause.to_json(),
        "decision": decision,
        "rule": rule,
        "reason": reason,
        "bodySha256": body_sha256,
        "by": by,
        "reviewId": review_id,
    }


def iso(value: datetime) -> str:
    """``value`` in UTC: an aware time in another zone used to be written with its offset."""
    return rfc3339(value)
