"""The watcher against a real Dovecot: IDLE, catch-up, resets, outages, bad mail.

Mail "arrives" through Dovecot's LMTP (as from a real MTA) or, while Dovecot
is down, straight into the Maildir. Events are read back from the account's
Redis stream, which is what webhooks and WebSockets are fed from.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aioimaplib
import pytest

from bridge import keys
from bridge.crypto import Vault
from bridge.imap.runner import LeaseTiming, WatcherService
from bridge.inbound.pipeline import InboundPipeline
from bridge.models import ConnectionState
from bridge.senderauth.resolver import DnsResolver
from bridge.storage import Storage
from tests.servers.dovecot import imap_logout
from tests.servers.tcp_proxy import FaultProxy
from tests.watcher_support import FAST, Running, events, mail, make_account, until

CORPORA = Path(__file__).resolve().parents[1] / "corpora"


async def recreate_folder(mailbox, folder: str) -> None:
    """Delete and create a folder: the server gives it a new UIDVALIDITY (RFC 3501 § 2.3.1.1)."""
    client = aioimaplib.IMAP4(mailbox.host, mailbox.imap_port)
    await client.wait_hello_from_server()
    await client.login(mailbox.address, mailbox.password)
    assert (await client.delete(folder)).result == "OK"
    assert (await client.create(folder)).result == "OK"
    await imap_logout(client)


@pytest.fixture
def storage(redis_client) -> Storage:
    return Storage(redis_client, Vault("watcher-test-secret-0123456789"))


@pytest.fixture
def pipeline(storage, dns):
    with ThreadPoolExecutor(4) as executor:
        yield InboundPipeline(storage, DnsResolver([dns.address], timeout=1.0), executor)


async def test_new_mail_is_parsed_verified_and_emitted(storage, pipeline, mailbox, dovecot):
    account = make_account(storage, mailbox)
    run = Running(account, pipeline, storage)
    await run.start()
    try:
        dovecot.deliver(mailbox.address, mail(1, to=mailbox.address))
        [event] = await until(lambda: events(storage), what="messageNew")
        data = event.data
        assert data["subject"] == "message 1"
        assert data["from"] == {"name": "Sender", "address": "sender@example.test"}
        assert data["messageId"] == "m1@example.test"
        assert data["folder"] == "INBOX" and data["uid"] == 1
        assert data["auth"]["verified"] is False
        assert data["auth"]["fromDomain"] == "example.test"
        assert data["text"].strip() == "body 1"
        entry = storage.messages.entry("acme", data["id"])
        assert entry is not None and entry.size == data["size"] and entry.message_id == data["messageId"]
        assert storage.accounts.get_state("acme").state is ConnectionState.CONNECTED
        assert [e.event for e in events(storage, name=None)][:1] == ["accountConnected"]
    finally:
        await run.stop()


async def test_new_account_starts_at_uidnext_and_backfill_takes_the_last_n(storage, pipeline, mailbox, dovecot):
    for n in range(5):
        dovecot.deliver(mailbox.address, mail(n))
    run = Running(make_account(storage, mailbox), pipeline, storage)
    await run.start()
    await asyncio.sleep(0.3)
    await run.stop()
    assert events(storage) == []

    storage.accounts.delete("acme")
    storage.mailstate.forget_account("acme", ["INBOX"])
    run = Running(make_account(storage, mailbox, backfill=2), pipeline, storage)
    await run.start()
    try:
        found = await until(lambda: len(events(storage)) >= 2 and events(storage), what="backfill")
        await asyncio.sleep(0.3)
        assert [e.data["subject"] for e in events(storage)] == ["message 3", "message 4"]
    finally:
        await run.stop()
    assert len(found) == 2


async def test_mail_that_arrived_while_stopped_is_emitted_once_on_restart(storage, pipeline, mailbox, dovecot):
    account = make_account(storage, mailbox)
    run = Running(account, pipeline, storage)
    await run.start()
    dovecot.deliver(mailbox.address, mail(1))
    await until(lambda: len(events(storage)) == 1)
    await run.stop()
    for n in (2, 3, 4):
        dovecot.deliver(mailbox.address, mail(n))
    run = Running(account, pipeline, storage)
    await run.start()
    try:
        await until(lambda: len(events(storage)) == 4, what="catch-up")
        await asyncio.sleep(0.5)
        assert [e.data["subject"] for e in events(storage)] == [f"message {n}" for n in (1, 2, 3, 4)]
    finally:
        await run.stop()


async def test_dovecot_down_while_mail_arrives_every_message_exactly_once(storage, pipeline, mailbox, dovecot):
    run = Running(make_account(storage, mailbox), pipeline, storage)
    await run.start()
    try:
        dovecot.deliver(mailbox.address, mail(1))
        await until(lambda: len(events(storage)) == 1)
        dovecot.stop()
        await until(lambda: storage.accounts.get_state("acme").state is ConnectionState.CONNECT_ERROR, what="error")
        for n in (2, 3):
            dovecot.append_offline(mailbox.address, "INBOX", mail(n))
        await asyncio.sleep(0.5)  # the watcher keeps retrying against a dead server
        dovecot.start()
        dovecot.deliver(mailbox.address, mail(4))
        await until(lambda: len(events(storage)) >= 4, timeout=15, what="all four after restart")
        await asyncio.sleep(1.0)
        subjects = [e.data["subject"] for e in events(storage)]
        assert sorted(subjects) == [f"message {n}" for n in (1, 2, 3, 4)]
        assert storage.accounts.get_state("acme").state is ConnectionState.CONNECTED
        names = [e.event for e in events(storage, name=None)]
        assert "connectError" in names and names.count("accountConnected") >= 2
    finally:
        await run.stop()


async def test_a_server_that_says_bye_then_closes_is_left_without_waiting_for_idle_to_end(
    storage, pipeline, mailbox, dovecot
):
    """BYE during IDLE, then silence and a closed socket: aioimaplib never completes the IDLE
    command, so a watcher that waits for IDLE to end (and not for the loss) hangs 10 s."""
    relay = FaultProxy(mailbox.imap_port)
    await relay.start()
    run = Running(make_account(storage, mailbox, port=relay.port), pipeline, storage)
    await run.start()
    try:
        await relay.shut_down_clients(close_after_s=0.5)
        await until(lambda: len(events(storage, name="accountConnected")) >= 2, what="reconnect")
        dovecot.deliver(mailbox.address, mail(1))
        await until(lambda: len(events(storage)) == 1, what="mail after the reconnect")
    finally:
        await run.stop()
        await relay.close()


async def test_a_connection_lost_in_the_middle_of_a_command_is_a_reconnect(storage, pipeline, mailbox, dovecot):
    """A dropped link while SELECT waits for its answer: the watcher reconnects (it used to read
    the cancelled command's result, raise InvalidStateError and end the account's watch)."""
    relay = FaultProxy(mailbox.imap_port)
    await relay.start()
    await relay.cut_on(b"SELECT", once=True, close_after_s=0.2)
    run = Running(make_account(storage, mailbox, port=relay.port), pipeline, storage)
    await run.start(wait_ready=False)
    try:
        await until(lambda: len(events(storage, name="accountConnected")) >= 2, what="reconnect")
        [error] = [e.data["error"] for e in events(storage, name="connectError")][:1]
        assert error["code"] == "connectionLost" and error["message"] == "connection to 127.0.0.1 lost"
        await until(lambda: storage.mailstate.checkpoint("acme", "INBOX"), what="INBOX baseline")
        dovecot.deliver(mailbox.address, mail(1))
        await until(lambda: len(events(storage)) == 1, what="mail after the reconnect")
    finally:
        await run.stop()
        await relay.close()


async def test_a_storage_error_is_retried_and_never_ends_the_watch(storage, pipeline, mailbox, dovecot, redis_client):
    """Redis answering with an error (here: a checkpoint of the wrong type) while the watcher
    polls: it retries and picks up where it was once Redis is right again."""
    run = Running(make_account(storage, mailbox), pipeline, storage)
    await run.start()
    key = keys.folder_checkpoint("acme", "INBOX")
    saved = redis_client.hgetall(key)
    try:
        redis_client.delete(key)
        redis_client.set(key, "not a hash")  # every checkpoint read now fails with WRONGTYPE
        dovecot.deliver(mailbox.address, mail(1))
        await asyncio.sleep(1.0)  # several poll intervals: the watcher meets the error again and again
        assert not run.task.done()
        assert events(storage) == []
        # Not the mailbox's fault: still "connected", and no reconnect noise in the stream.
        assert storage.accounts.get_state("acme").state is ConnectionState.CONNECTED
        assert len(events(storage, name="accountConnected")) == 1
        redis_client.delete(key)
        redis_client.hset(key, mapping=saved)
        await until(lambda: len(events(storage)) == 1, what="the mail that came during the error")
    finally:
        await run.stop()


class FailsOnce:
    """The pipeline with a bug on the first batch: a MessageHandler (the watcher's declared seam)."""

    def __init__(self, pipeline: InboundPipeline) -> None:
        self.pipeline, self.failed = pipeline, False

    async def messages(self, account, folder, uidvalidity, batch) -> None:
        if not self.failed:
            self.failed = True
            raise RuntimeError("a bug no one expected")
        await self.pipeline.messages(account, folder, uidvalidity, batch)

    async def state(self, account, state) -> None:
        await self.pipeline.state(account, state)

    async def mailbox_reset(self, account, folder, old, new) -> None:
        await self.pipeline.mailbox_reset(account, folder, old, new)


async def test_a_watch_ended_by_an_unexpected_error_is_started_again(storage, pipeline, mailbox, dovecot):
    make_account(storage, mailbox)
    handler = FailsOnce(pipeline)
    service = WatcherService(storage, handler, watcher_id="a", leases=LeaseTiming(tick_s=0.2), timing=FAST)
    task = asyncio.create_task(service.run())
    try:
        await until(lambda: storage.mailstate.checkpoint("acme", "INBOX"), what="INBOX baseline")
        dovecot.deliver(mailbox.address, mail(1))
        await until(lambda: len(events(storage)) == 1, what="the message, after the restart")
        assert handler.failed and service.watched == ["acme"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_extra_folder_is_polled_and_uidvalidity_change_emits_one_reset(storage, pipeline, mailbox, dovecot):
    account = make_account(storage, mailbox, watch=("INBOX", "Junk"))
    run = Running(account, pipeline, storage)
    await run.start()
    dovecot.append_offline(mailbox.address, "Junk", mail("spam"))
    [event] = await until(lambda: events(storage), what="Junk message")
    assert event.data["folder"] == "Junk"
    await run.stop()

    await recreate_folder(mailbox, "Junk")
    for n in range(3):
        dovecot.append_offline(mailbox.address, "Junk", mail(f"new{n}"))
    run = Running(account, pipeline, storage)
    await run.start()
    try:
        [reset] = await until(lambda: events(storage, name="mailboxReset"), what="mailboxReset")
        assert reset.data["folder"] == "Junk"
        assert reset.data["previousUidValidity"] != reset.data["uidValidity"]
        await asyncio.sleep(0.5)
        assert len(events(storage)) == 1  # re-baselined: no flood of the recreated folder
    finally:
        await run.stop()


async def test_malformed_and_corpus_mail_never_stop_the_watcher(storage, pipeline, mailbox, dovecot):
    samples = sorted((CORPORA / "mime").rglob("*.eml")) + sorted((CORPORA / "bounces").rglob("*.eml"))
    assert len(samples) > 500, "the corpora must be at tests/corpora"
    garbage = [b"\xff\xfe\x00garbage without headers", b"Content-Type: multipart/mixed; boundary=\r\n\r\n--\r\n", b""]
    run = Running(make_account(storage, mailbox), pipeline, storage)
    await run.start()
    try:
        for raw in garbage + [p.read_bytes() for p in samples]:
            dovecot.append_offline(mailbox.address, "INBOX", raw or b"\r\n")
        dovecot.deliver(mailbox.address, mail("last"))
        await until(lambda: len(events(storage)) == len(garbage) + len(samples) + 1, timeout=120, what="every message")
        assert storage.accounts.get_state("acme").state is ConnectionState.CONNECTED
        # Dovecot serves NULs and bare LFs rewritten, so find the garbage by its errors, not its hash.
        assert sum(1 for e in events(storage) if e.data["parseErrors"]) >= len(garbage)
        assert "message last" in [e.data["subject"] for e in events(storage)]
    finally:
        await run.stop()


async def test_wrong_password_reports_authentication_error_and_keeps_trying(storage, pipeline, mailbox):
    run = Running(make_account(storage, mailbox, password="wrong"), pipeline, storage)
    await run.start(wait_ready=False)
    try:
        await until(lambda: storage.accounts.get_state("acme").state is ConnectionState.AUTHENTICATION_ERROR)
        state = storage.accounts.get_state("acme")
        assert "login failed" in state.error.message.lower()
        assert state.error.code == "authenticationFailed" and state.next_retry is not None
        await asyncio.sleep(0.5)
        assert len(events(storage, name="authenticationError")) == 1  # reported once, not per retry
    finally:
        await run.stop()


async def test_two_watcher_services_share_accounts_and_take_over_a_dead_ones(storage, pipeline, dovecot):
    boxes = [dovecot.new_account() for _ in range(4)]
    for i, box in enumerate(boxes):
        make_account(storage, box, account_id=f"acct{i}")
    leases = LeaseTiming(lease_ms=1500, tick_s=0.2, liveness_s=1.0)
    a = WatcherService(storage, pipeline, watcher_id="a", leases=leases, timing=FAST)
    b = WatcherService(storage, pipeline, watcher_id="b", leases=leases, timing=FAST)
    task_a, task_b = asyncio.create_task(a.run()), asyncio.create_task(b.run())
    try:
        await until(lambda: len(a.watched) + len(b.watched) == 4 and a.watched and b.watched, what="balance")
        assert not set(a.watched) & set(b.watched)
        # Accounts made through the API are baselined on attach; these were stored directly.
        await until(lambda: all(storage.mailstate.checkpoint(f"acct{i}", "INBOX") for i in range(4)), what="baselines")
        # "a" dies without releasing anything: its leases must expire and "b" take over.
        # A crash runs no cleanup: drop a's connections without releasing its leases.
        orphans = [w.task for w in a._watched.values()]
        a._watched.clear()
        for task in [task_a, *orphans]:
            task.cancel()
        await asyncio.gather(task_a, *orphans, return_exceptions=True)
        await until(lambda: len(b.watched) == 4, timeout=10, what="takeover")
        for i, box in enumerate(boxes):
            dovecot.deliver(box.address, mail(f"after{i}"))
        for i in range(4):
            await until(lambda i=i: events(storage, account=f"acct{i}"), what=f"acct{i} mail")
    finally:
        task_b.cancel()
        await asyncio.gather(task_b, return_exceptions=True)
