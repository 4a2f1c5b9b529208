"""Inbound policy: sender rules, rate-limit outcome, content guards (order: see ``bridge.policy``).

Pure: no I/O, no clock. The gate calls ``sender_verdict`` first, counts the
rate limit it returns (Redis), then ``finish`` with that count's outcome and
the message text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bridge.policy.guards import DEFAULT_TIMEOUT_S, Guard, scan
from bridge.policy.verdict import Action, Decision, Verdict, tighten
from bridge.schemas.policy import ContentGuard, InboundPolicy, RateLimit, Requirement, SenderMatch

DEFAULT_RULE = "inbound.defaultAction"


@dataclass(frozen=True, slots=True)
class AuthFacts:
    """What the pipeline verified about the sender (from the record's ``auth``)."""

    dmarc: bool = False
    dkim: bool = False
    spf: bool = False

    @classmethod
    def of(cls, auth: Mapping[str, object] | None) -> AuthFacts:
        """Read a record's ``auth`` field; a missing one (verification failed) verifies nothing."""
        if not auth:
            return cls()
        spf = auth.get("spf")
        dkim = auth.get("dkim")
        return cls(
            dmarc=auth.get("verified") is True,
            dkim=isinstance(dkim, list)
            and any(isinstance(d, Mapping) and d.get("result") == "pass" and d.get("aligned") is True for d in dkim),
            spf=isinstance(spf, Mapping) and spf.get("result") == "pass",
        )


@dataclass(frozen=True, slots=True)
class SenderVerdict:
    """The verdict of the sender rules, and the rate limit to count before going on."""

    verdict: Verdict
    rate_limit: RateLimit | None = None


def matches(match: SenderMatch, sender: str) -> bool:
    """``address`` is an exact, case-insensitive match; ``domain`` also covers its subdomains."""
    sender = sender.lower()
    if match.address is not None:
        return sender == match.address
    domain = sender.rpartition("@")[2]
    assert match.domain is not None  # noqa: S101 - the schema requires one of the two
    return bool(domain) and (domain == match.domain or domain.endswith("." + match.domain))


def failed_requirement(require: Requirement, auth: AuthFacts) -> str | None:
    """The first required check the sender did not pass, or None."""
    for name in ("dmarc", "dkim", "spf"):
        if getattr(require, name) and not getattr(auth, name):
            return name
    return None


def sender_verdict(policy: InboundPolicy, sender: str, auth: AuthFacts) -> SenderVerdict:
    """Step 1: the first sender rule that matches the From address decides; else ``defaultAction``."""
    default = Action(policy.default_action)
    for index, rule in enumerate(policy.senders):
        if not matches(rule.match, sender):
            continue
        path = f"inbound.senders[{index}]"
        missing = failed_requirement(rule.require, auth)
        if missing is not None:
            return SenderVerdict(Verdict.plain(default, path, f"require_failed:{missing}"))
        action = Action(rule.action)
        verdict = Verdict.plain(action, path, "sender_rule")
        limit = rule.rate_limit if action is not Action.REJECT else None
        return SenderVerdict(verdict, limit)
    return SenderVerdict(Verdict.plain(default, DEFAULT_RULE, "no_sender_rule"))


def guards_of(guards: list[ContentGuard]) -> list[Guard]:
    return [Guard(i, g.pattern, g.flags, g.action, g.reason) for i, g in enumerate(guards)]


def finish(
    policy: InboundPolicy,
    first: SenderVerdict,
    *,
    over_limit: str | None,
    text: str,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> Verdict:
    """Steps 2 and 3: apply the rate-limit outcome, then the content guards.

    Args:
        first: ``sender_verdict``'s result.
        over_limit: the window that was exceeded (``perHour`` / ``perDay``), or None.
        text: subject, text and HTML of the message.
    """
    verdict = first.verdict
    if over_limit is not None and first.rate_limit is not None:
        rule = f"{verdict.rule}.rateLimit.{over_limit}"
        verdict = tighten(verdict, Action(first.rate_limit.action), Decision.RATE_LIMITED, rule, "rate_limited")
    if verdict.action is Action.REJECT:
        return verdict
    hit = scan(guards_of(policy.content_guards), text, timeout_s=timeout_s)
    if hit is None:
        return verdict
    return tighten(verdict, Action(hit.action), Decision.GUARD_HIT, f"inbound.contentGuards[{hit.index}]", hit.reason)
