"""Write one audit-log record per policy decision.

Orchestration over ``storage.audit``. The record is ``bridge.storage.audit_records.AuditRecord``
(a frozen dataclass that owns its JSON and stored forms): ``outcome`` is what happened to the
message (``delivered``, ``held``, ``rejected``, ``approved``, ``expired``) and ``cause`` what
made it happen (``{kind, rule?, reason?, by?}``, kind one of ``rule``, ``guard``,
``rateLimit``, ``reviewer``, ``expiry``, ``default``): kept apart, so a content guard that
rejects is found among the rejections. ``decision`` is the older single name (``guard_hit``
says the cause but not the outcome), kept for existing readers. ``by`` says who decided:
``policy``, an API token (``token:<id>``), a magic link (``link:<reviewer address>``) or
``expiry``. Storage layout and retention: ``bridge.storage.audit``.
"""

from __future__ import annotations

from datetime import datetime

from bridge.models import rfc3339
from bridge.policy.verdict import Action, Verdict
from bridge.storage import Storage
from bridge.storage.audit_records import EXPIRY, POLICY, AuditRecord, Cause, CauseKind, Outcome

__all__ = [
    "EXPIRY", "POLICY", "AuditRecord", "Cause", "CauseKind", "Outcome", "by_link", "by_token",
    "document", "iso", "outcome_of", "record",
]  # fmt: skip

_OUTCOME_OF_ACTION = {Action.DELIVER: Outcome.DELIVERED, Action.HOLD: Outcome.HELD, Action.REJECT: Outcome.REJECTED}


def outcome_of(verdict: Verdict) -> Outcome:
    """What a policy verdict does to the message."""
    return _OUTCOME_OF_ACTION[verdict.action]


def by_token(token_id: str) -> str:
    return f"token:{token_id}"


def by_link(reviewer: str) -> str:
    return f"link:{reviewer}"


def record(storage: Storage, entry: AuditRecord, *, retention_days: int | None = None) -> str:
    """Append one ``document``; ``retention_days`` defaults to the account policy's. Returns the record id."""
    if retention_days is None:
        retention_days = storage.policies.get(entry.account).audit.retention_days
    return storage.audit.append(entry, retention_days=retention_days, now_ms=entry.time_ms)


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
) -> AuditRecord:
    """The audit record; write it with ``record``, or several at once with ``storage.audit.append_many``."""
    return AuditRecord(
        time=iso(now), direction=direction, account=account, message_id=message_id, sender=sender,
        recipients=tuple(recipients), outcome=outcome, cause=cause, decision=decision, rule=rule, reason=reason,
        body_sha256=body_sha256, by=by, review_id=review_id,
    )  # fmt: skip


def iso(value: datetime) -> str:
    """``value`` in UTC: an aware time in another zone used to be written with its offset."""
    return rfc3339(value)
