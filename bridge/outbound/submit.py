"""The submit path: from a validated request to a stored outbox entry with its RQ job.

Orchestration only (storage, compose, jobs); the views in ``bridge/api/submit.py``
and ``bridge/api/outbox.py`` call one function each. The worker side lives in
``workers/mail.py`` and shares ``SendPolicy`` from here.

Order of work in ``submit``: account (404) → Idempotency-Key replay (first
answer or 409) → referenced message, fetched from IMAP (404) → compose (400/413) → one
transaction that claims the key, stores the entry and bytes and queues it:
a message to send now goes onto the outbox's ready list (one Lua step; a
drain job sends ready messages one after another), a scheduled one gets its
own RQ job at ``sendAt``. Nothing is written before that transaction, so a
refused request leaves nothing behind. Later gates (suppression lists, review holds) slot in
between compose and store: they see the composed message and the account.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bridge import jobs
from bridge.compose.build import compose
from bridge.compose.model import Composed, Draft, Mailbox, Original
from bridge.errors import Unprocessable, ValidationError
from bridge.inbound import records
from bridge.mail import ids
from bridge.mail.message import parse
from bridge.models import Account
from bridge.outbound import drafts
from bridge.review import gate
from bridge.schemas.submit import SubmitBody
from bridge.storage import Storage
from bridge.storage.outbox_records import SWEEP_INTERVAL_S, Created, IdempotencyClaim, OutboxEntry, Reference, iso

_MAX_IDEMPOTENCY_KEY = 255


@dataclass(frozen=True, slots=True)
class SendPolicy:
    """Timing of the send worker; tests shrink it so nothing waits.

    Attributes:
        backoff_base_s: delay after the first failed attempt; doubles each time (5 s, 10 s, 20 s …).
        backoff_max_s: the longest delay between attempts.
        lease_s: how long a sending worker owns an entry without renewing (renewed every third).
        sweep_interval_s: how often the sweep looks for dead workers' entries and lost jobs.
        grace_s: how late an entry may be before the sweep steps in.
        smtp_timeout_s: per SMTP command; DATA of a big message gets the same.
        smtp_idle_s: how long an idle pooled SMTP connection is kept.
        drain_budget_s: how long one drain job sends before handing over to a fresh one (other
            send-queue jobs, such as scheduled sends and retries, get a worker in between).
        drainers: how many drain jobs may work through a backlog at once (one per worker
            process helps on a multi-core host; each sends one message at a time).
        helper_backlog: how many ready messages bring in another drain job.
    """

    backoff_base_s: float = 5.0
    backoff_max_s: float = 3600.0
    lease_s: float = 60.0
    sweep_interval_s: float = SWEEP_INTERVAL_S
    grace_s: float = 30.0
    smtp_timeout_s: float = 60.0
    smtp_idle_s: float = 30.0
    drain_budget_s: float = 5.0
    drainers: int = 2
    helper_backlog: int = 20

    def backoff(self, failed_attempts: int) -> float:
        """Seconds to wait after ``failed_attempts`` failures (exponential, capped)."""
        return float(min(self.backoff_base_s * 2 ** max(0, failed_attempts - 1), self.backoff_max_s))


DEFAULT_POLICY = SendPolicy()


def fingerprint(account: str, body: Any) -> str:
    """SHA-256 of the request body as JSON with sorted keys: the same request, however it is spelled."""
    canonical = json.dumps([account, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def submit(
    storage: Storage,
    account_id: str,
    body: SubmitBody,
    *,
    idempotency_key: str | None = None,
    request_fingerprint: str = "",
    now: datetime | None = None,
    policy: SendPolicy = DEFAULT_POLICY,
    draft_raw: bytes | None = None,
    reference_raw: bytes | None = None,
) -> Created:
    """Validate against stored state, compose, and queue one message.

    ``draft_raw``: the source of a draft stored on the server (``body.draft``), sent as it is.
    ``reference_raw``: the source of the message ``body.reference`` names, fetched by the caller
    through the account's command connection (``bridge.mailbox``): no IMAP login here.

    Raises:
        NotFound: no such account, or no such referenced message.
        Conflict: the Idempotency-Key was used with another body.
        InvalidMessage, PayloadTooLarge: compose refused the message.
        Unprocessable: the account has no SMTP server, or a recipient is suppressed.
    """
    now = now or datetime.now(UTC)
    account = storage.accounts.get(account_id)
    claim = _idempotency(account_id, idempotency_key, request_fingerprint)
    if claim is not None:
        earlier = storage.outbox.replay(claim)
        if earlier is not None:
            return Created(earlier, replayed=True)
    if account.smtp is None:
        raise Unprocessable(f"account {account_id!r} has no SMTP server to send with", code="noSmtpServer")
    if draft_raw is not None:
        found, composed = None, drafts.from_draft(storage, account, draft_raw)
        _refuse_suppressed(storage, account_id, body, list(composed.recipients))
    else:
        _refuse_suppressed(storage, account_id, body, body.recipient_addresses())
        found = None
        if body.reference is not None:
            if reference_raw is None:
                raise ValueError("a reference needs the referenced message's source (reference_raw)")
            found = referenced(storage, account, body.reference.message, reference_raw)
        draft = _draft(body, account, found)
        composed = compose(draft, now=now, unique=f"{secrets.token_hex(12)}.{int(now.timestamp())}")
    # Policy gate (bridge/review/gate.py): a held message waits for a reviewer instead of being queued
    # (202 pending_review); a content guard may refuse it (422 rejectedByPolicy).
    held = gate.submission(storage, account, body, composed, claim, _reference(body, found), now=now)
    if held is not None:
        return Created(held)
    return _store(storage, account, body, composed, claim, now, policy, found)


def _refuse_suppressed(storage: Storage, account_id: str, body: SubmitBody, recipients: list[str]) -> None:
    """Hard-bounced and complaining addresses are not mailed again unless the caller insists."""
    if body.ignore_suppression:
        return
    found = storage.suppressions.suppressed(account_id, recipients)
    if found:
        raise Unprocessable(
            f"suppressed recipients: {', '.join(found)}",
            code="recipientsSuppressed",
            details={"recipients": found, "hint": "send with ignoreSuppression: true, or remove them from the list"},
        )


def cancel(storage: Storage, queue_id: str, now: datetime | None = None) -> None:
    """Cancel a queued or scheduled message; its job, if it still runs, finds it cancelled and stops.

    Raises:
        NotFound, Conflict (already sending or finished).
    """
    job_id = storage.outbox.get(queue_id).job_id
    storage.outbox.cancel(queue_id, iso(now or datetime.now(UTC)))
    if job_id:
        jobs.discard_job(storage.redis, job_id)


def _idempotency(account: str, key: str | None, request_fingerprint: str) -> IdempotencyClaim | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > _MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise ValidationError("Idempotency-Key must be 1-255 printable characters", code="invalidIdempotencyKey")
    return IdempotencyClaim(account=account, key=key, fingerprint=request_fingerprint)


@dataclass(frozen=True, slots=True)
class Referenced:
    """The message a reply or forward refers to: what compose needs of it (``original``, with its
    source as ``raw``) and where it is on the server (for the Reference the sent copy's flag needs)."""

    id: str
    folder: str
    uid: int
    uid_validity: int
    original: Original

    def reference(self, action: str) -> Reference:
        return Reference(self.id, action, self.folder, self.uid, self.uid_validity, self.original.message_id)


def referenced(storage: Storage, account: Account, message: str, raw: bytes) -> Referenced:
    """The message a reply or forward refers to, read from its source ``raw`` (fetched by the caller).

    Any message id resolves (``bridge.mail.ids``), seen by the bridge or not: Redis keeps no
    sources. The index entry, when there is one, gives the conversation and a Message-ID to
    find the message by if its folder's UIDVALIDITY changed; otherwise the conversation is the
    one its Message-ID or References are known in, or a new one.

    Raises:
        NotFound: not a message id (messageNotFound).
    """
    where = ids.decode(message)
    entry = storage.messages.entry(account.id, message)
    fields = records.message_fields(parse(raw))
    if entry is not None:
        conversation = entry.conversation_id
    else:
        thread = [h for h in [fields["messageId"], *reversed(fields["references"])] if h]
        known = storage.messages.conversations(account.id, thread)
        found = next((known[h] for h in thread if h in known), None)
        conversation = found or ids.new_conversation_id(fields["messageId"], message)
    original = original_of({**fields, "conversationId": conversation}, raw)
    return Referenced(message, where.folder, where.uid, where.uidvalidity, original)


def _draft(body: SubmitBody, account: Account, found: Referenced | None) -> Draft:
    original = None
    action = None
    quote = False
    if body.reference is not None and found is not None:
        action = body.reference.to_action()
        quote = body.reference.inline
        # Only a forward that attaches the original (not quoting it) carries its source.
        original = found.original if action.value == "forward" and not quote else replace(found.original, raw=None)
    return replace(drafts.content_draft(body, account), action=action, original=original, quote=quote)


def original_of(record: dict[str, Any], raw: bytes | None = None) -> Original:
    """The parts of a message a reply or forward needs, read from its JSON fields
    (``records.message_fields``, the shape REST serves) and its ``conversationId``."""

    def box(value: dict[str, Any] | None) -> Mailbox | None:
        return Mailbox(value["address"], value.get("name") or "") if value and value.get("address") else None

    def boxes(values: list[dict[str, Any]] | None) -> tuple[Mailbox, ...]:
        return tuple(b for b in (box(v) for v in values or []) if b is not None)

    references = tuple(record.get("references") or ())
    if not references and record.get("inReplyTo"):
        references = (record["inReplyTo"],)
    return Original(
        message_id=record.get("messageId"),
        subject=record.get("subject") or "",
        from_=box(record.get("from")),
        reply_to=boxes(record.get("replyTo")),
        to=boxes(record.get("to")),
        cc=boxes(record.get("cc")),
        references=references,
        date=record.get("date"),
        text=record.get("text"),
        html=record.get("html"),
        conversation_id=record.get("conversationId"),
        raw=raw,
    )


def _store(
    storage: Storage,
    account: Account,
    body: SubmitBody,
    composed: Composed,
    claim: IdempotencyClaim | None,
    now: datetime,
    policy: SendPolicy,
    found: Referenced | None,
) -> Created:
    queue_id = secrets.token_hex(8)
    entry = OutboxEntry.queued(
        queue_id=queue_id,
        account=account.id,
        message_id=composed.message_id,
        subject=composed.subject,
        envelope_from=composed.envelope_from,
        envelope_to=composed.recipients,
        send_at=body.send_at,
        now=now,
        max_attempts=body.delivery_attempts,
        copy=account.sent_copy_wanted(body.copy_),
        smtputf8=composed.smtputf8,
        conversation_id=composed.conversation_id,
        reference=_reference(body, found),
    )
    # A scheduled entry gets its own RQ job at sendAt; one to send now goes onto the ready list.
    if entry.scheduled:
        entry = replace(entry, job_id=jobs.new_send_job_id(queue_id))
    answer = {
        "response": "Queued for delivery",
        "messageId": composed.message_id,
        "queueId": queue_id,
        "sendAt": entry.send_at,
    }

    if entry.scheduled:

        def schedule(pipe: Any) -> None:
            jobs.enqueue_send(storage.redis, queue_id, entry.job_id, at=entry.due, pipeline=pipe)

        created = storage.outbox.create(
            entry,
            composed.raw,
            idempotency=claim,
            answer=answer,
            schedule=schedule,
            sweep_ttl=3 * policy.sweep_interval_s,
        )
    else:
        # Sent now: onto the ready list that the drain job works through (no RQ job per message).
        drain_job_id = jobs.new_drain_job_id()
        created = storage.outbox.create_ready(
            entry,
            composed.raw,
            idempotency=claim,
            answer=answer,
            drain_job_id=drain_job_id,
            drainer_ttl=policy.lease_s,
            sweep_ttl=3 * policy.sweep_interval_s,
            now=now.timestamp(),
        )
        if created.start_drainer:
            jobs.enqueue_drain(storage.redis, drain_job_id)
    if created.start_sweeper:
        jobs.enqueue_outbox_sweep(storage.redis, policy.sweep_interval_s)
    return created


def _reference(body: SubmitBody, found: Referenced | None) -> Reference | None:
    return found.reference(body.reference.action) if body.reference is not None and found is not None else None
