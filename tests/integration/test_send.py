"""Sending end to end: the submit API, RQ workers, a real SMTP sink, a real Dovecot, a real Redis.

Workers run in-process in burst mode (RQ's own test pattern) with a SendPolicy
whose backoff and lease are short, so no test waits for production timings;
the crash test runs a real worker subprocess and kills it mid-send.
"""

from __future__ import annotations

import asyncio
import imaplib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rq import SimpleWorker

from app import create_app
from bridge import jobs
from bridge.config import Secret, Settings
from bridge.errors import NotFound
from bridge.inbound.records import build_record, message_fields, message_key
from bridge.mail import ids
from bridge.mail.message import parse
from bridge.models import Account, ServerConfig
from bridge.outbound import submit as outbound
from bridge.schemas.submit import SubmitBody
from bridge.storage.message_index import from_record
from tests.api.conftest import WatcherThread
from tests.servers.smtp import SmtpSink
from workers import mail
from workers.context import worker_context

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-secret-do-not-use-0123456789"
FAST = outbound.SendPolicy(backoff_base_s=0.2, lease_s=1.0, sweep_interval_s=0.5, grace_s=0.2, smtp_timeout_s=5)


@pytest.fixture
def app(redis_url, tmp_path):
    return create_app(Settings(secret=Secret(SECRET), redis_url=redis_url, data_dir=tmp_path))


@pytest.fixture
def storage(app):
    services = app.extensions["bridge"]
    with worker_context(services.storage, services.settings, send_policy=FAST):
        yield services.storage


def _sending(storage, policy):
    """A worker context with another send policy, for the jobs this test runs directly."""
    return worker_context(storage, Settings(secret=Secret(SECRET)), send_policy=policy)


@pytest.fixture
def auth(storage):
    return {"Authorization": f"Bearer {storage.tokens.create('tests')[1]}"}


@pytest.fixture
def client(app):
    return app.test_client()


def _account(storage, mailbox, sink, account_id="acme") -> Account:
    sink.add_user(mailbox.address, mailbox.password)
    imap = ServerConfig(
        host=mailbox.host,
        port=mailbox.imap_port,
        user=mailbox.address,
        password=Secret(mailbox.password),
        starttls=False,
    )
    smtp = ServerConfig(
        host=sink.host, port=sink.port, user=mailbox.address, password=Secret(mailbox.password), starttls=False
    )
    return storage.accounts.create(Account(id=account_id, email=mailbox.address, name="Acme", imap=imap, smtp=smtp))


@pytest.fixture
def account(storage, mailbox, smtp):
    return _account(storage, mailbox, smtp)


def drain(storage, until, timeout=10.0):
    """Run burst workers (with the scheduler) until ``until()`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        SimpleWorker(jobs.all_queues(storage.redis), connection=storage.redis, serializer="json").work(
            burst=True, with_scheduler=True, logging_level="ERROR"
        )
        if until():
            return
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        time.sleep(0.05)


def drainer_of(storage):
    """The one live drain job's id, or None."""
    found = storage.outbox.drainers(time.time())
    assert len(found) <= 1, found
    return found[0] if found else None


def submit(client, auth, **fields):
    body = {"to": [{"name": "Ann", "address": "ann@example.com"}], "subject": "Hello", "text": "Hi Ann", **fields}
    resp = client.post("/v1/account/acme/submit", json=body, headers=auth)
    assert resp.status_code == 202, resp.json
    return resp.json


def state(storage, queue_id):
    return storage.outbox.get(queue_id).state


def events(storage, name, account="acme"):
    return [e.data for e in storage.events.since(account, 0) if e.event == name]


def imap_flags(mailbox, folder, criterion="ALL"):
    """(flags, raw) of every message in a folder, read with stdlib imaplib."""
    with imaplib.IMAP4(mailbox.host, mailbox.imap_port) as conn:
        conn.login(mailbox.address, mailbox.password)
        conn.select(f'"{folder}"', readonly=True)
        _, data = conn.uid("search", None, criterion)
        out = []
        for uid in data[0].split():
            _, fetched = conn.uid("fetch", uid, "(FLAGS BODY.PEEK[])")
            out.append((fetched[0][0].decode(), fetched[0][1]))
        return out


@pytest.fixture
def watch(storage, dns):
    """Start a real watcher for acme: the API fetches a referenced message through its command connection.

    Started after ``store_inbound`` indexed the message, so the watcher's catch-up finds it already seen.
    """
    started = []

    def start() -> None:
        started.append(WatcherThread(storage, "acme", dns.address).start())

    yield start
    for watcher in started:
        watcher.stop()


def store_inbound(storage, dovecot, mailbox, raw: bytes) -> dict:
    """Deliver a message into the INBOX and store its record, as the watcher would."""
    dovecot.deliver(mailbox.address, raw)
    with imaplib.IMAP4(mailbox.host, mailbox.imap_port) as conn:
        conn.login(mailbox.address, mailbox.password)
        conn.select("INBOX")
        uidvalidity = int(conn.response("UIDVALIDITY")[1][0])
        _, data = conn.uid("search", None, "ALL")
        uid = int(data[0].split()[-1])
    record = build_record(
        message_fields(parse(raw)),
        message_id=message_key("INBOX", uidvalidity, uid),
        account="acme",
        folder="INBOX",
        uid=uid,
        uidvalidity=uidvalidity,
        received_at=datetime.now(UTC),
        conversation_id="conv_original",
    )
    assert storage.messages.save_entries([from_record(record)]) == [True]
    return record


INBOUND = (
    b"From: Bob <bob@example.net>\r\nTo: {to}\r\nCc: carol@example.org\r\nSubject: RE: Aw: Question\r\n"
    b"Message-ID: <q1@example.net>\r\nReferences: <root@example.net>\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"\r\nWhat about it?\r\n"
)


# --- the happy path -------------------------------------------------------------


def test_send_delivers_emits_message_sent_and_files_a_seen_copy(client, auth, account, storage, smtp, mailbox, watch):
    watch()  # the Sent copy is filed on the account's command connection, in the watcher
    answer = submit(client, auth, bcc=[{"address": "hidden@example.com"}])
    drain(storage, lambda: bool(events(storage, "messageFiled")))

    (received,) = smtp.messages
    assert received.mail_from == mailbox.address
    assert set(received.rcpt_tos) == {"ann@example.com", "hidden@example.com"}
    assert answer["messageId"].encode() in received.raw and b"hidden@" not in received.raw

    (sent,) = events(storage, "messageSent")
    assert sent["queueId"] == answer["queueId"] and sent["messageId"] == answer["messageId"]
    assert sent["response"].startswith("250 ")
    entry = client.get(f"/v1/outbox/{answer['queueId']}", headers=auth).json
    assert entry["state"] == "sent" and entry["attempts"] == 1 and entry["response"] == sent["response"]

    # The bounce pipeline can tie the Message-ID back to this submission; replies will thread.
    assert storage.outbox.find_by_message_id("acme", answer["messageId"]).queue_id == answer["queueId"]
    header_id = answer["messageId"].strip("<>")
    assert storage.messages.conversations("acme", [header_id]) == {header_id: sent["conversationId"]}

    ((flags, raw),) = imap_flags(mailbox, "Sent")
    assert "\\Seen" in flags
    assert raw == received.raw  # the bytes that were sent, unchanged
    # Filed: the outbox says where, the copy is indexed in the conversation, and Redis drops the bytes.
    filed = client.get(f"/v1/outbox/{answer['queueId']}", headers=auth).json["sentCopy"]
    assert filed["status"] == "filed" and filed["folder"] == "Sent" and filed["uid"] == 1
    assert sent["sentCopy"] == {"status": "pending"}
    # The outcome follows as its own event, the same as the outbox entry says.
    assert events(storage, "messageFiled") == [
        {"queueId": answer["queueId"], "messageId": answer["messageId"], "sentCopy": filed}
    ]
    assert (ids.decode(filed["id"]).folder, ids.decode(filed["id"]).uid) == ("Sent", 1)
    [copy] = storage.messages.thread("acme", sent["conversationId"])
    assert (copy.folder, copy.uid, copy.direction, copy.message_id) == ("Sent", 1, "sent", answer["messageId"])
    with pytest.raises(NotFound):
        storage.outbox.raw(answer["queueId"])


def test_copy_false_skips_the_sent_folder(client, auth, account, storage, mailbox):
    answer = submit(client, auth, copy=False)
    drain(storage, lambda: state(storage, answer["queueId"]) == "sent")
    assert imap_flags(mailbox, "Sent") == []


@pytest.mark.parametrize(
    "action,flag,subject", [("reply", "\\Answered", "Re: Question"), ("forward", "$Forwarded", "Fwd: RE: Aw: Question")]
)
def test_reply_and_forward_thread_and_flag_the_original(
    client, auth, account, storage, smtp, mailbox, dovecot, watch, action, flag, subject
):
    original = store_inbound(storage, dovecot, mailbox, INBOUND.replace(b"{to}", mailbox.address.encode()))
    watch()
    body = {"reference": {"message": original["id"], "action": action}, "text": "See below"}
    if action == "forward":
        body["to"] = [{"address": "dave@example.com"}]
    resp = client.post("/v1/account/acme/submit", json=body, headers=auth)
    assert resp.status_code == 202, resp.json
    queue_id = resp.json["queueId"]
    drain(storage, lambda: state(storage, queue_id) == "sent" and storage.outbox.get(queue_id).flagged)

    (received,) = smtp.messages
    assert f"Subject: {subject}".encode() in received.raw
    (sent,) = events(storage, "messageSent")
    if action == "reply":
        assert received.rcpt_tos == ("bob@example.net",)
        assert b"In-Reply-To: <q1@example.net>" in received.raw
        assert b"References: <root@example.net> <q1@example.net>" in received.raw
        assert sent["conversationId"] == "conv_original"
    else:
        assert b"Content-Type: message/rfc822" in received.raw and b"What about it?" in received.raw
        assert b"In-Reply-To" not in received.raw
        assert sent["conversationId"] != "conv_original"
    ((flags, _),) = imap_flags(mailbox, "INBOX")
    assert flag in flags


def test_a_message_the_bridge_never_saw_can_be_replied_to_by_its_id(
    client, auth, account, storage, smtp, mailbox, dovecot, watch
):
    # Only on the server (the watcher never indexed it): the id alone says where it is.
    indexed = store_inbound(storage, dovecot, mailbox, INBOUND.replace(b"{to}", mailbox.address.encode()))
    watch()  # its catch-up finds the message already indexed, so it leaves the index alone
    storage.messages.delete_entry("acme", indexed["id"])
    resp = client.post(
        "/v1/account/acme/submit", json={"reference": {"message": indexed["id"], "action": "reply"}, "text": "Hi"},
        headers=auth,
    )  # fmt: skip
    assert resp.status_code == 202, resp.json
    drain(storage, lambda: state(storage, resp.json["queueId"]) == "sent")
    (received,) = smtp.messages
    assert received.rcpt_tos == ("bob@example.net",) and b"In-Reply-To: <q1@example.net>" in received.raw
    gone = ids.encode("INBOX", indexed["uidValidity"], indexed["uid"] + 100)
    resp = client.post(
        "/v1/account/acme/submit", json={"reference": {"message": gone, "action": "reply"}, "text": "Hi"}, headers=auth
    )
    assert resp.status_code == 404 and resp.json["error"]["code"] == "messageNotFound"  # as GET …/message/{id}


def test_reply_all_goes_to_everyone_but_us(client, auth, account, storage, smtp, mailbox, dovecot, watch):
    original = store_inbound(storage, dovecot, mailbox, INBOUND.replace(b"{to}", mailbox.address.encode()))
    watch()
    resp = client.post(
        "/v1/account/acme/submit",
        json={"reference": {"message": original["id"], "action": "replyAll"}, "text": "All"},
        headers=auth,
    )
    drain(storage, lambda: state(storage, resp.json["queueId"]) == "sent")
    assert smtp.messages[0].rcpt_tos == ("bob@example.net", "carol@example.org")


# --- failures -------------------------------------------------------------------


def test_4xx_is_retried_until_the_server_recovers_and_sent_once(client, auth, account, storage, smtp):
    smtp.fail_next(451, "4.3.0 try again later", times=2)
    answer = submit(client, auth)
    queue_id = answer["queueId"]

    drain(storage, lambda: state(storage, queue_id) == "retrying")
    waiting = client.get("/v1/outbox", headers=auth).json["messages"]
    assert [(m["queueId"], m["state"]) for m in waiting] == [(queue_id, "retrying")]
    assert waiting[0]["lastError"]["smtpCode"] == 451 and waiting[0]["nextAttempt"]

    drain(storage, lambda: state(storage, queue_id) == "sent")
    assert len(smtp.messages) == 1
    entry = client.get(f"/v1/outbox/{queue_id}", headers=auth).json
    assert entry["attempts"] == 3 and entry["lastError"]["smtpCode"] == 451
    errors = events(storage, "messageDeliveryError")
    assert [e["attempt"] for e in errors] == [1, 2]
    assert all(e["nextAttempt"] and e["smtpCode"] == 451 for e in errors)
    assert len(events(storage, "messageSent")) == 1 and events(storage, "messageFailed") == []


def test_smtp_down_then_up_is_sent_once_it_recovers(client, auth, account, storage, smtp):
    smtp.stop()
    try:
        answer = submit(client, auth)
        drain(storage, lambda: state(storage, answer["queueId"]) == "retrying")
        error = storage.outbox.get(answer["queueId"]).last_error
        assert error is not None and error.code == "connectFailed" and error.smtp_code is None
    finally:
        smtp.start()
    drain(storage, lambda: state(storage, answer["queueId"]) == "sent")
    assert len(smtp.messages) == 1


def test_5xx_fails_at_once_without_retry(client, auth, account, storage, smtp, redis_client):
    smtp.fail_always(550, "5.1.1 no such user")
    answer = submit(client, auth)
    drain(storage, lambda: state(storage, answer["queueId"]) == "failed")
    entry = storage.outbox.get(answer["queueId"])
    assert entry.attempts == 1 and entry.last_error is not None and entry.last_error.smtp_code == 550
    (failed,) = events(storage, "messageFailed")
    assert failed["queueId"] == answer["queueId"] and failed["smtpCode"] == 550
    assert jobs.queue("send", redis_client).scheduled_job_registry.count == 0
    assert smtp.messages == []


def test_attempts_run_out_with_message_failed(client, auth, account, storage, smtp):
    smtp.fail_always(421, "4.7.0 busy")
    answer = submit(client, auth, deliveryAttempts=2)
    drain(storage, lambda: state(storage, answer["queueId"]) == "failed")
    assert storage.outbox.get(answer["queueId"]).attempts == 2
    assert [e["nextAttempt"] is None for e in events(storage, "messageDeliveryError")] == [False, True]
    assert len(events(storage, "messageFailed")) == 1


# --- scheduling and cancel --------------------------------------------------------


def test_scheduled_send_fires_within_two_seconds_of_send_at(client, auth, account, storage, smtp):
    send_at = datetime.now(UTC) + timedelta(seconds=2)
    answer = submit(client, auth, sendAt=send_at.isoformat())
    drain(storage, lambda: bool(smtp.messages), timeout=8)
    lag = smtp.messages[0].received_at - send_at.timestamp()
    assert 0 <= lag < 2.0, lag
    assert state(storage, answer["queueId"]) == "sent"


def test_a_send_job_started_in_the_second_before_its_time_waits_and_one_far_too_early_does_nothing(
    client, auth, account, storage, smtp
):
    soon = datetime.now(UTC) + timedelta(seconds=0.6)
    near = submit(client, auth, sendAt=soon.isoformat())
    far = submit(client, auth, sendAt=(datetime.now(UTC) + timedelta(seconds=60)).isoformat())
    assert mail.send_message(far["queueId"]) == "skipped:early"
    assert mail.send_message(near["queueId"]) == "sent"  # what RQ starts at the whole second before
    [message] = smtp.messages
    assert message.received_at >= soon.timestamp()  # never early
    assert state(storage, far["queueId"]) == "scheduled"


def test_cancelled_message_is_never_sent(client, auth, account, storage, smtp):
    later = submit(client, auth, sendAt=(datetime.now(UTC) + timedelta(seconds=1)).isoformat())
    now = submit(client, auth)
    assert client.delete(f"/v1/outbox/{later['queueId']}", headers=auth).status_code == 200
    assert client.delete(f"/v1/outbox/{now['queueId']}", headers=auth).status_code == 200
    # A job that starts after the cancel (already dequeued elsewhere) must not send.
    assert mail.send_message(now["queueId"]) == "skipped:cancelled"
    time.sleep(1.2)
    drain(storage, lambda: True)
    assert smtp.messages == []
    assert client.get("/v1/outbox", headers=auth).json["messages"] == []


@pytest.mark.parametrize("when", ["now", "scheduled"])
def test_sweep_requeues_an_entry_whose_job_was_lost(client, auth, account, storage, smtp, redis_client, when):
    # Sent now, the entry waits for the drain job; scheduled, for its own job. Either job may be lost.
    ahead = 1.5 if when == "scheduled" else 0
    later = {"sendAt": (datetime.now(UTC) + timedelta(seconds=ahead)).isoformat()} if ahead else {}
    answer = submit(client, auth, **later)
    job_id = storage.outbox.get(answer["queueId"]).job_id or drainer_of(storage)
    assert job_id.startswith("send-" if when == "scheduled" else "drain-")
    jobs.discard_job(redis_client, job_id)  # e.g. Redis lost the job
    time.sleep(ahead + FAST.grace_s + 0.05)
    assert mail.sweep_outbox() == 1
    drain(storage, lambda: state(storage, answer["queueId"]) == "sent")
    assert len(smtp.messages) == 1


# --- the drain job: first attempts without an RQ job per message -----------------------


def test_messages_sent_now_share_one_drain_job_and_go_out_in_order(client, auth, account, storage, smtp, redis_client):
    answers = [submit(client, auth, subject=f"m{i}") for i in range(5)]
    drainer = drainer_of(storage)
    assert jobs.queue("send", redis_client).job_ids == [drainer]  # one RQ job for all five
    assert all(storage.outbox.get(a["queueId"]).job_id == "" for a in answers)

    drain(storage, lambda: all(state(storage, a["queueId"]) == "sent" for a in answers))
    assert [m.raw.split(b"Subject: ")[1].split(b"\r\n")[0] for m in smtp.messages] == [
        b"m0",
        b"m1",
        b"m2",
        b"m3",
        b"m4",
    ]
    assert len(events(storage, "messageSent")) == 5
    assert drainer_of(storage) is None and storage.outbox.ready_count() == 0  # the mark ends with the list
    # The next submission finds no drainer and starts one.
    later = submit(client, auth)
    assert drainer_of(storage) not in (None, drainer)
    drain(storage, lambda: state(storage, later["queueId"]) == "sent")


def test_a_drain_job_past_its_budget_hands_over_to_a_new_one(client, auth, account, storage, smtp, redis_client):
    answers = [submit(client, auth) for _ in range(3)]
    first = drainer_of(storage)
    with _sending(storage, replace(FAST, drain_budget_s=0)):  # hand over after every send
        assert mail.drain_outbox(first) == 1
    second = drainer_of(storage)
    assert second != first and jobs.queue("send", redis_client).job_ids[-1] == second
    drain(storage, lambda: all(state(storage, a["queueId"]) == "sent" for a in answers))
    assert len(smtp.messages) == 3 and drainer_of(storage) is None


def test_a_backlog_brings_in_a_helper_drain_job_up_to_the_limit(client, auth, account, storage, smtp, redis_client):
    answers = [submit(client, auth) for _ in range(6)]
    first = drainer_of(storage)
    # Claiming the first leaves five waiting: a helper is marked and queued; the next claim adds none (limit 2).
    with _sending(storage, replace(FAST, drainers=2, helper_backlog=3, drain_budget_s=0)):
        assert mail.drain_outbox(first) == 1
    queued = jobs.queue("send", redis_client).job_ids
    assert len(queued) == 3 and queued[0] == first  # (run directly here, still queued), its helper, its successor
    assert len(storage.outbox.drainers(time.time())) == 2
    drain(storage, lambda: all(state(storage, a["queueId"]) == "sent" for a in answers))
    assert len(smtp.messages) == 6 and storage.outbox.drainers(time.time()) == []


def test_sweep_leaves_ready_entries_to_a_live_drain_job(client, auth, account, storage, smtp):
    answer = submit(client, auth)
    time.sleep(FAST.grace_s + 0.05)
    assert mail.sweep_outbox() == 0  # the drain job is queued: the entry is waiting, not lost
    drain(storage, lambda: state(storage, answer["queueId"]) == "sent")
    assert len(smtp.messages) == 1


def test_stale_ready_ids_are_dropped_and_an_idle_drain_releases_its_mark(client, auth, account, storage, smtp):
    # A cancelled entry and one a sweep job already sent stay on the ready list until a drain pops them.
    cancelled, swept, kept = (submit(client, auth) for _ in range(3))
    assert client.delete(f"/v1/outbox/{cancelled['queueId']}", headers=auth).status_code == 200
    assert mail.send_message(swept["queueId"]) == "sent"
    drainer = drainer_of(storage)
    assert mail.drain_outbox(drainer) == 1
    assert state(storage, kept["queueId"]) == "sent" and state(storage, cancelled["queueId"]) == "cancelled"
    assert len(smtp.messages) == 2 and drainer_of(storage) is None
    assert mail.drain_outbox(drainer) == 0  # a duplicate drain job finds nothing and touches nothing


def test_idempotent_submit_sent_now_is_queued_once(client, auth, account, storage, smtp):
    headers = {**auth, "Idempotency-Key": "order-1"}
    body = {"to": [{"address": "ann@example.com"}], "subject": "once", "text": "x"}
    first = client.post("/v1/account/acme/submit", json=body, headers=headers)
    again = client.post("/v1/account/acme/submit", json=body, headers=headers)
    other = client.post("/v1/account/acme/submit", json={**body, "text": "y"}, headers=headers)
    assert first.status_code == again.status_code == 202 and first.json == again.json
    assert again.headers["Idempotent-Replayed"] == "true" and other.status_code == 409
    assert storage.outbox.ready_count() == 1
    drain(storage, lambda: state(storage, first.json["queueId"]) == "sent")
    assert len(smtp.messages) == 1


# --- crash safety -------------------------------------------------------------------

WORKER = """
import sys
from bridge import jobs
from bridge.config import Secret, Settings
from bridge.crypto import Vault
from bridge.outbound.submit import SendPolicy
from bridge.storage import Storage, connect
from workers.context import worker_context

storage = Storage(connect(sys.argv[1]), Vault(sys.argv[2]))
settings = Settings(secret=Secret(sys.argv[2]), redis_url=sys.argv[1])
policy = SendPolicy(backoff_base_s=0.2, lease_s=1.0, sweep_interval_s=0.5, grace_s=0.2)
with worker_context(storage, settings, send_policy=policy):
    jobs.run_worker(storage.redis)
"""


class SlowSink(SmtpSink):
    """The SMTP sink, made to stall at one stage so a worker can be killed in the middle of a send."""

    def __init__(self) -> None:
        super().__init__()
        self.stall: dict[str, float] = {}
        self.stalled = threading.Event()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        await self._maybe_stall("rcpt")
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server, session, envelope):
        await self._maybe_stall("data")
        return await super().handle_DATA(server, session, envelope)

    async def _maybe_stall(self, stage):
        delay = self.stall.pop(stage, 0)
        if delay:
            self.stalled.set()
            await asyncio.sleep(delay)


def _start_worker(redis_url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, redis_url, SECRET],
        cwd=ROOT,
        env=env,
        start_new_session=True,  # its own group, so the test can stop everything it started
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _end(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_worker_killed_mid_send_loses_nothing(storage, mailbox, redis_url, stage):
    # Killed before DATA: nothing was delivered, and the restarted worker sends exactly once.
    # Killed while the server holds DATA: it may count as delivered; the resend is flagged possibleDuplicate.
    sink = SlowSink()
    sink.start()
    try:
        _account(storage, mailbox, sink)
        sink.stall[stage] = 3.0
        body = SubmitBody.model_validate({"to": [{"address": "ann@example.com"}], "subject": "x", "text": "y"})
        # Three ready messages for one drain job: it dies on the first, the other two are still on the list.
        queue_id, *others = (outbound.submit(storage, "acme", body, policy=FAST).answer["queueId"] for _ in range(3))

        worker = _start_worker(redis_url)
        try:
            assert sink.stalled.wait(15), "the worker never reached the SMTP server"
            assert state(storage, queue_id) == "sending"
        finally:
            _end(worker, signal.SIGKILL)
        assert state(storage, queue_id) == "sending"  # nothing recorded it as sent

        time.sleep(FAST.lease_s + FAST.grace_s)  # the dead worker's lease runs out
        restarted = _start_worker(redis_url)
        try:
            sink.wait_for(3, timeout=15)
            deadline = time.monotonic() + 10
            while any(state(storage, q) != "sent" for q in (queue_id, *others)) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            _end(restarted, signal.SIGTERM)

        entry = storage.outbox.get(queue_id)
        assert entry.state == "sent" and entry.attempts == 2
        assert [(state(storage, q), storage.outbox.get(q).attempts) for q in others] == [("sent", 1)] * 2
        if stage == "rcpt":
            assert len(sink.messages) == 3 and not entry.possible_duplicate
        else:
            time.sleep(3.0)  # the stalled first DATA completes on the sink side
            assert 3 <= len(sink.messages) <= 4 and entry.possible_duplicate
    finally:
        sink.stop()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_worker_asked_to_stop_during_data_finishes_that_send_and_hands_over_the_rest(
    storage, mailbox, redis_url, signum
):
    # A stop interrupts a job still running 2 s later (bridge.jobs.STOP_GRACE_S), but not between DATA and
    # recording the send: cut there, the server keeps the message and the retry would deliver it twice.
    sink = SlowSink()
    sink.start()
    try:
        _account(storage, mailbox, sink)
        sink.stall["data"] = 3.0  # longer than the grace
        body = SubmitBody.model_validate({"to": [{"address": "ann@example.com"}], "subject": "x", "text": "y"})
        queue_id, *others = (outbound.submit(storage, "acme", body, policy=FAST).answer["queueId"] for _ in range(3))

        worker = _start_worker(redis_url)
        try:
            assert sink.stalled.wait(15), "the worker never reached the SMTP server"
            os.killpg(worker.pid, signum)
            assert worker.wait(timeout=10) == 0
        finally:
            _end(worker, signal.SIGKILL)
        entry = storage.outbox.get(queue_id)
        assert (entry.state, entry.attempts, entry.possible_duplicate) == ("sent", 1, False)
        assert len(sink.messages) == 1  # the stopping worker started no other send
        assert [state(storage, q) for q in others] == ["queued", "queued"]

        restarted = _start_worker(redis_url)  # the handed-over drain job sends the rest, once each
        try:
            sink.wait_for(3, timeout=15)
            deadline = time.monotonic() + 10
            while any(state(storage, q) != "sent" for q in others) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            _end(restarted, signal.SIGTERM)
        assert [(state(storage, q), storage.outbox.get(q).attempts) for q in others] == [("sent", 1)] * 2
        assert len(sink.messages) == 3
    finally:
        sink.stop()
