"""OutboxEntry: the one constructor of a new entry (queued or scheduled) and its JSON form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.storage.outbox_records import IMMEDIATE_S, OutboxEntry, Reference, SendFailure, decode, encode

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _queued(send_at: datetime | None, **extra: Any) -> OutboxEntry:
    return OutboxEntry.queued(
        queue_id="q1", account="acc", message_id="<m@x>", subject="Hi", envelope_from="a@x",
        envelope_to=["b@y", "c@z"], send_at=send_at, now=NOW, max_attempts=5, copy=True, smtputf8=False,
        conversation_id="conv", reference=None, **extra,
    )  # fmt: skip


def test_no_send_at_or_a_past_one_is_queued_now() -> None:
    for send_at in (None, NOW - timedelta(hours=1)):
        entry = _queued(send_at)
        assert entry.state == "queued" and not entry.scheduled
        assert entry.due == NOW.timestamp()
        assert entry.send_at == entry.created == "2026-03-01T12:00:00.000Z"


def test_less_than_a_second_ahead_is_now_and_more_is_scheduled() -> None:
    soon = _queued(NOW + timedelta(seconds=IMMEDIATE_S / 2))
    assert soon.state == "queued"
    assert soon.due == (NOW + timedelta(seconds=IMMEDIATE_S / 2)).timestamp()
    later = _queued(NOW + timedelta(minutes=5), job_id="send:q1")
    assert later.state == "scheduled" and later.scheduled and later.job_id == "send:q1"
    assert later.send_at == "2026-03-01T12:05:00.000Z"


def test_json_round_trip_through_the_stored_encoding() -> None:
    entry = _queued(None, review_id="rev_1")
    stored = encode(entry.to_json())
    back = decode({k.encode(): v.encode() for k, v in stored.items()})
    assert back == entry
    assert entry.to_json()["envelope"] == {"from": "a@x", "to": ["b@y", "c@z"]}


def test_lifecycle_fields_as_the_lua_scripts_write_them() -> None:
    doc = {
        **{k: v for k, v in encode(_queued(None).to_json()).items()},
        "state": "sent", "owner": "h:1:ab", "leaseUntil": "1700000000.5", "dataStarted": "0",
        "possibleDuplicate": "1", "sentAt": "2026-03-01T12:00:01.000Z", "response": "250 ok", "future": "x",
    }  # fmt: skip
    entry = decode(doc)
    assert entry.state == "sent" and entry.lease_until == 1700000000.5
    assert not entry.data_started and entry.possible_duplicate
    assert entry.sent_at == "2026-03-01T12:00:01.000Z" and entry.response == "250 ok"
    assert entry.other == {"future": "x"}
    assert entry.to_json()["future"] == "x"


def test_reference_and_last_error_keep_their_stored_json() -> None:
    reference = Reference("m1", "forward", "INBOX", 7, 42, "<o@x>")
    entry = _queued(None, review_id=None)
    entry = OutboxEntry.from_json({**entry.to_json(), "reference": reference.to_json()})
    assert entry.reference == reference and entry.reference.forward
    assert entry.to_json()["reference"] == {
        "message": "m1", "action": "forward", "folder": "INBOX", "uid": 7, "uidValidity": 42, "messageId": "<o@x>",
    }  # fmt: skip
    failure = SendFailure("mailbox full", "rejected", 552, "2026-03-01T12:00:01.000Z")
    stored = encode({**entry.to_json(), "lastError": failure.to_json()})
    back = decode({k.encode(): v.encode() for k, v in stored.items()})
    assert back.last_error == failure
    assert back.to_json()["lastError"] == {"message": "mailbox full", "code": "rejected", "smtpCode": 552,
                                            "at": "2026-03-01T12:00:01.000Z"}  # fmt: skip
