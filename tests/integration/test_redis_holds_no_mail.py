"""Redis keeps no message bodies, sources or attachments (issue 14, part 1), proven by reading every key.

A burst of real messages goes through Dovecot and the watcher; then every value of every key is
read (``tests.redis_scan``) and searched for what only the messages contain: body text, HTML,
a unique header, attachment bytes (decoded and as sent, base64). The event stream is the one
place that may carry bodies (events up to 64 KiB); the test checks that it does, so the needles
are right. A message held for review keeps its body with its hold until decided, then not.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from bridge import keys
from bridge.crypto import Vault
from bridge.inbound.pipeline import InboundPipeline
from bridge.review import holds
from bridge.review.links import LinkAction
from bridge.schemas.policy import Policy
from bridge.senderauth.resolver import DnsResolver
from bridge.storage import Storage
from tests.redis_scan import every_key_and_value
from tests.watcher_support import Running, events, make_account, until

BURST = 40


@pytest.fixture
def storage(redis_client) -> Storage:
    return Storage(redis_client, Vault("no-mail-in-redis-secret-0123456789"))


@pytest.fixture
def pipeline(storage, dns):
    with ThreadPoolExecutor(4) as executor:
        yield InboundPipeline(storage, DnsResolver([dns.address], timeout=1.0), executor)


def _message(to: str, tag: str, *, attachment: bytes | None = None, subject: str = "") -> bytes:
    msg = EmailMessage()
    msg["From"] = "Sender <sender@example.test>"
    msg["To"] = to
    msg["Subject"] = subject or f"burst {tag}"
    msg["Message-ID"] = f"<{tag}@example.test>"
    msg["X-Only-In-The-Source"] = f"HEADER-{tag}"
    msg.set_content(f"Hello,\n\nTEXT-{tag} is the body.\n")
    msg.add_alternative(f"<p>HTML-{tag} is the body.</p>", subtype="html")
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream", filename=f"{tag}.bin")
    return msg.as_bytes()


def _needles(tag: str, attachment: bytes | None) -> list[bytes]:
    found = [f"TEXT-{tag}".encode(), f"HTML-{tag}".encode(), f"HEADER-{tag}".encode()]
    if attachment is not None:
        found += [attachment[:48], base64.b64encode(attachment)[:48]]
    return found


def _where(redis_client, needles: list[bytes]) -> set[bytes]:
    """The keys whose key or values hold any of the needles."""
    return {key for key, value in every_key_and_value(redis_client) if any(n in value for n in needles)}


async def test_after_a_burst_no_key_but_the_event_stream_holds_any_of_the_mail(
    storage, pipeline, mailbox, dovecot, redis_client
):
    account = make_account(storage, mailbox)
    run = Running(account, pipeline, storage)
    await run.start()
    needles: list[bytes] = []
    try:
        for n in range(BURST):
            tag = f"m{n}-{uuid.uuid4().hex[:12]}"
            attachment = (f"ATTACHMENT-{tag}-".encode() + uuid.uuid4().bytes) * 2000 if n % 4 == 0 else None
            needles += _needles(tag, attachment)
            dovecot.deliver(mailbox.address, _message(mailbox.address, tag, attachment=attachment))
        await until(lambda: len(events(storage)) == BURST, timeout=60, what=f"{BURST} messageNew")
    finally:
        await run.stop()

    stream = keys.events("acme").encode()
    holding = _where(redis_client, needles)
    assert holding == {stream}, f"mail content stored outside the event stream: {holding - {stream}}"
    # Each message is indexed, in a few hundred bytes.
    indexed = list(redis_client.scan_iter(keys.message_entry("acme", "*")))
    assert len(indexed) == BURST
    assert max(len(redis_client.get(k)) for k in indexed) < 1024


async def test_a_held_message_keeps_its_body_until_decided_then_only_the_events_have_it(
    storage, pipeline, mailbox, dovecot, redis_client
):
    guard = {"pattern": "HOLD ME", "action": "hold"}
    storage.policies.put("acme", Policy.model_validate({"inbound": {"contentGuards": [guard]}}))
    account = make_account(storage, mailbox)
    run = Running(account, pipeline, storage)
    await run.start()
    tags = [f"held{n}-{uuid.uuid4().hex[:12]}" for n in range(2)]
    attachment = b"HELD-ATTACHMENT-" + uuid.uuid4().bytes * 500
    try:
        for tag in tags:
            dovecot.deliver(mailbox.address, _message(mailbox.address, tag, attachment=attachment, subject="HOLD ME"))
        pending = await until(
            lambda: len(events(storage, name="reviewPending")) == 2 and events(storage, name="reviewPending")
        )
    finally:
        await run.stop()
    approve, reject = (e.data["reviewId"] for e in pending)
    stream = keys.events("acme").encode()

    # Pending: each body is kept with its hold (the record, and a preview for reviewers), nowhere else.
    for tag, review_id in zip(tags, (approve, reject), strict=True):
        held = {keys.review_raw(review_id).encode(), keys.review(review_id).encode()}
        assert _where(redis_client, _needles(tag, None)) == held
    assert events(storage) == []  # not delivered

    now = datetime.now(UTC)
    assert holds.decide(storage, approve, LinkAction.APPROVE, by="test", now=now).status == "ok"
    assert holds.decide(storage, reject, LinkAction.REJECT, by="test", now=now).status == "ok"

    # Decided: the approved message went out as messageNew (with its body); both bodies left the holds.
    [released] = events(storage)
    assert released.data["subject"] == "HOLD ME" and f"TEXT-{tags[0]}" in released.data["text"]
    assert _where(redis_client, _needles(tags[0], None)) == {stream}
    assert _where(redis_client, _needles(tags[1], None)) == set()
    assert _where(redis_client, [attachment[:32], base64.b64encode(attachment)[:32]]) == set()
    states = {storage.messages.entry("acme", e.data["messageId"]).policy.state for e in pending}
    assert states == {"approved", "rejected"}
    await asyncio.sleep(0)
