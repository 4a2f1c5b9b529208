"""The audit store against a real Redis: the compact form of a plain delivery reads back as the very
record that was written, every other decision is kept whole, and the cause table lives with the log."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from bridge import keys
from bridge.crypto import Vault
from bridge.policy.verdict import Action, Decision, Verdict
from bridge.review import audit as auditing
from bridge.storage import Storage

ACCOUNT = "acme"
RETENTION_DAYS = 90


@pytest.fixture
def storage(redis_client) -> Storage:
    return Storage(redis_client, Vault("audit-test-secret-0123456789"))


def decided(verdict: Verdict, *, when: datetime, n: int = 1, sender: str = "ann@x.example", **more):
    return auditing.document(
        now=when, direction=more.pop("direction", "inbound"), account=ACCOUNT, message_id=f"mAAAA{n}",
        sender=sender, recipients=more.pop("recipients", ["acme@example.test", "cc@example.test"]),
        outcome=auditing.outcome_of(verdict), cause=auditing.Cause.of(verdict), decision=verdict.decision.value,
        rule=verdict.rule, reason=verdict.reason, body_sha256=hashlib.sha256(str(n).encode()).hexdigest(), **more,
    )  # fmt: skip


DELIVERED = Verdict.plain(Action.DELIVER, "inbound.defaultAction", "no_sender_rule")
ALLOWED = Verdict.plain(Action.DELIVER, "inbound.senders[2]", "sender_rule")
GUARD = Verdict(Action.REJECT, Decision.GUARD_HIT, "inbound.contentGuards[0]", "prompt_injection_suspected")
HELD = Verdict.plain(Action.HOLD, "inbound.senders[1]", "sender_rule")


def everything(storage):
    found, _ = storage.audit.page(ACCOUNT, limit=100, before=None, since_ms=0)
    return found


def stored_fields(redis_client):
    return [set(fields) for _, fields in redis_client.xrange(keys.audit(ACCOUNT))]


def test_a_plain_delivery_is_stored_compactly_and_reads_back_as_written(storage, redis_client):
    now = datetime.now(UTC)
    written = [
        decided(DELIVERED, when=now, n=1),
        decided(ALLOWED, when=now, n=2, recipients=[]),
        decided(GUARD, when=now, n=3),
        decided(HELD, when=now + timedelta(milliseconds=1), n=4, review_id="rev_4"),
        decided(DELIVERED, when=now + timedelta(milliseconds=2), n=5, direction="outbound"),
    ]
    ids = storage.audit.append_many(written, retention_days=RETENTION_DAYS, now_ms=written[0].time_ms)
    read = everything(storage)
    assert [r.to_json() for r in reversed(read)] == [w.with_id(i).to_json() for w, i in zip(written, ids, strict=True)]
    # Inbound deliveries compact; the guard, the hold and the outbound record whole.
    compact, full = {b"m", b"s", b"t", b"h", b"c"}, {b"r"}
    assert stored_fields(redis_client) == [compact, compact, full, full, full]
    # The entry id is the record's own millisecond.
    assert [int(i.split("-")[0]) for i in ids] == [w.time_ms for w in written]
    # The two causes are in the table, which expires with the log.
    assert redis_client.hlen(keys.audit_causes(ACCOUNT)) == 2
    assert 0 < redis_client.ttl(keys.audit_causes(ACCOUNT)) <= RETENTION_DAYS * 86400
    assert redis_client.ttl(keys.audit_causes(ACCOUNT)) == redis_client.ttl(keys.audit(ACCOUNT))


def test_a_record_older_than_the_newest_entry_keeps_its_own_time(storage, redis_client):
    now = datetime.now(UTC)
    auditing.record(storage, decided(DELIVERED, when=now, n=1), retention_days=RETENTION_DAYS)
    # Another writer whose clock is 5 s behind: Redis numbers the entry, the record keeps its time.
    late = decided(DELIVERED, when=now - timedelta(seconds=5), n=2)
    record_id = auditing.record(storage, late, retention_days=RETENTION_DAYS)
    assert int(record_id.split("-")[0]) >= now.timestamp() * 1000 - 1
    newest = everything(storage)[0]
    assert newest.to_json() == late.with_id(record_id).to_json()
    assert set(redis_client.xrange(keys.audit(ACCOUNT))[-1][1]) == {b"m", b"s", b"t", b"h", b"c", b"w"}


def test_values_the_compact_form_cannot_spell_keep_the_record_whole(storage, redis_client):
    now = datetime.now(UTC)
    odd = [
        decided(DELIVERED, when=now, n=1, sender="a\nb@x.example"),
        decided(DELIVERED, when=now, n=2, recipients=["x@y.example\n"]),
        decided(DELIVERED, when=now, n=3, by="token:t1"),
    ]
    ids = storage.audit.append_many(odd, retention_days=RETENTION_DAYS, now_ms=odd[0].time_ms)
    assert stored_fields(redis_client) == [{b"r"}] * 3
    assert [r.to_json() for r in reversed(everything(storage))] == [
        w.with_id(i).to_json() for w, i in zip(odd, ids, strict=True)
    ]
