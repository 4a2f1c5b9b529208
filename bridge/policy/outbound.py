"""Outbound policy: content guards, then the review rule (order: see ``bridge.policy``).

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Sequence

from bridge.policy.guards import DEFAULT_TIMEOUT_S, scan
from bridge.policy.inbound import guards_of
from bridge.policy.verdict import Action, Decision, Verdict
from bridge.schemas.policy import OutboundPolicy, RecipientsOver


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower().rstrip(".")


def review_reason(policy: OutboundPolicy, own_domain: str, recipients: Sequence[str]) -> str | None:
    """Why ``review`` holds a message for these envelope recipients, or None when it does not."""
    review = policy.review
    if isinstance(review, RecipientsOver):
        return "recipients_over" if len(recipients) > review.recipients_over else None
    if review == "always":
        return "review_always"
    if review == "external":
        own = own_domain.lower().rstrip(".")
        return "external_recipient" if any(_domain(r) != own for r in recipients) else None
    return None


def verdict(
    policy: OutboundPolicy,
    *,
    own_domain: str,
    recipients: Sequence[str],
    text: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Verdict:
    """Guards first (a reject refuses the message outright), then the review rule.

    Args:
        own_domain: the account's email domain (``external`` compares recipients with it).
        recipients: every envelope recipient (To, Cc and Bcc).
        text: subject, text and HTML of the message.
    """
    hit = scan(guards_of(policy.content_guards), text, timeout_s=timeout_s)
    if hit is not None:
        return Verdict(Action(hit.action), Decision.GUARD_HIT, f"outbound.contentGuards[{hit.index}]", hit.reason)
    reason = review_reason(policy, own_domain, recipients)
    if reason is not None:
        return Verdict.plain(Action.HOLD, "outbound.review", reason)
    return Verdict.plain(Action.DELIVER, "outbound.review", "no_review_needed")
