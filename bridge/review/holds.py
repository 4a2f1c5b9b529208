"""Review holds, end to end: open one, decide or expire it, and carry out the outcome.

Orchestration over storage, jobs and emit; the state machine and the link
tokens are pure, in ``bridge.review.links``. Called by the policy gate (opening),
the reviews API and the review pages (deciding), and the expiry job.

Carrying out happens only in the caller that made the transition (the one
whose Lua step answered ``ok``), so an approved message is sent, or
delivered, once:

- outbound approved → a new outbox entry with the held bytes and its send job
  (the normal send path: ``storage.outbox.create`` + ``jobs.enqueue_send``);
  rejected → the bytes are dropped, nothing is sent.
- inbound approved → ``messageNew`` (and ``messageBounce``/``messageComplaint``
  when it is one) for the record the hold kept; rejected → never emitted. Either
  way the kept record (the bodies) is dropped; the index entry records the decision.

Review events (``reviewPending`` and the decisions) carry ids, reasons and
times but no message content: a held message may be exactly what must not
reach the agent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from bridge import jobs
from bridge.events.emit import emit, emit_many
from bridge.events.model import EventName
from bridge.inbound import records
from bridge.inbound.publish import publish_message
from bridge.policy.verdict import Decision
from bridge.review import audit as auditing
from bridge.review.links import LinkAction, State, state_for
from bridge.storage import Storage
from bridge.storage.outbox_records import SWEEP_INTERVAL_S
from bridge.storage.review_records import Review

log = logging.getLogger(__name__)

# The review sweep: how often it runs while holds are pending, and how late an expiry job must be
# before the sweep expires the hold itself (the job normally fires at the expiry second).
REVIEW_SWEEP_INTERVAL_S = 60
REVIEW_SWEEP_GRACE_S = 30.0
_DECIDED = {
    State.APPROVED: (EventName.REVIEW_APPROVED, Decision.REVIEW_APPROVED),
    State.REJECTED: (EventName.REVIEW_REJECTED, Decision.REVIEW_REJECTED),
    State.EXPIRED: (EventName.REVIEW_EXPIRED, Decision.REVIEW_EXPIRED),
}

_AUDIT_OUTCOME = {
    State.APPROVED: auditing.Outcome.APPROVED,
    State.REJECTED: auditing.Outcome.REJECTED,
    State.EXPIRED: auditing.Outcome.EXPIRED,
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an attempt to decide a hold did.

    ``status``: ``ok`` (this call made the transition), ``already`` (decided
    before: ``state`` says how), ``late`` (past its expiry: the expiry was
    applied instead), ``missing``.
    """

    status: str
    state: State | None = None
    review: Review | None = None


def new_review_id() -> str:
    return "rev_" + secrets.token_hex(12)


def inbound_review_id(account: str, message_id: str) -> str:
    """The same inbound message always gets the same hold, so a re-run of the pipeline cannot open two."""
    return "rev_" + hashlib.sha256(f"{account}\0{message_id}".encode()).hexdigest()[:24]


def held_record_bytes(record: records.MessageRecord) -> bytes:
    """How an inbound hold keeps its message's full record (bodies included) until decided."""
    return json.dumps(record.to_json(), separators=(",", ":"), ensure_ascii=False).encode()


def held_message(storage: Storage, review: Review) -> dict[str, Any] | None:
    """An inbound hold's message for a reviewer: the kept record while pending, else its index entry."""
    kept = storage.reviews.raw(review.id)
    if kept is not None:
        record: dict[str, Any] = json.loads(kept)
        return record
    entry = storage.messages.entry(review.account, review.message_id)
    return entry.to_json() if entry is not None else None


def open_hold(
    storage: Storage,
    review: Review,
    raw: bytes | None,
    *,
    idempotency: tuple[str, str, dict[str, Any]] | None = None,
    announce: bool = True,
) -> dict[str, Any] | None:
    """Store a pending hold with its notification and expiry jobs, and announce it.

    ``raw``: what the hold keeps until decided (an outbound message's bytes, an inbound
    message's full record, ``held_record_bytes``). ``announce=False``: the caller publishes
    ``reviewPending`` itself, in order with other events (the inbound pipeline).

    Returns None when the hold was created, or the earlier answer when it existed already.
    """
    review_id, expires_at = review.id, review.expires_at

    def schedule(pipe: Any) -> None:
        notify = bool(review.reviewers)
        jobs.enqueue_review_jobs(storage.redis, review_id, expires_at, notify=notify, pipeline=pipe)

    earlier = storage.reviews.create(review, raw, schedule=schedule, idempotency=idempotency)
    if earlier is None:
        if announce:
            emit(storage, review.account, EventName.REVIEW_PENDING, event_data(review))
        if storage.reviews.sweeper.claim(3 * REVIEW_SWEEP_INTERVAL_S):
            jobs.enqueue_review_sweep(storage.redis, REVIEW_SWEEP_INTERVAL_S)
    return earlier


def decide(storage: Storage, review_id: str, action: LinkAction, *, by: str, now: datetime) -> Outcome:
    """Approve or reject a pending hold (API or magic link); carries out the outcome when this call wins."""
    review = storage.reviews.get(review_id)
    if review is None:
        return Outcome("missing")
    target = state_for(action)
    # An approved hold's bytes (outbound) or record (inbound) outlive the decision until carried out.
    keep_raw = action is LinkAction.APPROVE
    result = storage.reviews.decide(
        review_id, target.value, now=now.timestamp(), at=auditing.iso(now), by=by, outcome=action.value,
        keep_raw=keep_raw,
    )  # fmt: skip
    if result == "late":
        expire(storage, review_id, now=now)
        return Outcome("late", State.EXPIRED, storage.reviews.get(review_id))
    if result != "ok":
        return Outcome("missing" if result == "missing" else "already", _state(result), review)
    jobs.discard_job(storage.redis, jobs.review_expire_job_id(review_id))
    _finish(storage, review, target, approved=action is LinkAction.APPROVE, by=by, now=now)
    return Outcome("ok", target, storage.reviews.get(review_id))


def expire(storage: Storage, review_id: str, *, now: datetime) -> str:
    """Apply a hold's onExpiry once its time is up; returns the store's answer (``ok``, ``early``, a state…)."""
    review = storage.reviews.get(review_id)
    if review is None:
        return "missing"
    approve = review.on_expiry == "approve"
    result = storage.reviews.decide(
        review_id, State.EXPIRED.value, now=now.timestamp(), at=auditing.iso(now), by=auditing.EXPIRY,
        outcome="approve" if approve else "reject", keep_raw=approve,
    )  # fmt: skip
    if result == "ok":
        _finish(storage, review, State.EXPIRED, approved=approve, by=auditing.EXPIRY, now=now)
    return result


def expire_overdue(storage: Storage, *, now: datetime, grace_s: float = REVIEW_SWEEP_GRACE_S) -> int:
    """Expire holds whose expiry job should have run ``grace_s`` ago; returns how many this call expired.

    The backstop for a lost expiry job (written with the hold, so lost only with Redis data):
    a sweep chain runs while any hold is pending (``workers.review.sweep_reviews``).
    """
    expired = 0
    while True:
        overdue = storage.reviews.overdue(now.timestamp() - grace_s)
        for review_id in overdue:
            expired += expire(storage, review_id, now=now) == "ok"
        if len(overdue) < 100:
            return expired


def event_data(review: Review, **extra: Any) -> dict[str, Any]:
    """The data of review events: identifiers and reasons, no message content."""
    return {
        "reviewId": review.id,
        "direction": review.direction,
        "messageId": review.message_id,
        "rule": review.rule,
        "reason": review.reason,
        "expiresAt": review.expires_at_iso,
        **extra,
    }


def _state(value: str) -> State | None:
    try:
        return State(value)
    except ValueError:
        return None


def _finish(storage: Storage, review: Review, state: State, *, approved: bool, by: str, now: datetime) -> None:
    if review.outbound:
        if approved:
            _queue_outbound(storage, review, now)
    else:
        _settle_inbound(storage, review, approved=approved)
    # Decided: the hold's copy of the content goes (the bytes or record went with its raw key);
    # the review itself stays readable for a week without the body text.
    fields: dict[str, Any] = {"preview": ""}
    if review.message is not None:
        fields["message"] = review.message.without_bodies().to_json()
    storage.reviews.set_fields(review.id, **fields)
    outcome = "approve" if approved else "reject"
    event, decision = _DECIDED[state]
    reason = f"on_expiry:{outcome}" if state is State.EXPIRED else review.reason
    kind = auditing.CauseKind.EXPIRY if state is State.EXPIRED else auditing.CauseKind.REVIEWER
    emit(storage, review.account, event, event_data(review, state=state.value, outcome=outcome, by=by))
    entry = auditing.document(
        now=now,
        direction=review.direction,
        account=review.account,
        message_id=review.message_id,
        sender=review.sender,
        recipients=list(review.recipients),
        outcome=_AUDIT_OUTCOME[state],
        cause=auditing.Cause(kind, rule=review.rule, reason=reason, by=by),
        decision=decision.value,
        rule=review.rule,
        reason=reason,
        body_sha256=review.body_sha256,
        by=by,
        review_id=review.id,
    )
    auditing.record(storage, entry)


def _settle_inbound(storage: Storage, review: Review, *, approved: bool) -> None:
    """Record the decision on the message's index entry; when approved, emit the held message
    as if it had just arrived. Either way its kept record (the bodies) goes."""
    account = review.account
    held = storage.reviews.raw(review.id)
    stored = storage.messages.entry(account, review.message_id)
    if stored is not None and stored.policy is not None:
        state = State.APPROVED if approved else State.REJECTED
        storage.messages.set_policy(account, review.message_id, replace(stored.policy, state=state.value))
    if approved:
        if held is None:
            log.warning("approved inbound message %s is no longer kept; nothing to emit", review.message_id)
        else:
            record = records.MessageRecord.from_json(json.loads(held))
            record = record.with_content(policy={**(record.content.get("policy") or {}), "state": State.APPROVED.value})
            # The same events and suppressions the pipeline would have made on arrival (records.message_events).
            emit_many(storage, publish_message(storage, account, record))
    storage.reviews.drop_raw(review.id)


def _queue_outbound(storage: Storage, review: Review, now: datetime) -> None:
    """Hand the held bytes to the normal send path, as ``bridge.outbound.submit`` queues a submission."""
    raw = storage.reviews.raw(review.id)
    if raw is None or review.send is None:
        log.error("approved review %s has no message bytes left; nothing to send", review.id)
        return
    queue_id = secrets.token_hex(8)
    entry = review.send.entry(review, queue_id=queue_id, job_id=jobs.new_send_job_id(queue_id), now=now)
    answer = {"response": "Queued for delivery", "messageId": review.message_id, "queueId": queue_id}

    def schedule(pipe: Any) -> None:
        at = entry.due if entry.scheduled else None
        jobs.enqueue_send(storage.redis, queue_id, entry.job_id, at=at, pipeline=pipe)

    created = storage.outbox.create(
        entry, raw, idempotency=None, answer=answer, schedule=schedule, sweep_ttl=3 * SWEEP_INTERVAL_S
    )
    if created.start_sweeper:
        jobs.enqueue_outbox_sweep(storage.redis, SWEEP_INTERVAL_S)
    storage.reviews.set_fields(review.id, queueId=queue_id)
    storage.reviews.drop_raw(review.id)  # the outbox has the bytes now (until sent and filed)
