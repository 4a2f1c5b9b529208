"""Review: a hold's JSON form survives the Redis hash encoding unchanged; its held message and send settings."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from bridge.storage.outbox_records import Reference
from bridge.storage.review_records import HeldAttachment, HeldMessage, HeldSend, Review, decode, encode

MESSAGE = HeldMessage(
    sender="a@x", to=("b@y",), cc=(), bcc=("c@z",), subject="Hi", text="hello", html=None,
    attachments=(HeldAttachment("a.pdf", "application/pdf", 12),),
)  # fmt: skip
SEND = HeldSend(
    envelope_from="a@x", envelope_to=("b@y", "c@z"), send_at=None, max_attempts=3, copy=True, smtputf8=False,
    conversation_id="conv", reference=Reference("m1", "reply", "INBOX", 7, 42, "<o@x>"),
)  # fmt: skip

HOLD = Review(
    id="rev_1", account="acme", direction="outbound", state="pending", created_at="2026-03-01T12:00:00.000Z",
    expires_at=1772370000.25, expires_at_iso="2026-03-01T13:00:00.250Z", on_expiry="reject", message_id="<m@x>",
    subject="Hi", sender="a@x", recipients=("b@y",), preview="hello", decision="held", rule="outbound.review",
    reason="external_recipients", body_sha256="0" * 64, reviewers=("r@acme.test",),
    message=MESSAGE, send=SEND,
)  # fmt: skip


def _stored(review: Review) -> Review:
    return decode({k.encode(): v.encode() for k, v in encode(review.to_json()).items()})


def test_round_trip_pending_and_decided() -> None:
    assert _stored(HOLD) == HOLD
    decided = replace(HOLD, state="approved", decided_at="2026-03-01T12:30:00.000Z", decided_by="token:t1",
                      outcome="approve", queue_id="q1")  # fmt: skip
    assert _stored(decided) == decided


def test_json_form_is_the_api_shape() -> None:
    doc = HOLD.to_json()
    assert doc["from"] == "a@x" and doc["expiresAtIso"] == "2026-03-01T13:00:00.250Z"
    assert doc["recipients"] == ["b@y"] and doc["reviewers"] == ["r@acme.test"]
    assert doc["decidedAt"] is None and doc["queueId"] is None
    inbound = replace(HOLD, direction="inbound", message=None, send=None).to_json()
    assert "message" not in inbound and "send" not in inbound


def test_held_message_json_and_decided_form() -> None:
    doc = MESSAGE.to_json()
    assert doc == {
        "from": "a@x", "to": ["b@y"], "cc": [], "bcc": ["c@z"], "subject": "Hi", "text": "hello", "html": None,
        "attachments": [{"filename": "a.pdf", "contentType": "application/pdf", "size": 12}],
    }  # fmt: skip
    assert HeldMessage.from_json(doc) == MESSAGE
    decided = MESSAGE.without_bodies()
    assert "text" not in decided.to_json() and "html" not in decided.to_json()
    assert HeldMessage.from_json(decided.to_json()) == decided
    assert _stored(replace(HOLD, message=decided)).message == decided
    assert MESSAGE.guarded_text() == "Hi\nhello\n"


def test_approved_send_becomes_an_outbox_entry_queued_like_a_submission() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    entry = SEND.entry(HOLD, queue_id="q1", job_id="send-q1", now=now)
    assert (entry.queue_id, entry.account, entry.message_id, entry.subject) == ("q1", "acme", "<m@x>", "Hi")
    assert entry.state == "queued" and entry.review_id == "rev_1" and entry.job_id == "send-q1"
    assert entry.envelope == {"from": "a@x", "to": ["b@y", "c@z"]} and entry.max_attempts == 3
    assert entry.reference == SEND.reference and entry.copy and entry.conversation_id == "conv"
    later = replace(SEND, send_at="2026-03-01T13:00:00.000Z").entry(HOLD, queue_id="q2", job_id="j", now=now)
    assert later.state == "scheduled" and later.send_at == "2026-03-01T13:00:00.000Z"
    assert HeldSend.from_json(SEND.to_json()) == SEND
