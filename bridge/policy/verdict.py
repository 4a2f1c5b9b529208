"""The outcome of evaluating a policy: what happens to a message, and why.

Pure: no I/O. A ``Verdict`` is what the audit log records (``decision``,
``rule``, ``reason``) and what the gate acts on (``action``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Action(StrEnum):
    DELIVER = "deliver"
    HOLD = "hold"
    REJECT = "reject"


class Decision(StrEnum):
    """Audit-log decision names (also the values of the audit API's ``decision`` filter)."""

    DELIVERED = "delivered"
    HELD = "held"
    REJECTED = "rejected"
    RATE_LIMITED = "rate_limited"
    GUARD_HIT = "guard_hit"
    REVIEW_APPROVED = "review_approved"
    REVIEW_REJECTED = "review_rejected"
    REVIEW_EXPIRED = "review_expired"


_SEVERITY = {Action.DELIVER: 0, Action.HOLD: 1, Action.REJECT: 2}
_PLAIN = {Action.DELIVER: Decision.DELIVERED, Action.HOLD: Decision.HELD, Action.REJECT: Decision.REJECTED}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What policy decided for one message.

    Attributes:
        action: deliver, hold or reject.
        decision: the audit name (``guard_hit`` and ``rate_limited`` say which step decided).
        rule: the JSON path of the deciding rule, e.g. ``inbound.senders[0]``.
        reason: why, e.g. ``no_sender_rule``, ``require_failed:dmarc``, a guard's reason.
    """

    action: Action
    decision: Decision
    rule: str
    reason: str

    @classmethod
    def plain(cls, action: Action, rule: str, reason: str) -> Verdict:
        return cls(action, _PLAIN[action], rule, reason)


def tighten(current: Verdict, action: Action, decision: Decision, rule: str, reason: str) -> Verdict:
    """Apply a later step that can only make the verdict stricter.

    At equal strictness the later step wins the record (its reason is the more specific one);
    a deliver never replaces anything.
    """
    if action is Action.DELIVER or _SEVERITY[action] < _SEVERITY[current.action]:
        return current
    return replace(current, action=action, decision=decision, rule=rule, reason=reason)
