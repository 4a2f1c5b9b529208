"""RQ jobs of outbound mail: send one attempt, drain the ready list, file the sent copy, sweep up lost sends.

A message submitted for now has no RQ job of its own: it waits on the
outbox's ready list, and one drain job (``drain_outbox``) claims and sends
ready messages one after another (RQ's bookkeeping cost ~16 Redis round trips
and several ms per job; BENCHMARKS.md, "Outbound"). Scheduled sends and
retries keep one RQ job per attempt (``send_message``) at their time.

Jobs take a queue id and load the rest from the outbox entry, which is the
truth (``bridge/storage/outbox.py``); a job for a cancelled, sent or leased
entry does nothing, so duplicate or late jobs are harmless. A failed attempt
is not an exception here: it is recorded on the entry, announced as
``messageDeliveryError``, and the next attempt is scheduled with backoff (or
``messageFailed`` ends it). Only a job that cannot do its work (Redis down)
raises, and RQ records that; the entry's lease then expires and the sweep
hands it to another job.

Crash safety (both ways in): the entry is ``sending`` under a lease that this process
renews while SMTP runs. ``dataStarted`` is written just before DATA. A worker
killed before that point leaves nothing delivered, and the next attempt sends
once. Killed after DATA went out but before ``sent`` was recorded (the
server may already have accepted it: a window of one round trip plus one
Redis write), the message is sent again with the same Message-ID and the
entry says ``possibleDuplicate``: at-least-once, never lost.

Each worker process keeps one event loop and one SMTP ``Pool`` across jobs, so
consecutive sends for an account reuse an authenticated connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from typing import Any

from rq import Retry, get_current_job

from bridge import jobs
from bridge.clock import Clock
from bridge.errors import BridgeError, NotFound, SubmissionError, SubmissionRejected
from bridge.events.emit import emit
from bridge.events.model import EventName
from bridge.imap import mailbox_ops
from bridge.mail import ids
from bridge.mailbox.client import MailboxClient
from bridge.models import Account, rfc3339
from bridge.outbound import smtp
from bridge.storage.message_index import Entry, Sender, subject_of
from bridge.storage.outbox_records import OutboxEntry, Reference, SendFailure
from workers.context import SendRuntime, current

log = logging.getLogger(__name__)

# A scheduled send job starts up to a second before its entry is due (RQ schedules whole seconds);
# it waits that long rather than send early. A job earlier than this is a stray: it does nothing.
_EARLY_START_S = 1.5


def send_message(queue_id: str) -> str:
    """Make one send attempt of an outbox entry; returns the outcome (sent, retry, failed, skipped:<why>)."""
    rt = _get_runtime()
    now = rt.clock.time()
    owner = _owner()
    claim = rt.storage.outbox.claim(queue_id, owner, now + rt.policy.lease_s, now)
    if claim.status == "early" and claim.due - now <= _EARLY_START_S:
        # Scheduled jobs start in the whole second before their time (bridge.jobs.enqueue_send).
        time.sleep(max(0.0, claim.due - now))
        now = rt.clock.time()
        claim = rt.storage.outbox.claim(queue_id, owner, now + rt.policy.lease_s, now)
    if claim.status != "ok" or claim.entry is None:
        return f"skipped:{claim.status}"
    return _attempt(rt, owner, claim.entry, claim.raw)


def drain_outbox(job_id: str) -> int:
    """Send the first attempt of every entry on the outbox's ready list, oldest first; returns how many.

    One RQ job serves many submissions: the ready list's ids are claimed one at
    a time (pop and claim in one step, ``OutboxStore.claim_next``) and each goes
    through the same attempt as ``send_message``. ``job_id`` is this job's id,
    marked live while it works. A backlog brings in a helper drain job (up to the
    policy's ``drainers``), which another worker process runs alongside. After the
    policy's ``drain_budget_s`` a job hands its mark to a fresh job and returns,
    so scheduled sends, retries and sweeps queued meanwhile get a worker too.
    """
    rt = _get_runtime()
    outbox, policy = rt.storage.outbox, rt.policy
    deadline = time.monotonic() + policy.drain_budget_s
    attempted = 0
    while True:
        now = rt.clock.time()
        owner = _owner()
        helper = jobs.new_drain_job_id()
        claim = outbox.claim_next(
            owner,
            now + policy.lease_s,
            now,
            drainer=job_id,
            drainer_ttl=policy.lease_s,
            helper=helper,
            max_drainers=policy.drainers,
            helper_backlog=policy.helper_backlog,
        )
        if claim.status == "empty":
            return attempted
        if claim.helper:
            jobs.enqueue_drain(rt.storage.redis, helper)
        if claim.status == "ok" and claim.entry is not None:
            _attempt(rt, owner, claim.entry, claim.raw, drainer=job_id)
            attempted += 1
        # Past its budget, or its worker is stopping: the rest of the ready list goes to a fresh job (another
        # worker's, or this one's after a restart) rather than starting a send that a stop would cut.
        if time.monotonic() > deadline or jobs.stop_requested():
            with jobs.finish_before_stop():  # a hand-over cut in half would leave the list without a drainer
                successor = jobs.new_drain_job_id()
                if outbox.hand_over_drainer(job_id, successor, policy.lease_s, rt.clock.time()):
                    jobs.enqueue_drain(rt.storage.redis, successor)
            return attempted


def _attempt(rt: SendRuntime, owner: str, entry: OutboxEntry, raw: bytes, *, drainer: str | None = None) -> str:
    """One send attempt of a claimed entry, counted by outcome (``mailbridge_sends_total``)."""
    outcome = _send_once(rt, owner, entry, raw, drainer=drainer)
    rt.storage.metrics.send(outcome)
    return outcome


def _send_once(rt: SendRuntime, owner: str, entry: OutboxEntry, raw: bytes, *, drainer: str | None = None) -> str:
    """One send attempt of a claimed entry: SMTP, then sent / retry / failed on the entry and as events.

    From DATA until the outcome is recorded and announced, a stop request waits (``jobs.finish_before_stop``):
    cut there, the server may already hold the message and the retry would deliver it twice.
    """
    with contextlib.ExitStack() as finishing:
        return _send_and_record(rt, owner, entry, raw, drainer, finishing)


def _send_and_record(
    rt: SendRuntime,
    owner: str,
    entry: OutboxEntry,
    raw: bytes,
    drainer: str | None,
    finishing: contextlib.ExitStack,
) -> str:
    queue_id = entry.queue_id
    outbox = rt.storage.outbox
    try:
        account = rt.storage.accounts.get(entry.account)
        if account.smtp is None:
            raise SubmissionRejected("the account has no SMTP server any more", code="noSmtpServer")
        if entry.attempts > entry.max_attempts:
            raise SubmissionRejected("out of attempts (workers died while sending)", code="attemptsExhausted")
        result = rt.loop.run_until_complete(_deliver(rt, queue_id, owner, account, entry, raw, drainer, finishing))
    except NotFound:
        return _failed(rt, queue_id, owner, entry, SubmissionRejected("the account was removed", code="noAccount"))
    except SubmissionError as exc:
        return _failed(rt, queue_id, owner, entry, exc)
    sent_at = rfc3339(rt.clock.time())
    outbox.mark_sent(queue_id, owner, response=result.response, sent_at=sent_at)
    rt.storage.messages.remember_conversation(entry.account, entry.message_id, entry.conversation_id)
    data: dict[str, Any] = {
        **_summary(entry),
        "response": result.response,
        "sentAt": sent_at,
        "conversationId": entry.conversation_id,
        # Filed after the send (file_sent_message): the outcome goes on the outbox entry and in messageFiled.
        "sentCopy": {"status": "pending"} if entry.copy else mailbox_ops.NOT_REQUESTED.to_json(),
    }
    if result.rejected:
        data["rejected"] = [{"recipient": r, "smtpCode": c, "response": m} for r, c, m in result.rejected]
    if entry.possible_duplicate:
        data["possibleDuplicate"] = True
    emit(rt.storage, entry.account, EventName.MESSAGE_SENT, data, dispatcher=rt.dispatcher)
    if entry.copy or entry.reference:
        jobs.enqueue_file_sent(rt.storage.redis, queue_id)
    else:
        rt.storage.outbox.drop_raw(queue_id)  # sent, and no copy to file: Redis keeps no body
    return "sent"


def file_sent_message(queue_id: str) -> str | Retry:
    """Upload the sent message to Sent (\\Seen) and set \\Answered or $Forwarded on the referenced one.

    The IMAP work is the ``fileSent`` mailbox command, run by the watcher that holds the account's
    lease on its command connection (``bridge.mailbox``): this job logs in to nothing, so the account
    keeps at most IDLE + ``BRIDGE_IMAP_COMMAND_CONNECTIONS`` connections however many workers send.
    Records the copy's fate on the outbox entry (``sentCopy``: filed, created or skipped with a
    reason), indexes the copy (APPENDUID) so conversations span Sent, drops the bytes, and emits
    ``messageFiled``.

    When no watcher can run it (``503 accountUnavailable``: none holds the account, or its IMAP
    server is down), or the command fails otherwise but transiently, the job logs one warning and
    returns a ``Retry`` (``bridge.jobs.file_sent_retry``: RQ runs it again with backoff, about 80
    minutes in all); its last try, or a permanent error, records ``skipped`` with the error as the
    reason instead, and logs it as the error. It never logs in itself: that would break the cap. A retry
    asks for the copy ``once`` (a copy with the Message-ID already in Sent counts as filed), as an
    earlier try's answer may have been lost after its APPEND. The message itself is sent already and
    is never sent again.
    """
    rt = _get_runtime()
    entry = rt.storage.outbox.get(queue_id)
    try:
        raw: bytes | None = rt.storage.outbox.raw(queue_id)
    except NotFound:
        raw = None  # an earlier run of this job filed the copy and dropped the bytes
    target = _flag_target(entry.reference)
    copy = entry.copy and raw is not None
    job = get_current_job()
    args: dict[str, Any] = {
        "copy": copy,
        "flag": target.to_json() if target else None,
        "date": entry.sent_at.replace("Z", "+00:00") if entry.sent_at else None,
        "once": entry.message_id if copy and job is not None and jobs.file_sent_retried(job) else None,
    }
    failed = False
    try:
        reply = MailboxClient(rt.storage).call(entry.account, "fileSent", args, raw if copy and raw else b"")
        result = mailbox_ops.FileResult.from_wire(reply.result)
    except NotFound:  # the account was removed since the send
        result = mailbox_ops.FileResult(mailbox_ops.SentCopy("skipped", reason="noAccount"), flagged=False)
    except BridgeError as exc:
        later = jobs.file_sent_retry(job) if exc.transient else None
        if later is not None:
            # Expected (no watcher holds the account yet, its server is down): one line, no traceback.
            # Only the filing is tried again: the message itself stays sent, once.
            log.warning("sent message %s: filing it again in %d s: %s", queue_id, later[1], exc.message)
            return later[0]
        why = f"{exc.code}: {exc.message}"
        log.error("sent message %s was not filed: %s", queue_id, why)  # for good: the one error
        failed = True
        result = mailbox_ops.FileResult(mailbox_ops.SentCopy("skipped", reason=why), flagged=False)
    filed = result.copy
    if copy or entry.sent_copy is None:
        rt.storage.outbox.set_fields(
            queue_id, sentFolder=filed.folder or "", flagged=result.flagged, sentCopy=filed.to_json()
        )
    else:
        rt.storage.outbox.set_fields(queue_id, flagged=result.flagged)
    if copy and filed.status == "skipped" and not failed:
        log.warning("sent message %s was not filed in Sent: %s", queue_id, filed.reason)
    if filed.folder is not None and filed.uid is not None and filed.uidvalidity is not None:
        # The Sent copy joins the index, so conversations span Sent (bridge.storage.messages.thread).
        rt.storage.messages.save_entries([_sent_entry(entry, filed.folder, filed.uidvalidity, filed.uid, rt.clock)])
    rt.storage.outbox.drop_raw(queue_id)  # sent and filed: the bytes live on the servers now
    data: dict[str, Any] = {
        "queueId": queue_id,
        "messageId": entry.message_id,
        "sentCopy": filed.to_json() if copy or entry.sent_copy is None else entry.sent_copy,
    }
    if target is not None:
        data["flagged"] = result.flagged
    emit(rt.storage, entry.account, EventName.MESSAGE_FILED, data, dispatcher=rt.dispatcher)
    return f"filed:{filed.folder or '-'}:{'flagged' if result.flagged else 'unflagged'}"


def _sent_entry(entry: OutboxEntry, folder: str, uidvalidity: int, uid: int, clock: Clock) -> Entry:
    return Entry(
        id=ids.encode(folder, uidvalidity, uid),
        account=entry.account,
        folder=folder,
        uid=uid,
        uidvalidity=uidvalidity,
        conversation_id=entry.conversation_id,
        received_at=entry.sent_at or rfc3339(clock.time()),
        message_id=entry.message_id or None,
        date=entry.sent_at,
        direction="sent",
        subject=subject_of(entry.subject),
        from_=Sender(entry.envelope_from) if entry.envelope_from else None,
        flags=("\\Seen",),
        queue_id=entry.queue_id,
    )


def sweep_outbox(startup: bool = False) -> int:
    """Re-enqueue entries whose worker died (lease expired) or whose job was lost.

    Reschedules itself while anything is active; a ``startup`` sweep (a worker
    just started) only does so when no sweep chain is running. Returns how many it enqueued.
    """
    rt = _get_runtime()
    outbox, policy = rt.storage.outbox, rt.policy
    now = rt.clock.time()
    overdue = outbox.overdue(now - policy.grace_s)
    waiting = [e for e in overdue if e.state != "sending"]
    # An entry on the ready list has no job of its own: a drain job with a live mark serves it.
    drainers = outbox.drainers(now) if any(not e.job_id for e in waiting) else []
    job_ids = [e.job_id for e in waiting if e.job_id] + drainers
    pending = jobs.pending_jobs(rt.storage.redis, job_ids) if job_ids else set()
    draining = any(d in pending for d in drainers)
    enqueued = 0
    for entry in overdue:
        queue_id = entry.queue_id
        if entry.state != "sending" and (entry.job_id in pending or not entry.job_id and draining):
            outbox.reschedule(queue_id, now + policy.grace_s)  # a busy queue, not a lost job
            continue
        job_id = jobs.new_send_job_id(queue_id)
        outbox.set_fields(queue_id, jobId=job_id)
        outbox.reschedule(queue_id, now + policy.lease_s)
        jobs.enqueue_send(rt.storage.redis, queue_id, job_id)
        enqueued += 1
    if outbox.sweeper.release_if_idle():
        return enqueued
    if startup:
        if outbox.sweeper.claim(3 * policy.sweep_interval_s):
            jobs.enqueue_outbox_sweep(rt.storage.redis, policy.sweep_interval_s)
        return enqueued
    outbox.sweeper.keep(3 * policy.sweep_interval_s)
    jobs.enqueue_outbox_sweep(rt.storage.redis, policy.sweep_interval_s)
    return enqueued


async def _deliver(
    rt: SendRuntime,
    queue_id: str,
    owner: str,
    account: Account,
    entry: OutboxEntry,
    raw: bytes,
    drainer: str | None,
    finishing: contextlib.ExitStack,
) -> smtp.SendResult:
    assert account.smtp is not None  # noqa: S101 - checked by the caller
    outbox = rt.storage.outbox

    async def keep_lease() -> None:
        while True:
            await asyncio.sleep(rt.policy.lease_s / 3)
            if drainer is not None:
                outbox.keep_drainer(drainer, rt.policy.lease_s, rt.clock.time())
            if not outbox.renew(queue_id, owner, rt.clock.time() + rt.policy.lease_s):
                log.warning("lost the lease on %s while sending", queue_id)
                return

    async def data_started() -> None:
        finishing.enter_context(jobs.finish_before_stop())  # held until the caller has recorded the outcome
        outbox.mark_data_started(queue_id, owner)

    renewer = asyncio.create_task(keep_lease())
    try:
        return await rt.pool.send(
            account.id,
            account.smtp,
            mail_from=entry.envelope_from,
            recipients=entry.envelope_to,
            raw=raw,
            before_data=data_started,
            smtputf8=entry.smtputf8,
        )
    finally:
        renewer.cancel()


def _failed(rt: SendRuntime, queue_id: str, owner: str, entry: OutboxEntry, exc: SubmissionError) -> str:
    now = rt.clock.time()
    attempts, limit = entry.attempts, entry.max_attempts
    error = SendFailure(exc.message, exc.code, exc.smtp_code, rfc3339(now))
    retry = exc.transient and attempts < limit
    next_at = now + rt.policy.backoff(attempts) if retry else None
    data = {
        **_summary(entry),
        "error": exc.message,
        "errorCode": exc.code,
        "smtpCode": exc.smtp_code,
        "attempt": attempts,
        "maxAttempts": limit,
        "nextAttempt": rfc3339(next_at) if next_at is not None else None,
    }
    if next_at is not None:
        job_id = jobs.new_send_job_id(queue_id)
        rt.storage.outbox.mark_retry(
            queue_id, owner, error=error, next_at=next_at, next_iso=rfc3339(next_at), job_id=job_id
        )
        jobs.enqueue_send(rt.storage.redis, queue_id, job_id, at=next_at)
        emit(rt.storage, entry.account, EventName.MESSAGE_DELIVERY_ERROR, data, dispatcher=rt.dispatcher)
        return "retry"
    rt.storage.outbox.mark_failed(queue_id, owner, error=error)
    emit(rt.storage, entry.account, EventName.MESSAGE_DELIVERY_ERROR, data, dispatcher=rt.dispatcher)
    emit(rt.storage, entry.account, EventName.MESSAGE_FAILED, {**data, "attempts": attempts}, dispatcher=rt.dispatcher)
    return "failed"


def _summary(entry: OutboxEntry) -> dict[str, Any]:
    return {
        "queueId": entry.queue_id,
        "messageId": entry.message_id,
        "envelope": entry.envelope,
        "subject": entry.subject,
        "attempts": entry.attempts,
    }


def _flag_target(reference: Reference | None) -> mailbox_ops.FlagTarget | None:
    if reference is None or reference.uid is None or not reference.folder:
        return None
    return mailbox_ops.FlagTarget(
        folder=reference.folder,
        uid=reference.uid,
        uidvalidity=reference.uid_validity or 0,
        message_id=reference.message_id,
        flag="$Forwarded" if reference.forward else "\\Answered",
    )


def _get_runtime() -> SendRuntime:
    """This worker's send runtime (``workers.context``: RQ passes jobs nothing but their arguments)."""
    return current().mail


def _owner() -> str:
    """A lease owner: this host and process, and a random part per attempt."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
