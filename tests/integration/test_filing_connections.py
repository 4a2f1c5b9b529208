"""Filing after a send uses the account's watcher, never a login of its own (issue 14, parts 4 and 6).

Real parts: Dovecot, the SMTP sink, Redis, a watcher thread, burst RQ workers. The Sent copy and the
reply's \\Answered go through the watcher's command connection (the ``fileSent`` mailbox command);
with no watcher the filing job waits for RQ's retry, and the message is never sent again.
Logins are counted in Dovecot's own log (``DovecotServer.logins``: one line per IMAP login), so no
short-lived session can slip between two samples of ``doveadm who``.
"""

from __future__ import annotations

import imaplib
import logging

import pytest
from rq.job import Job
from rq.registry import ScheduledJobRegistry

from bridge import jobs
from tests.api.conftest import WatcherThread
from tests.integration import test_send as send
from tests.integration.test_send import INBOUND, _account, drain, events, imap_flags, state, store_inbound, submit

# test_send's fixtures: the app and its storage (in a worker context with a fast send policy), a token.
app, storage, auth, client = send.app, send.storage, send.auth, send.client


@pytest.fixture
def account(storage, mailbox, smtp):
    return _account(storage, mailbox, smtp)


def test_sends_with_copies_and_replies_keep_the_account_at_idle_plus_its_command_pool(
    client, auth, account, storage, smtp, mailbox, dovecot, dns
):
    originals = [
        store_inbound(storage, dovecot, mailbox, INBOUND.replace(b"<q1@", f"<q{n}@".encode()).replace(
            b"{to}", mailbox.address.encode()))
        for n in range(3)
    ]  # fmt: skip
    before = dovecot.logins(mailbox.address)
    watcher = WatcherThread(storage, "acme", dns.address).start()
    try:
        with dovecot.sampling_sessions(mailbox.address) as counts:
            queued = [submit(client, auth, subject=f"plain {n}")["queueId"] for n in range(3)]
            for original in originals:
                body = {"reference": {"message": original["id"], "action": "reply"}, "text": "Yes"}
                resp = client.post("/v1/account/acme/submit", json=body, headers=auth)
                assert resp.status_code == 202, resp.json
                queued.append(resp.json["queueId"])
            drain(storage, lambda: len(events(storage, "messageFiled")) == 6, timeout=30)
    finally:
        watcher.stop()
    assert counts and max(counts) <= 2, counts  # IDLE + BRIDGE_IMAP_COMMAND_CONNECTIONS (1)
    # The IDLE connection and one command connection, however many sends, copies and flags.
    assert dovecot.logins(mailbox.address) - before == 2
    assert all(state(storage, q) == "sent" for q in queued) and len(smtp.messages) == 6

    # Seen by a second IMAP client: each copy once, \Seen; each replied message \Answered.
    filed = imap_flags(mailbox, "Sent")
    assert sorted(raw for _, raw in filed) == sorted(m.raw for m in smtp.messages)
    assert all("\\Seen" in flags for flags, _ in filed)
    inbox = imap_flags(mailbox, "INBOX")
    assert len(inbox) == 3 and all("\\Answered" in flags for flags, _ in inbox)
    by_queue = {e["queueId"]: e for e in events(storage, "messageFiled")}
    assert {e["sentCopy"]["status"] for e in by_queue.values()} == {"filed"}
    assert [by_queue[q].get("flagged") for q in queued] == [None] * 3 + [True] * 3


def _sent_without_a_watcher(client, auth, storage) -> tuple[str, Job]:
    """Submit and send with no watcher running: (the queue id, the filing job RQ scheduled to retry)."""
    queue_id = submit(client, auth)["queueId"]
    drain(storage, lambda: state(storage, queue_id) == "sent")
    default = jobs.queue("default", storage.redis)
    scheduled = [default.fetch_job(j) for j in ScheduledJobRegistry(queue=default).get_job_ids()]
    [job] = [j for j in scheduled if j is not None and j.args == [queue_id]]
    return queue_id, job


def _retry_now(storage, job: Job, dns=None) -> None:
    """Run the scheduled retry now rather than in 10 s (with a watcher for the account when ``dns`` is given)."""
    default = jobs.queue("default", storage.redis)
    ScheduledJobRegistry(queue=default).remove(job)
    watcher = WatcherThread(storage, "acme", dns.address).start() if dns is not None else None
    try:
        default.enqueue_job(job)
        drain(storage, lambda: bool(events(storage, "messageFiled")))
    finally:
        if watcher is not None:
            watcher.stop()


def test_without_a_watcher_filing_waits_for_the_retry_and_never_logs_in_or_sends_twice(
    client, auth, account, storage, smtp, mailbox, dovecot, dns, caplog
):
    before = dovecot.logins(mailbox.address)
    # No watcher holds the account: the job answered accountUnavailable and RQ scheduled its retry.
    with caplog.at_level(logging.INFO):
        queue_id, job = _sent_without_a_watcher(client, auth, storage)
    assert job.number_of_retries == 1 and job.retries_left == 5  # an expected retry, not a failure
    # An expected wait is one warning line, without a traceback, and no error (RQ's included).
    [waiting] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert waiting.levelno == logging.WARNING and waiting.exc_info is None and "\n" not in waiting.getMessage()
    assert queue_id in waiting.getMessage() and "no watcher holds it" in waiting.getMessage()
    assert dovecot.logins(mailbox.address) == before  # the worker logged in to nothing
    entry = storage.outbox.get(queue_id)
    assert entry.sent_copy is None and storage.outbox.raw(queue_id)  # nothing recorded, bytes kept
    assert events(storage, "messageFiled") == [] and len(smtp.messages) == 1

    # As if the first try had APPENDed and only its answer was lost: the retry must not file a second copy.
    with imaplib.IMAP4(mailbox.host, mailbox.imap_port) as conn:
        conn.login(mailbox.address, mailbox.password)
        assert conn.append("Sent", "(\\Seen)", None, storage.outbox.raw(queue_id))[0] == "OK"
    _retry_now(storage, job, dns)
    [filed] = events(storage, "messageFiled")
    assert filed["sentCopy"]["status"] == "filed" and filed["sentCopy"]["uid"] == 1
    assert len(imap_flags(mailbox, "Sent")) == 1 and len(smtp.messages) == 1
    assert state(storage, queue_id) == "sent" and storage.outbox.get(queue_id).attempts == 1


def test_a_retry_files_the_copy_once_the_watcher_is_back(client, auth, account, storage, smtp, mailbox, dns):
    _, job = _sent_without_a_watcher(client, auth, storage)
    _retry_now(storage, job, dns)
    [filed] = events(storage, "messageFiled")
    assert filed["sentCopy"]["status"] == "filed"
    ((flags, raw),) = imap_flags(mailbox, "Sent")
    assert "\\Seen" in flags and raw == smtp.messages[0].raw


def test_the_last_try_without_a_watcher_says_the_copy_was_skipped_and_why(client, auth, account, storage, smtp, caplog):
    queue_id, job = _sent_without_a_watcher(client, auth, storage)
    job.number_of_retries = 5  # its retries are used up: this is the last try
    job.save()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        _retry_now(storage, job)
    # The failure for good is the one error, a line without a traceback.
    [error] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert error.levelno == logging.ERROR and error.exc_info is None and queue_id in error.getMessage()

    [filed] = events(storage, "messageFiled")
    copy = filed["sentCopy"]
    assert copy["status"] == "skipped" and copy["reason"].startswith("accountUnavailable: ")
    assert storage.outbox.get(queue_id).sent_copy == copy
    with pytest.raises(Exception, match="gone"):
        storage.outbox.raw(queue_id)  # given up: Redis does not keep the body
    assert state(storage, queue_id) == "sent" and len(smtp.messages) == 1
