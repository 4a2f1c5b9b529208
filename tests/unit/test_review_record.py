"""Review: a hold's JSON form survives the Redis hash encoding unchanged."""

from __future__ import annotations

from dataclasses import replace

from bridge.storage.review_records import Review, decode, encode

HOLD = Review(
    id="rev_1", account="acme", direction="outbound", state="pending", created_at="2026-03-01T12:00:00.000Z",
    expires_at=1772370000.25, expires_at_iso="2026-03-01T13:00:00.250Z", on_expiry="reject", message_id="<m@x>",
    subject="Hi", sender="a@x", recipients=("b@y",), preview="hello", decision="held", rule="outbound.review",
    reason="external_recipients", body_sha256="0" * 64, reviewers=("r@acme.test",),
    message={"subject": "Hi", "to": ["b@y"]}, send={"envelope": {"from": "a@x", "to": ["b@y"]}, "maxAttempts": 3},
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
