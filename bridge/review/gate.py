"""The policy gates: asked by the inbound pipeline before it emits, and by submit before it queues.

Orchestration: load the account's policy, count rate limits (Redis), run the
pure evaluation (``bridge.policy``, which documents the rule order), write the
audit record, and open a review hold (``bridge.review.holds``) when policy holds.

Inbound: ``deliver`` lets the pipeline emit ``messageNew`` as before;
``hold`` and ``reject`` keep the message out of webhooks and streams, and
the gate's answer carries the ``PolicyState`` (action, decision, rule,
reason, reviewId, state) the pipeline records on the message (its index
entry keeps it) so REST readers can tell. A held message
is emitted when a reviewer approves it; a rejected one never is.

Outbound: ``deliver`` queues as usual; ``hold`` answers ``202
{"status": "pending_review", "reviewId", "messageId"}`` and queues nothing;
``reject`` (a content guard) refuses the submission with 422
``rejectedByPolicy``. Each outcome is audited with the SHA-256 of the bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bridge.compose.model import Composed
from bridge.errors import Unprocessable
from bridge.events.model import EventName
from bridge.inbound.records import MessageRecord
from bridge.models import Account
from bridge.policy import inbound as inbound_policy
from bridge.policy import outbound as outbound_policy
from bridge.policy.verdict import Action, Verdict
from bridge.review import audit as auditing
from bridge.review import holds
from bridge.review.links import State, preview_text
from bridge.schemas.policy import Policy
from bridge.schemas.submit import SubmitBody
from bridge.storage import Storage
from bridge.storage.message_index import PolicyState
from bridge.storage.outbox_records import IdempotencyClaim, Reference
from bridge.storage.publish import Publication
from bridge.storage.review_records import HeldAttachment, HeldMessage, HeldSend, Review


@dataclass(frozen=True, slots=True)
class InboundGate:
    """The gate's answer for one inbound message.

    ``deliver``: its ``messageNew`` may go out. ``announce``: the ``reviewPending`` event of the
    hold it opened, for the pipeline to publish in the message's place (UID order), or None.
    ``policy``: what policy decided on a held or rejected message, for its record and index entry.
    """

    deliver: bool
    announce: Publication | None = None
    policy: PolicyState | None = None


def inbound(storage: Storage, account: str, records: list[MessageRecord], *, now: datetime) -> list[InboundGate]:
    """Decide on new inbound messages of one account before they are stored and emitted, in order.

    Only messages gated for the first time come here (the pipeline does not gate an indexed
    message again). A held or rejected message's answer carries its ``PolicyState``, so the
    pipeline stores the index entry once, with its decision; a held record is kept, bodies and
    all, with its review until a reviewer decides (``bridge.review.holds``). The policy is read
    once and the audit records are written in one round trip; rate-limit counts and holds stay
    per message (rare, and order matters).
    """
    policy: Policy | None = None
    out: list[InboundGate] = []
    audits: list[auditing.AuditRecord] = []
    for record in records:
        policy = policy or storage.policies.get(account)
        verdict, state, review = _decide_inbound(storage, account, policy, record, now)
        sender, recipients = record.sender_address, record.recipient_addresses
        audits.append(
            auditing.document(
                now=now,
                direction="inbound",
                account=account,
                message_id=record.id,
                sender=sender,
                recipients=recipients,
                outcome=auditing.outcome_of(verdict),
                cause=auditing.Cause.of(verdict),
                decision=verdict.decision.value,
                rule=verdict.rule,
                reason=verdict.reason,
                body_sha256=record.content.get("bodySha256"),
                review_id=review.id if review else None,
            )  # fmt: skip
        )
        announce = Publication(account, EventName.REVIEW_PENDING, holds.event_data(review)) if review else None
        out.append(InboundGate(verdict.action is Action.DELIVER, announce, state))
    if audits and policy is not None:
        storage.audit.append_many(
            audits, retention_days=policy.audit.retention_days, now_ms=int(now.timestamp() * 1000)
        )
    return out


def _decide_inbound(
    storage: Storage, account: str, policy: Policy, record: MessageRecord, now: datetime
) -> tuple[Verdict, PolicyState | None, Review | None]:
    """Evaluate one message and open its hold. Returns (verdict, what to record on it, the new hold)."""
    sender, content = record.sender_address, record.content
    first = inbound_policy.sender_verdict(policy.inbound, sender, inbound_policy.AuthFacts.of(content.get("auth")))
    over = None
    if first.rate_limit is not None and sender:
        over = storage.policies.count(account, sender, record.id, first.rate_limit, now.timestamp())
    verdict = inbound_policy.finish(policy.inbound, first, over_limit=over, text=record.guarded_text())
    if verdict.action is Action.DELIVER:
        return verdict, None, None
    review_id = holds.inbound_review_id(account, record.id) if verdict.action is Action.HOLD else None
    state = PolicyState(
        state=State.PENDING.value if review_id else State.REJECTED.value,
        action=verdict.action.value,
        review_id=review_id,
        rule=verdict.rule,
        reason=verdict.reason,
        decision=verdict.decision.value,
    )
    if review_id is None:
        return verdict, state, None
    ttl = policy.inbound_hold_ttl()
    review = _review(
        review_id, account, "inbound", record.id, sender, record.recipient_addresses, verdict, now, ttl,
        on_expiry=policy.inbound.on_expiry, reviewers=policy.inbound_reviewers(),
        subject=content.get("subject") or "", preview=preview_text(content.get("text"), content.get("html")),
        body_sha256=content.get("bodySha256"),
    )  # fmt: skip
    # The held message exists nowhere else the agent can reach: its full record (bodies included,
    # with its decision) stays with the review, as an outbound hold keeps its bytes, and goes when
    # the hold is decided.
    held = holds.held_record_bytes(record.with_content(policy=state.to_json()))
    if holds.open_hold(storage, review, held, announce=False) is not None:
        return verdict, state, None  # opened before (a re-run): announced then
    return verdict, state, review


def outbound(
    storage: Storage,
    *,
    account: str,
    account_email: str,
    raw: bytes,
    message_id: str,
    sender: str,
    recipients: list[str],
    message: HeldMessage,
    send: HeldSend,
    idempotency: tuple[str, str] | None,
    now: datetime,
) -> dict[str, Any] | None:
    """Decide on a composed submission before it is queued.

    Args:
        raw: the composed bytes (held as they are, sent unchanged on approval).
        recipients: every envelope recipient.
        message: what a reviewer sees (and content guards read).
        send: what queueing needs later, once approved.
        idempotency: (redis key, request fingerprint) of the Idempotency-Key, if one came.

    Returns:
        None when the message may be queued now, or the ``pending_review`` answer.

    Raises:
        Unprocessable: a content guard rejects it (code ``rejectedByPolicy``).
    """
    policy = storage.policies.get(account)
    verdict = outbound_policy.verdict(
        policy.outbound, own_domain=account_email.rpartition("@")[2], recipients=recipients,
        text=message.guarded_text(),
    )  # fmt: skip
    body_sha256 = hashlib.sha256(raw).hexdigest()
    review_id = holds.new_review_id() if verdict.action is Action.HOLD else None
    answer = None
    if review_id is not None:
        review = _review(
            review_id, account, "outbound", message_id, sender, recipients, verdict, now,
            policy.outbound.hold_ttl_seconds, on_expiry=policy.outbound.on_expiry,
            reviewers=policy.outbound.reviewers, subject=message.subject,
            preview=preview_text(message.text, message.html), body_sha256=body_sha256,
            message=message, send=send,
        )  # fmt: skip
        answer = {"status": "pending_review", "reviewId": review_id, "messageId": message_id}
        earlier = holds.open_hold(storage, review, raw, idempotency=(*idempotency, answer) if idempotency else None)
        if earlier is not None:
            return earlier
    entry = auditing.document(
        now=now, direction="outbound", account=account, message_id=message_id, sender=sender,
        recipients=recipients, outcome=auditing.outcome_of(verdict), cause=auditing.Cause.of(verdict),
        decision=verdict.decision.value, rule=verdict.rule, reason=verdict.reason, body_sha256=body_sha256,
        review_id=review_id,
    )  # fmt: skip
    auditing.record(storage, entry, retention_days=policy.audit.retention_days)
    if verdict.action is Action.REJECT:
        raise Unprocessable(
            f"the message was refused by the account's policy ({verdict.reason})",
            code="rejectedByPolicy",
            details={"rule": verdict.rule, "reason": verdict.reason},
        )
    return answer


def submission(
    storage: Storage,
    account: Account,
    body: SubmitBody,
    composed: Composed,
    claim: IdempotencyClaim | None,
    reference: Reference | None,
    *,
    now: datetime,
) -> dict[str, Any] | None:
    """``outbound`` for a submit request: what a reviewer sees and what queueing needs later.

    Returns None when the message may be queued now, or the ``pending_review`` answer.
    """
    copy = account.sent_copy_wanted(body.copy_)
    message = HeldMessage(
        sender=composed.envelope_from,
        to=tuple(a.address for a in body.to),
        cc=tuple(a.address for a in body.cc),
        bcc=tuple(a.address for a in body.bcc),
        subject=composed.subject,
        text=body.text,
        html=body.html,
        attachments=tuple(HeldAttachment(a.filename, a.content_type, len(a.content)) for a in body.attachments),
    )
    send = HeldSend(
        envelope_from=composed.envelope_from,
        envelope_to=tuple(composed.recipients),
        send_at=auditing.iso(body.send_at) if body.send_at is not None else None,
        max_attempts=body.delivery_attempts,
        copy=copy,
        smtputf8=composed.smtputf8,
        conversation_id=composed.conversation_id,
        reference=reference,
    )
    return outbound(
        storage, account=account.id, account_email=account.email, raw=composed.raw, message_id=composed.message_id,
        sender=composed.envelope_from, recipients=list(composed.recipients), message=message, send=send,
        idempotency=(claim.redis_key, claim.fingerprint) if claim is not None else None, now=now,
    )  # fmt: skip


def _review(
    review_id: str,
    account: str,
    direction: str,
    message_id: str,
    sender: str,
    recipients: list[str],
    verdict: Verdict,
    now: datetime,
    ttl_s: int,
    *,
    on_expiry: str,
    reviewers: list[str],
    subject: str,
    preview: str,
    body_sha256: str | None,
    message: HeldMessage | None = None,
    send: HeldSend | None = None,
) -> Review:
    expires = now + timedelta(seconds=ttl_s)
    return Review(
        id=review_id,
        account=account,
        direction=direction,
        state=State.PENDING.value,
        created_at=auditing.iso(now),
        expires_at=expires.timestamp(),
        expires_at_iso=auditing.iso(expires),
        on_expiry=on_expiry,
        message_id=message_id,
        subject=subject,
        sender=sender,
        recipients=tuple(recipients),
        preview=preview,
        decision=verdict.decision.value,
        rule=verdict.rule,
        reason=verdict.reason,
        body_sha256=body_sha256 or "",
        reviewers=tuple(reviewers),
        message=message,
        send=send,
    )
