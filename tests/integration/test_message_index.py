"""The message index against a real Redis: entries, dedupe, threads, flags/policy, retention."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bridge import keys
from bridge.crypto import Vault
from bridge.mail import ids
from bridge.mail.ids import new_conversation_id
from bridge.storage import Storage
from bridge.storage.message_index import AuthVerdict, Classification, Entry, PolicyState, Sender, from_record
from bridge.storage.messages import MessageStore


@pytest.fixture
def storage(redis_client) -> Storage:
    return Storage(redis_client, Vault("storage-test-secret-0123456789"))


def _entry(uid: int, when: datetime, *, conversation: str = "conv_a", folder: str = "INBOX", **extra) -> Entry:
    fields = {
        "message_id": f"<m{uid}@example.test>",
        "subject": f"hello {uid}",
        "from_": Sender("ann@example.test", "Ann"),
        "size": 1234,
        **extra,
    }
    return Entry(
        id=ids.encode(folder, 7, uid),
        account="acme",
        folder=folder,
        uid=uid,
        uidvalidity=7,
        conversation_id=conversation,
        received_at=when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        **fields,
    )


def test_an_entry_round_trips_through_its_json_and_its_stored_form_and_stays_small():
    entry = _entry(
        5,
        datetime(2026, 1, 1, tzinfo=UTC),
        flags=("\\Seen",),
        auth=AuthVerdict(True, "dmarc", "example.test", "pass", "pass", ("example.test",), "pass", "none"),
        classification=Classification("bounce", "<x@y>", None, ()),
        policy=PolicyState("pending", "hold", "rev_1", "sender", "unknown sender", "hold"),
    )
    assert Entry.loads(entry.dumps()) == entry
    stored = entry.stored()
    assert Entry.from_stored(stored, "acme", entry.id) == entry
    assert len(stored.encode()) < 600 and "acme" not in stored and "INBOX" not in stored
    plain = _entry(6, datetime(2026, 1, 1, tzinfo=UTC))
    assert Entry.from_stored(plain.stored(), "acme", plain.id) == plain
    assert len(plain.stored().encode()) < 250


@pytest.mark.parametrize(
    ("auth", "date", "packed"),
    [
        (AuthVerdict(False, None, "example.test", "none", None, (), "none", "none"), "2026-01-02T03:04:05Z", True),
        (AuthVerdict(True, "dmarc", "example.test", "pass", "pass", ("a.test", "b.test"), "pass", "pass", "arc.test"),
         "1969-12-31T23:59:59Z", True),
        (AuthVerdict(True, "arc", "example.test", "fail", "fail", (), "fail", "pass", "sealer.test"), None, True),
        # Not the From address's domain, a result the letters do not know, a separator in a value:
        # kept as the object, exactly.
        (AuthVerdict(False, None, "other.test", "pass"), "2026-01-02T03:04:05.5Z", False),
        (AuthVerdict(False, None, "example.test", "bestguesspass"), "2026-01-02T03:04:05+01:00", False),
        (AuthVerdict(True, "dmarc", "example.test", "pass", "pass", ("a|b",)), "1970-01-01T00:00:00Z", False),
    ],
)  # fmt: skip
def test_the_packed_auth_and_date_read_back_exactly(auth, date, packed):
    entry = _entry(9, datetime(2026, 1, 1, tzinfo=UTC), auth=auth, date=date)
    stored = entry.stored()
    assert Entry.from_stored(stored, "acme", entry.id) == entry
    assert isinstance(json.loads(stored)["v"], str) is packed


def test_a_conversation_the_message_started_is_left_out_and_given_back():
    started = new_conversation_id("<m3@example.test>", ids.encode("INBOX", 7, 3))
    entry = _entry(3, datetime(2026, 1, 1, tzinfo=UTC), conversation=started)
    assert "c" not in json.loads(entry.stored())
    assert Entry.from_stored(entry.stored(), "acme", entry.id) == entry
    # Without a Message-ID the id seeds it, as the pipeline does.
    bare = _entry(4, datetime(2026, 1, 1, tzinfo=UTC), message_id=None,
                  conversation=new_conversation_id(None, ids.encode("INBOX", 7, 4)))  # fmt: skip
    assert "c" not in json.loads(bare.stored()) and Entry.from_stored(bare.stored(), "acme", bare.id) == bare
    joined = _entry(5, datetime(2026, 1, 1, tzinfo=UTC), conversation=started)  # a reply in that thread
    assert json.loads(joined.stored())["c"] == started
    assert Entry.from_stored(joined.stored(), "acme", joined.id) == joined


def test_an_entry_in_the_older_stored_form_still_reads():
    older = (
        '{"m":"<m1@example.test>","c":"conv_a","r":1767225600000,"d":"2026-01-02T03:04:05Z","s":"hi",'
        '"f":{"e":"ann@example.test"},"z":10,"v":{"fd":"example.test","sp":"none","dm":"none","ar":"none"}}'
    )
    entry = Entry.from_stored(older, "acme", ids.encode("INBOX", 7, 1))
    assert entry.date == "2026-01-02T03:04:05Z"
    assert entry.auth == AuthVerdict(False, None, "example.test", "none", None, (), "none", "none")
    assert Entry.from_stored(entry.stored(), "acme", entry.id) == entry
    assert len(entry.stored()) < len(older) - 40
    assert entry.from_ == Sender("ann@example.test")


def test_from_record_keeps_the_verdicts_essentials():
    record = {
        "id": "m1", "account": "acme", "folder": "INBOX", "uid": 3, "uidValidity": 9, "conversationId": "c",
        "receivedAt": "2026-01-01T00:00:00.000Z", "messageId": "<a@b>", "subject": "x" * 1000,
        "from": {"name": "Ann", "address": "ann@example.test"}, "text": "body", "html": "<p>body</p>",
        "attachments": [{"id": "a1"}], "size": 99, "flags": ["\\Seen"],
        "auth": {"verified": True, "verifiedVia": "dmarc", "fromDomain": "example.test",
                 "spf": {"result": "pass"}, "dmarc": {"result": "pass"}, "arc": {"result": "none"},
                 "dkim": [{"result": "fail", "domain": "x.test"}, {"result": "pass", "domain": "example.test"}]},
        "classification": {"kind": "bounce", "originalMessageId": "<o@b>",
                           "recipients": [{"recipient": "bob@x.test", "status": "5.1.1", "hard": True}]},
    }  # fmt: skip
    entry = from_record(record)
    assert entry.auth == AuthVerdict(True, "dmarc", "example.test", "pass", "pass", ("example.test",), "pass", "none")
    assert entry.classification is not None and entry.classification.recipients[0].address == "bob@x.test"
    assert entry.has_attachments and entry.size == 99 and len(entry.subject) == 200
    assert "body" not in entry.dumps()


def test_save_is_the_dedupe_point_and_entries_read_in_one_call(storage):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    first, again = _entry(1, now), _entry(1, now, subject="again")
    assert storage.messages.save_entries([first, _entry(2, now)]) == [True, True]
    assert storage.messages.save_entries([again]) == [False]
    assert storage.messages.entry("acme", first.id) == first
    assert storage.messages.entries("acme", [first.id, "mnope", _entry(2, now).id]) == [first, None, _entry(2, now)]
    assert storage.messages.conversations("acme", ["<m1@example.test>"]) == {"<m1@example.test>": "conv_a"}


def test_a_thread_is_in_order_across_folders(storage):
    base = datetime(2026, 1, 1, tzinfo=UTC)
    sent = _entry(1, base + timedelta(seconds=1), folder="Sent", direction="sent")
    storage.messages.save_entries([_entry(3, base + timedelta(seconds=2)), _entry(9, base), sent])
    storage.messages.save_entries([_entry(4, base, conversation="other")])
    assert [(e.folder, e.uid) for e in storage.messages.thread("acme", "conv_a")] == [
        ("INBOX", 9),
        ("Sent", 1),
        ("INBOX", 3),
    ]
    storage.messages.delete_entry("acme", sent.id)
    assert [e.uid for e in storage.messages.thread("acme", "conv_a")] == [9, 3]
    assert storage.messages.entry("acme", sent.id) is None


def test_flags_and_policy_are_rewritten_keeping_the_expiry(storage, redis_client):
    entry = _entry(1, datetime(2026, 1, 1, tzinfo=UTC))
    storage.messages.save_entries([entry])
    ttl = redis_client.ttl(keys.message_entry("acme", entry.id))
    assert storage.messages.set_flags("acme", entry.id, ["\\Seen", "\\Flagged"]).flags == ("\\Seen", "\\Flagged")
    approved = PolicyState("approved", "hold", "rev_1")
    assert storage.messages.set_policy("acme", entry.id, approved).policy == approved
    assert not storage.messages.entry("acme", entry.id).withheld
    assert 0 < redis_client.ttl(keys.message_entry("acme", entry.id)) <= ttl
    assert storage.messages.set_flags("acme", "mnone", []) is None


def test_entries_older_than_the_retention_leave_the_sorted_sets(redis_client):
    store = MessageStore(redis_client, retention_s=60)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    store.save_entries([_entry(1, base), _entry(2, base + timedelta(seconds=40))])
    store.save_entries([_entry(3, base + timedelta(seconds=90))])  # the first is now over 60 s older
    assert [m.decode() for m in redis_client.zrange(keys.conversation_messages("acme", "conv_a"), 0, -1)] == [
        _entry(2, base).id,
        _entry(3, base).id,
    ]
    assert 0 < redis_client.ttl(keys.message_entry("acme", _entry(3, base).id)) <= 60
