"""Stores against a real Redis: events (ordering, resume, retention) and messages (dedupe, paging)."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge import keys
from bridge.config import EventRetention
from bridge.crypto import Vault
from bridge.events.model import Event, parse_event_id
from bridge.storage import Storage
from bridge.storage.message_index import Entry
from bridge.storage.messages import order
from bridge.storage.publish import Publication, Publisher


@pytest.fixture
def storage(redis_client) -> Storage:
    return Storage(redis_client, Vault("storage-test-secret-0123456789"))


def _append(storage: Storage, account: str, name: str, data: dict[str, Any]) -> Event:
    [published] = storage.publisher.publish([Publication(account, name, data)], now=time.time(), grace=60, sweep_ttl=3)
    return published.event


def test_event_ids_are_global_and_each_stream_is_ordered(storage):
    a1 = _append(storage, "a", "messageNew", {"n": 1})
    b1 = _append(storage, "b", "messageNew", {"n": 2})
    a2 = _append(storage, "a", "messageNew", {"n": 3})
    assert len({a1.id, b1.id, a2.id}) == 3
    assert [e.data["n"] for e in storage.events.since("a", 0)] == [1, 3]
    assert [e.id for e in storage.events.since("a", a1.seq)] == [a2.id]
    assert parse_event_id(a2.id) == a2.seq
    assert storage.events.since("a", 0)[0].to_dict() == a1.to_dict()


def test_a_published_event_and_its_webhook_body_are_one_step(storage, redis_client):
    """The signed body is byte for byte json.dumps(event.to_dict()), built in Lua around the new id."""
    sub, _ = storage.webhooks.create("https://hooks.example/x", None, None)
    data = {"subject": "Grüße – 你好", "n": [1, 2.5, None, True], "quote": 'a "b" \\ c'}
    [published] = storage.publisher.publish(
        [Publication("a", "messageNew", data)], now=time.time(), grace=60, sweep_ttl=3
    )
    [delivery] = published.deliveries
    assert delivery.webhook_id == sub.id and delivery.event_id == published.event.id
    body = redis_client.hget(keys.webhook_body(published.event.id), "b")
    expected = json.dumps(published.event.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()
    assert body == expected
    # The claim reads that copy; once no delivery holds it, it rebuilds the same bytes from the stream.
    claim = storage.webhooks.claim(delivery.id, 1, lease_s=5)
    assert claim.body == expected
    redis_client.delete(keys.webhook_body(published.event.id), keys.delivery_lease(delivery.id))
    assert storage.webhooks.claim(delivery.id, 1, lease_s=5).body == expected
    assert storage.events.since("a", 0)[0].to_dict() == published.event.to_dict()


def test_a_batch_publishes_in_order_and_marks_its_messages_emitted(storage, redis_client):
    items = [
        Publication("a", "messageNew", {"n": 1}, emitted="m1", emitted_ttl_s=60, emitted_score=1_000_000),
        Publication("a", "messageBounce", {"n": 2}, emitted="m2", emitted_ttl_s=60, emitted_score=2_000_000),
        Publication("b", "messageNew", {"n": 3}),
    ]
    out = storage.publisher.publish(items, now=time.time(), grace=60, sweep_ttl=3)
    assert [p.event.seq for p in out] == sorted(p.event.seq for p in out)
    assert [e.data["n"] for e in storage.events.since("a", 0)] == [1, 2]
    assert storage.mailstate.emitted("a", ["m1", "m2", "m3"]) == {"m1", "m2"}
    assert 0 < redis_client.ttl(keys.message_index("a")) <= 60
    assert out[0].deliveries == []  # no subscription: nothing to deliver, no sweeper needed
    assert not any(p.start_sweeper for p in out)


def test_concurrent_appends_keep_every_stream_increasing(storage):
    def emit(n: int) -> None:
        for i in range(50):
            _append(storage, "shared", "messageNew", {"thread": n, "i": i})

    threads = [threading.Thread(target=emit, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seqs = [e.seq for e in storage.events.since("shared", 0, count=1000)]
    assert len(seqs) == 200
    assert seqs == sorted(seqs)


def test_wait_returns_new_events_and_times_out_empty(storage):
    start = _append(storage, "w", "messageNew", {})
    assert storage.events.wait("w", start.seq, block_ms=50) == []
    later = threading.Timer(0.1, lambda: _append(storage, "w", "messageSent", {"x": 1}))
    later.start()
    got = storage.events.wait("w", start.seq, block_ms=3000)
    # XREAD can return before the publishing thread has read its own reply; closing the client
    # under it (fixture teardown) would fail that thread with "Connection closed by server".
    later.join()
    assert [e.event for e in got] == ["messageSent"]


def _entry(account: str, mid: str, when: datetime, folder: str = "INBOX") -> Entry:
    return Entry(
        id=mid, account=account, folder=folder, uid=1, uidvalidity=1, conversation_id=f"conv_{mid}",
        received_at=when.isoformat(timespec="milliseconds").replace("+00:00", "Z"), message_id=f"{mid}@example.test",
    )  # fmt: skip


def _publish_at(publisher: Publisher, account: str, n: int, now: float, size: int = 200) -> None:
    batch = [Publication(account, "messageNew", {"n": i, "pad": "x" * size}) for i in range(n)]
    publisher.publish(batch, now=now, grace=60, sweep_ttl=3)


def _stream_bytes(redis_client, account: str) -> int:
    return sum(len(fields[b"e"]) for _, fields in redis_client.xrange(keys.events(account)))


def test_the_event_stream_is_bounded_by_bytes_keeping_the_newest(storage, redis_client):
    publisher = Publisher(redis_client, 3600, EventRetention(max_bytes=5_000, max_age_s=3600))
    now = time.time()
    _publish_at(publisher, "a", 100, now)
    kept = storage.events.since("a", 0, count=1000)
    assert 0 < _stream_bytes(redis_client, "a") <= 5_000
    assert _stream_bytes(redis_client, "a") + 300 > 5_000  # trimmed to the bound, not far below it
    assert [e.data["n"] for e in kept] == list(range(100 - len(kept), 100))  # the newest, contiguous
    _publish_at(publisher, "b", 3, now)  # another account's stream has its own bound
    assert len(storage.events.since("b", 0)) == 3


def test_the_event_stream_is_bounded_by_age_and_expires_when_quiet(storage, redis_client):
    publisher = Publisher(redis_client, 3600, EventRetention(max_bytes=1024**2, max_age_s=600))
    now = time.time()
    _publish_at(publisher, "a", 5, now - 800)  # past the bound by the time the next ones come
    _publish_at(publisher, "a", 2, now - 100)
    assert [e.data["n"] for e in storage.events.since("a", 0)] == [0, 1]
    assert 0 < redis_client.pttl(keys.events("a")) <= 600_000
    assert 0 < redis_client.pttl(keys.events_bytes("a")) <= 600_000


def _index(storage: Storage, entries: list[Entry]) -> None:
    """Save entries and mark them emitted, as the pipeline does: the index lists emitted messages."""
    storage.messages.save_entries(entries)
    marks = [(e.id, order(e.received_at, e.uid)) for e in entries]
    storage.mailstate.mark_emitted(entries[0].account, marks, 3600 * 24 * 365 * 10)


def test_paging_is_newest_first_with_ties_and_filters(storage):
    base = datetime(2026, 1, 1, tzinfo=UTC)
    # Five messages share each timestamp: ties must neither repeat nor vanish.
    _index(
        storage,
        [_entry("a", f"m{i:02d}", base + timedelta(seconds=i // 5), "INBOX" if i % 2 else "Junk") for i in range(25)],
    )
    seen, cursor = [], None
    while True:
        page, cursor = storage.messages.page("a", limit=4, before=cursor)
        seen += [r["id"] for r in page]
        if cursor is None:
            break
    assert sorted(seen) == [f"m{i:02d}" for i in range(25)]
    assert len(seen) == len(set(seen))
    times = [storage.messages.entry("a", m).received_at for m in seen]
    assert times == sorted(times, reverse=True)

    junk, _ = storage.messages.page("a", limit=100, match=lambda r: r["folder"] == "Junk")
    assert len(junk) == 13


def test_expired_entries_drop_out_of_the_listing(storage, redis_client):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    _index(storage, [_entry("a", "gone", now), _entry("a", "kept", now - timedelta(seconds=1))])
    redis_client.delete(*[k for k in redis_client.scan_iter("*:ix:gone")])
    page, cursor = storage.messages.page("a", limit=10)
    assert [r["id"] for r in page] == ["kept"] and cursor is None
    # The index is also the "emitted" mark: an entry gone keeps its mark, so it is not emitted again.
    assert storage.mailstate.emitted("a", ["gone", "kept"]) == {"gone", "kept"}
