"""MessageRecord owns the JSON of an inbound message; its events are decided in one place."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from bridge.events.model import EventName
from bridge.inbound.records import EVENT_BODY_LIMIT, MessageRecord, Suppress, message_fields
from bridge.mail.message import parse

RAW = (
    b"From: A <a@example.test>\r\nTo: b@example.test\r\nSubject: hi\r\nMessage-ID: <m1@example.test>\r\n"
    b"Date: Sat, 21 Nov 2026 10:00:00 +0000\r\n\r\nbody\r\n"
)
WHEN = datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC)


def _record(**extra: object) -> MessageRecord:
    return MessageRecord.build(
        message_fields(parse(RAW)), message_id="msg_1", account="acme", folder="INBOX", uid=3, uidvalidity=7,
        received_at=WHEN, conversation_id="conv_1", flags=["\\Seen"], extra={"autoReply": False, **extra},
    )  # fmt: skip


def test_the_json_keeps_the_stored_shape_and_order_and_round_trips() -> None:
    record = _record(classification=None)
    doc = record.to_json()
    fields = list(message_fields(parse(RAW)))
    identity = ["id", "account", "folder", "uid", "uidValidity", "conversationId", "receivedAt"]
    assert list(doc) == [*identity, *fields, "flags", "autoReply", "classification"]
    assert doc["receivedAt"] == "2026-11-21T10:00:00.123Z"
    stored = json.loads(json.dumps(doc | {"policy": {"state": "pending"}}))  # a key the gate adds survives
    again = MessageRecord.from_json(stored)
    assert json.dumps(again.to_json()) == json.dumps(stored)
    assert again.uid_validity == 7 and again.header_message_id == "m1@example.test"


def test_the_event_body_drops_big_bodies() -> None:
    record = _record().with_content(text="x" * (EVENT_BODY_LIMIT + 1))
    body = record.for_event()
    assert body["text"] is None and body["textTruncated"] is True
    assert record.to_json()["text"] == "x" * (EVENT_BODY_LIMIT + 1)


def test_a_bounce_is_tied_to_its_submission_and_suppresses_hard_recipients_only() -> None:
    rcpt = {"recipient": "ghost@example.org", "reason": "userunknown", "hard": True}
    soft = {"recipient": "full@example.org", "reason": "mailboxfull", "hard": False}
    classification = {"kind": "bounce", "originalMessageId": "orig@example.test", "recipients": [rcpt, soft]}
    decided = _record(classification=classification).events({"orig@example.test": "q1"}.get)
    assert [name for name, _ in decided.events] == [EventName.MESSAGE_NEW, EventName.MESSAGE_BOUNCE]
    bounce = decided.events[1][1]
    assert (bounce["queueId"], bounce["bounceMessage"], bounce["messageId"]) == ("q1", "msg_1", "orig@example.test")
    assert decided.suppressions == [Suppress("ghost@example.org", "userunknown", "bounce")]


def test_a_plain_message_is_only_new() -> None:
    decided = _record(classification=None).events(lambda _: "never")
    assert [name for name, _ in decided.events] == [EventName.MESSAGE_NEW]
    assert decided.suppressions == []
