"""The inbound pipeline's batch commit against a real Redis (and the test DNS server).

The watcher hands the pipeline whole FETCH batches; the pipeline commits runs
of analysed messages together. These tests call it the way the watcher does,
without an IMAP server, to pin down what a batch commit must keep: UID order,
threading inside one batch, the policy gate per message, and exactly-once
emission across a crash between storing and publishing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime

import psutil
import pytest

from bridge import keys
from bridge.config import Secret
from bridge.crypto import Vault
from bridge.inbound.pipeline import InboundPipeline
from bridge.inbound.pool import AnalysisPool, ResolverSpec
from bridge.inbound.records import message_key
from bridge.models import Account, FetchedMessage, ServerConfig
from bridge.review import holds
from bridge.review.links import LinkAction
from bridge.schemas.policy import Policy
from bridge.senderauth.resolver import DnsResolver
from bridge.storage import Storage
from bridge.storage.message_index import from_record
from bridge.storage.outbox_records import OutboxEntry

UIDVALIDITY = 7


def fetched(uid: int, *, extra: str = "", subject: str | None = None) -> FetchedMessage:
    raw = (
        f"From: Sender <sender{uid}@example.test>\r\nTo: user@example.test\r\n"
        f"Subject: {subject or f'message {uid}'}\r\nMessage-ID: <m{uid}@example.test>\r\n"
        f"Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n{extra}\r\nbody {uid}\r\n"
    ).encode()
    return FetchedMessage(uid=uid, flags=(), internal_date=None, raw=raw)


@pytest.fixture
def storage(redis_client) -> Storage:
    return Storage(redis_client, Vault("pipeline-test-secret-0123456789"))


@pytest.fixture
def account(storage) -> Account:
    imap = ServerConfig(host="127.0.0.1", port=1, user="u", password=Secret("p"), starttls=False)
    return storage.accounts.create(Account(id="acme", email="user@example.test", imap=imap, watch=("INBOX",)))


@pytest.fixture(params=["threads", "processes"])
def pipeline(request, storage, dns):
    """Both ways of analysing: the watcher's threads, and worker processes (here for any batch)."""
    with ThreadPoolExecutor(4) as executor, contextlib.ExitStack() as stack:
        pool = None
        if request.param == "processes":
            pool = stack.enter_context(AnalysisPool(ResolverSpec([dns.address], 1.0), min_batch=1))
            wait_available(pool)
        yield InboundPipeline(storage, DnsResolver([dns.address], timeout=1.0), executor, pool=pool)


def test_the_first_big_batch_is_analysed_on_threads_while_the_workers_start(storage, account, dns):
    with ThreadPoolExecutor(4) as executor, AnalysisPool(ResolverSpec([dns.address], 1.0), min_batch=2) as pool:
        pipeline = InboundPipeline(storage, DnsResolver([dns.address], timeout=1.0), executor, pool=pool)
        asyncio.run(pipeline.messages(account, "INBOX", UIDVALIDITY, [fetched(1), fetched(2)]))
        assert pool.running and pool.chunks_done == 0
        wait_available(pool)
        asyncio.run(pipeline.messages(account, "INBOX", UIDVALIDITY, [fetched(3)]))  # below min_batch
        assert pool.chunks_done == 0
        asyncio.run(pipeline.messages(account, "INBOX", UIDVALIDITY, [fetched(4), fetched(5)]))
        assert pool.chunks_done == 1
        assert [m["uid"] for m in new_messages(storage)] == [1, 2, 3, 4, 5]


def test_workers_that_cannot_start_leave_analysis_on_threads(storage, account, dns, caplog):
    broken = ResolverSpec(servers=5, timeout=1.0)  # type: ignore[arg-type]  # the workers' initializer raises
    with ThreadPoolExecutor(4) as executor, AnalysisPool(broken, min_batch=1) as pool:
        pipeline = InboundPipeline(storage, DnsResolver([dns.address], timeout=1.0), executor, pool=pool)
        deadline = time.monotonic() + 30
        while pool.available() is False and pool.running:
            assert time.monotonic() < deadline, "the broken start was not noticed"
            time.sleep(0.05)
        assert not pool.running and not pool.available()
        assert "analysis workers failed to start" in caplog.text
        asyncio.run(pipeline.messages(account, "INBOX", UIDVALIDITY, [fetched(1), fetched(2)]))
        assert [m["uid"] for m in new_messages(storage)] == [1, 2]


def new_messages(storage: Storage) -> list[dict]:
    return [e.data for e in storage.events.since("acme", 0, count=1000) if e.event == "messageNew"]


def test_a_batch_is_emitted_in_uid_order_once_and_replies_join_their_thread(storage, account, pipeline):
    batch = [
        fetched(1),
        fetched(2),
        fetched(3, extra="In-Reply-To: <m1@example.test>\r\n"),
        fetched(4, extra="References: <m1@example.test> <m3@example.test>\r\n"),
    ]
    asyncio.run(pipeline.messages(account, "INBOX", UIDVALIDITY, batch))
    emitted = new_messages(storage)
    assert [m["uid"] for m in emitted] == [1, 2, 3, 4]
    conversation = {m["uid"]: m["conversationId"] for m in emitted}
    assert conversation[3] == conversation[4] == conversation[1] != conversation[2]
    assert storage.mailstate.emitted("acme", [m["id"] for m in emitted]) == {m["id"] for m in emitted}

    asyncio.run(pipeline.messages(account, "INBOX", UIDVALIDITY, batch))  # fetched again: nothing new
    assert len(new_messages(storage)) == 4


def test_a_message_indexed_before_a_crash_is_emitted_once_keeping_its_conversation(storage, account, pipeline):
    batch = [fetched(1), fetched(2), fetched(3)]
    # A run that crashed after indexing message 2 but before publishing anything.
    [earlier] = pipeline.analyse(account, [(batch[1], _id(batch[1]))])
    [record] = pipeline._build(account, "INBOX", UIDVALIDITY, [earlier])
    entry = replace(from_record(record.to_json()), conversation_id="conv_before_the_crash")
    assert storage.messages.save_entries([entry]) == [True]

    asyncio.run(pipeline.messages(account, "INBOX", UIDVALIDITY, batch))
    emitted = new_messages(storage)
    assert [m["uid"] for m in emitted] == [1, 2, 3]
    assert emitted[1]["conversationId"] == "conv_before_the_crash"
    assert emitted[1]["text"] == record.content["text"]  # the body comes from the fetched bytes, not Redis


def test_the_gate_keeps_a_rejected_message_of_a_batch_back_and_audits_every_one(storage, account, pipeline):
    guard = {"pattern": "QUARANTINE", "action": "reject"}
    storage.policies.put("acme", Policy.model_validate({"inbound": {"contentGuards": [guard]}}))
    batch = [fetched(1), fetched(2, subject="QUARANTINE me"), fetched(3)]
    asyncio.run(pipeline.messages(account, "INBOX", UIDVALIDITY, batch))
    assert [m["uid"] for m in new_messages(storage)] == [1, 3]
    rejected = storage.messages.entry("acme", _id(batch[1])).to_json()
    assert rejected["policy"]["action"] == "reject"
    audit, _ = storage.audit.page("acme", limit=10, before=None, since_ms=0)
    assert sorted(r.decision for r in audit) == sorted(["delivered", "delivered", rejected["policy"]["decision"]])
    # The held-back message counts as handled: fetching the batch again emits and audits nothing more.
    asyncio.run(pipeline.messages(account, "INBOX", UIDVALIDITY, batch))
    assert len(new_messages(storage)) == 2
    assert len(storage.audit.page("acme", limit=10, before=None, since_ms=0)[0]) == 3


def test_a_dead_analysis_worker_costs_no_message_and_idle_workers_stop(storage, account, dns):
    spec = ResolverSpec([dns.address], 1.0)
    with ThreadPoolExecutor(4) as executor, AnalysisPool(spec, min_batch=2, idle_s=0.5) as pool:
        pipeline = InboundPipeline(storage, DnsResolver([dns.address], timeout=1.0), executor, pool=pool)
        wait_available(pool)
        asyncio.run(pipeline.messages(account, "INBOX", UIDVALIDITY, [fetched(1), fetched(2)]))
        assert pool.chunks_done == 1, "the batch was analysed in a worker process"
        workers = _workers()
        assert workers
        for worker in workers:
            worker.kill()
        psutil.wait_procs(workers, timeout=5)
        asyncio.run(pipeline.messages(account, "INBOX", UIDVALIDITY, [fetched(3), fetched(4), fetched(5)]))
        assert [m["uid"] for m in new_messages(storage)] == [1, 2, 3, 4, 5]
        deadline = time.monotonic() + 10
        while pool.running and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not pool.running
        psutil.wait_procs(_workers(), timeout=5)
        assert _workers() == []


def wait_available(pool: AnalysisPool) -> None:
    deadline = time.monotonic() + 30
    while not pool.available():
        assert time.monotonic() < deadline, "analysis workers did not start"
        time.sleep(0.05)


def _workers() -> list[psutil.Process]:
    """This process's spawned multiprocessing workers (not its resource tracker)."""
    return [p for p in psutil.Process().children() if any("spawn_main" in part for part in p.cmdline())]


def _id(message: FetchedMessage) -> str:
    return message_key("INBOX", UIDVALIDITY, message.uid)


def _dsn(original_id: str, failed: str) -> bytes:
    """A Postfix-style RFC 3464 report: ``failed`` is unknown (5.1.1, a hard bounce)."""
    b = "bounce-boundary"
    return (
        f"From: MAILER-DAEMON@mx.example.net\r\nTo: user@example.test\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@mx.example.net>\r\n"
        f"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{b}"\r\n\r\n'
        f"--{b}\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\r\n"
        f"--{b}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{failed}>: Recipient address rejected: User unknown\r\n\r\n"
        f"--{b}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: user@example.test\r\nTo: {failed}\r\nSubject: Hello\r\nMessage-ID: <{original_id}>\r\n\r\n"
        f"--{b}--\r\n"
    ).encode()


def test_a_held_bounce_approved_later_is_tied_to_its_submission_and_suppresses(storage, account, pipeline):
    # Our earlier submission, whose Message-ID the bounce quotes.
    entry = OutboxEntry.queued(
        queue_id="q0123456789abcdef", account="acme", message_id="<orig1@example.test>", subject="Hello",
        envelope_from="user@example.test", envelope_to=["ghost@example.org"], send_at=None, now=datetime.now(UTC),
        max_attempts=1, copy=False, smtputf8=False, conversation_id="conv_x", reference=None,
    )  # fmt: skip
    storage.outbox.create(entry, b"raw", idempotency=None, answer={}, schedule=lambda pipe: None, sweep_ttl=45.0)
    guard = {"pattern": "Undelivered Mail", "action": "hold"}
    storage.policies.put("acme", Policy.model_validate({"inbound": {"contentGuards": [guard]}}))
    bounce = FetchedMessage(uid=1, flags=(), internal_date=None, raw=_dsn("orig1@example.test", "ghost@example.org"))
    asyncio.run(pipeline.messages(account, "INBOX", UIDVALIDITY, [bounce]))
    assert new_messages(storage) == []  # held
    assert storage.suppressions.suppressed("acme", ["ghost@example.org"]) == []

    review_id = storage.messages.entry("acme", _id(bounce)).policy.review_id
    now = datetime.now(UTC)
    assert holds.decide(storage, review_id, LinkAction.APPROVE, by="test", now=now).status == "ok"

    names = [e.event for e in storage.events.since("acme", 0, count=100) if e.event.startswith("message")]
    assert names == ["messageNew", "messageBounce"]
    [report] = [e.data for e in storage.events.since("acme", 0, count=100) if e.event == "messageBounce"]
    assert report["queueId"] == "q0123456789abcdef"
    assert report["bounceMessage"] == _id(bounce)
    assert storage.suppressions.suppressed("acme", ["ghost@example.org"]) == ["ghost@example.org"]


def test_a_hold_publishes_in_uid_order_and_is_announced_again_after_a_crash_before_publishing(
    storage, account, pipeline, redis_client
):
    guard = {"pattern": "HOLD", "action": "hold"}
    storage.policies.put("acme", Policy.model_validate({"inbound": {"contentGuards": [guard]}}))
    batch = [fetched(1), fetched(2, subject="HOLD me"), fetched(3)]
    asyncio.run(pipeline.messages(account, "INBOX", UIDVALIDITY, batch))

    def names() -> list[tuple[str, str]]:
        found = storage.events.since("acme", 0, count=100)
        return [(e.event, e.data.get("id") or e.data.get("messageId")) for e in found]

    # reviewPending in its message's place: UID order, as the inbound stream promises.
    assert names() == [("messageNew", _id(batch[0])), ("reviewPending", _id(batch[1])), ("messageNew", _id(batch[2]))]

    # A crash after the hold was opened and indexed but before anything was published:
    # no events, no "emitted" marks. The batch is fetched again.
    redis_client.delete(keys.events("acme"))
    redis_client.zrem(keys.message_index("acme"), *[_id(m) for m in batch])
    asyncio.run(pipeline.messages(account, "INBOX", UIDVALIDITY, batch))
    assert names() == [("messageNew", _id(batch[0])), ("reviewPending", _id(batch[1])), ("messageNew", _id(batch[2]))]
    assert len(storage.reviews.pending(10)) == 1
    asyncio.run(pipeline.messages(account, "INBOX", UIDVALIDITY, batch))  # and once only
    assert len(names()) == 3
