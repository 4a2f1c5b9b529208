"""Submit and outbox API against a real Redis: validation, idempotency, queueing, cancel.

Sending itself is tested in tests/integration/test_send.py; here no worker runs,
so every accepted message stays queued and every refused one must leave no
trace (no outbox entry, no RQ job).
"""

from __future__ import annotations

import base64
import email
import email.policy
from datetime import UTC, datetime, timedelta

import pytest

from bridge import jobs
from bridge.compose.build import MAX_MESSAGE_BYTES
from bridge.config import Secret
from bridge.models import Account, ServerConfig

ACCOUNT = "acme"
SUBMIT = f"/v1/account/{ACCOUNT}/submit"


@pytest.fixture
def account(storage):
    server = ServerConfig(host="127.0.0.1", port=1, user="support@acme.test", password=Secret("pw"))
    return storage.accounts.create(
        Account(id=ACCOUNT, email="support@acme.test", name="Acme Support", imap=server, smtp=server)
    )


@pytest.fixture
def nothing_queued(redis_client):
    """Assert after the test body that no outbox entry, raw message or RQ job exists."""

    def check():
        assert [k for k in redis_client.keys("bridge:outbox*")] == []
        queue = jobs.queue("send", redis_client)
        assert queue.count == 0
        assert queue.scheduled_job_registry.count == 0

    return check


def body(**overrides):
    out = {"to": [{"name": "Ann", "address": "ann@example.com"}], "subject": "Hello", "text": "Hi Ann"}
    out.update(overrides)
    return out


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- accepted ---------------------------------------------------------------


def test_submit_queues_and_answers_like_emailengine(client, auth, account, storage, redis_client):
    resp = client.post(SUBMIT, json=body(), headers=auth)
    assert resp.status_code == 202, resp.json
    answer = resp.json
    assert set(answer) == {"response", "messageId", "queueId", "sendAt"}
    assert answer["response"] == "Queued for delivery"
    assert answer["messageId"].startswith("<") and answer["messageId"].endswith("@acme.test>")
    entry = storage.outbox.get(answer["queueId"])
    assert entry.state == "queued"
    assert entry.envelope == {"from": "support@acme.test", "to": ["ann@example.com"]}
    assert jobs.queue("send", redis_client).count == 1
    # The composed bytes are stored, not the JSON.
    parsed = email.message_from_bytes(storage.outbox.raw(answer["queueId"]), policy=email.policy.default)
    assert parsed["From"] == "Acme Support <support@acme.test>"
    assert parsed["Message-ID"] == answer["messageId"]


def test_bcc_is_in_the_envelope_only(client, auth, account, storage):
    resp = client.post(SUBMIT, json=body(bcc=[{"address": "hidden@example.com"}]), headers=auth)
    entry = storage.outbox.get(resp.json["queueId"])
    assert entry.envelope_to == ("ann@example.com", "hidden@example.com")
    assert b"hidden@example.com" not in storage.outbox.raw(resp.json["queueId"])


def test_send_at_in_the_future_is_scheduled(client, auth, account, storage, redis_client):
    when = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    resp = client.post(SUBMIT, json=body(sendAt=when.isoformat()), headers=auth)
    assert resp.status_code == 202
    assert resp.json["sendAt"] == when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    assert storage.outbox.get(resp.json["queueId"]).state == "scheduled"
    queue = jobs.queue("send", redis_client)
    assert queue.count == 0 and queue.scheduled_job_registry.count == 1


def test_outbox_lists_gets_and_cancels(client, auth, account, redis_client):
    first = client.post(SUBMIT, json=body(), headers=auth).json["queueId"]
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    second = client.post(SUBMIT, json=body(sendAt=later), headers=auth).json["queueId"]

    listed = client.get("/v1/outbox", headers=auth).json["messages"]
    assert [m["queueId"] for m in listed] == [first, second]
    assert [m["state"] for m in listed] == ["queued", "scheduled"]

    one = client.get(f"/v1/outbox/{second}", headers=auth).json
    assert one["attempts"] == 0 and one["maxAttempts"] == 10 and one["lastError"] is None

    assert client.delete(f"/v1/outbox/{second}", headers=auth).json == {"deleted": True, "id": second}
    assert client.get(f"/v1/outbox/{second}", headers=auth).json["state"] == "cancelled"
    assert [m["queueId"] for m in client.get("/v1/outbox", headers=auth).json["messages"]] == [first]
    # The scheduled job is gone too; a second cancel is refused.
    assert jobs.queue("send", redis_client).scheduled_job_registry.count == 0
    again = client.delete(f"/v1/outbox/{second}", headers=auth)
    assert again.status_code == 409 and again.json["error"]["code"] == "notCancellable"


def test_outbox_unknown_queue_id_is_404(client, auth):
    assert client.get("/v1/outbox/nope", headers=auth).status_code == 404
    assert client.delete("/v1/outbox/nope", headers=auth).status_code == 404


# --- idempotency --------------------------------------------------------------


def test_same_idempotency_key_and_body_returns_first_answer_and_queues_once(client, auth, account, redis_client):
    headers = {**auth, "Idempotency-Key": "order-42"}
    first = client.post(SUBMIT, json=body(), headers=headers)
    # Same body, keys in another order: still the same request.
    second = client.post(SUBMIT, json=dict(reversed(list(body().items()))), headers=headers)
    assert first.status_code == second.status_code == 202
    assert second.json == first.json
    assert second.headers["Idempotent-Replayed"] == "true"
    assert jobs.queue("send", redis_client).count == 1


def test_same_idempotency_key_with_other_body_is_409(client, auth, account, redis_client):
    headers = {**auth, "Idempotency-Key": "order-42"}
    assert client.post(SUBMIT, json=body(), headers=headers).status_code == 202
    resp = client.post(SUBMIT, json=body(subject="Other"), headers=headers)
    assert resp.status_code == 409
    assert resp.json["error"]["code"] == "idempotencyKeyReused"
    assert jobs.queue("send", redis_client).count == 1


def test_idempotency_keys_are_per_account(client, auth, account, storage, redis_client):
    other = storage.accounts.get(ACCOUNT)
    storage.accounts.create(Account(id="other", email="x@other.test", imap=other.imap, smtp=other.smtp))
    headers = {**auth, "Idempotency-Key": "k"}
    a = client.post(SUBMIT, json=body(), headers=headers).json
    b = client.post("/v1/account/other/submit", json=body(), headers=headers).json
    assert a["queueId"] != b["queueId"]


# --- refused: nothing queued ------------------------------------------------------

HUGE = "x" * 5000

BAD_BODIES = {
    "to is not a list": ({"to": "ann@example.com", "text": "x"}, "to"),
    "address is a number": ({"to": [{"address": 42}], "text": "x"}, "to.0.address"),
    "address missing": ({"to": [{"name": "Ann"}], "text": "x"}, "to.0.address"),
    "unknown field": (body(priority="high"), "priority"),
    "subject is an object": (body(subject={"a": 1}), "subject"),
    "deliveryAttempts zero": (body(deliveryAttempts=0), "deliveryAttempts"),
    "deliveryAttempts a string": (body(deliveryAttempts="many"), "deliveryAttempts"),
    "sendAt not a date": (body(sendAt="tomorrow"), "sendAt"),
    "copy not a bool": (body(copy="perhaps"), "copy"),
    "huge subject": (body(subject=HUGE), "subject"),
    "huge name": (body(to=[{"name": HUGE, "address": "a@example.com"}]), "to.0.name"),
    "too many recipients": (body(to=[{"address": f"u{i}@example.com"} for i in range(501)]), "to"),
    "CRLF in subject": (body(subject="Hi\r\nBcc: victim@example.com"), "subject"),
    "LF in a display name": (body(to=[{"name": "Ann\nBcc: v@example.com", "address": "a@example.com"}]), "to.0.name"),
    "CR in a header value": (body(headers={"X-Tag": "a\rb"}), "headers.X-Tag"),
    "vertical tab in a header value": (body(headers={"X-Tag": "a\u000bb"}), "headers.X-Tag"),
    "NUL in the subject": (body(subject="a\u0000b"), "subject"),
    "bad header name": (body(headers={"X Tag:": "a"}), "headers.X Tag:.[key]"),
    "CRLF in a filename": (
        body(attachments=[{"filename": "a\r\n.txt", "content": b64(b"x")}]),
        "attachments.0.filename",
    ),
    "CRLF in messageId": (body(messageId="<a@b>\r\nX: y"), "messageId"),
    "bad base64": (body(attachments=[{"filename": "a.txt", "content": "not base64!"}]), "attachments.0.content"),
    "base64 not a string": (body(attachments=[{"filename": "a.txt", "content": 7}]), "attachments.0.content"),
    "bad content type": (
        body(attachments=[{"content": b64(b"x"), "contentType": "text"}]),
        "attachments.0.contentType",
    ),
    "bad reference action": (body(reference={"message": "msg_1", "action": "bounce"}), "reference.action"),
}


# Checks with a code of their own; every other malformed field is invalidInput.
OWN_CODES = {"bad header name": "invalidHeader", "CRLF in messageId": "invalidMessageId"}


@pytest.mark.parametrize("payload,field,case", [(*v, k) for k, v in BAD_BODIES.items()], ids=BAD_BODIES.keys())
def test_malformed_body_is_400_naming_the_field(client, auth, account, nothing_queued, payload, field, case):
    resp = client.post(SUBMIT, json=payload, headers=auth)
    assert resp.status_code == 400, resp.json
    assert resp.json["error"]["code"] == OWN_CODES.get(case, "invalidInput")
    assert field in [d["field"] for d in resp.json["error"]["details"]]
    nothing_queued()


def test_every_bad_address_is_named(client, auth, account, nothing_queued):
    payload = body(
        to=[{"address": "good@example.com"}, {"address": "no-at-sign"}],
        cc=[{"address": "two@@example.com"}],
        bcc=[{"address": "spaces in@example.com"}],
        **{"from": {"address": "me@"}},
    )
    resp = client.post(SUBMIT, json=payload, headers=auth)
    assert resp.status_code == 400
    details = {d["field"]: d["message"] for d in resp.json["error"]["details"]}
    assert set(details) == {"to.1.address", "cc.0.address", "bcc.0.address", "from.address"}
    for bad in ("no-at-sign", "two@@example.com", "spaces in@example.com", "me@"):
        assert any(repr(bad) in message for message in details.values()), bad
    nothing_queued()


@pytest.mark.parametrize(
    "payload,code",
    [
        ("not json", "invalidJson"),
        (None, "invalidJson"),
    ],
)
def test_non_json_is_400(client, auth, account, nothing_queued, payload, code):
    resp = client.post(SUBMIT, data=payload, headers={**auth, "Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json["error"]["code"] == code
    nothing_queued()


def test_no_recipients_is_400(client, auth, account, nothing_queued):
    resp = client.post(SUBMIT, json={"subject": "x", "text": "y"}, headers=auth)
    assert resp.status_code == 400 and resp.json["error"]["code"] == "noRecipients"
    nothing_queued()


@pytest.mark.parametrize("name", ["Subject", "bcc", "Content-Type", "MIME-Version", "Message-ID"])
def test_headers_the_bridge_owns_are_refused(client, auth, account, nothing_queued, name):
    resp = client.post(SUBMIT, json=body(headers={name: "x"}), headers=auth)
    assert resp.status_code == 400 and resp.json["error"]["code"] == "invalidHeader"
    nothing_queued()


def test_bad_own_message_id_is_400(client, auth, account, nothing_queued):
    resp = client.post(SUBMIT, json=body(messageId="no-at-sign"), headers=auth)
    assert resp.status_code == 400 and resp.json["error"]["code"] == "invalidMessageId"
    nothing_queued()


def test_message_over_25_mib_is_413(client, auth, account, nothing_queued):
    big = b"\0" * (MAX_MESSAGE_BYTES // 4 * 3 + 1024)
    resp = client.post(SUBMIT, json=body(attachments=[{"filename": "big.bin", "content": b64(big)}]), headers=auth)
    assert resp.status_code == 413
    assert resp.json["error"]["code"] == "messageTooLarge"
    nothing_queued()


def test_text_over_25_mib_is_413(client, auth, account, nothing_queued):
    resp = client.post(SUBMIT, json=body(text="y" * (MAX_MESSAGE_BYTES + 1)), headers=auth)
    assert resp.status_code == 413
    nothing_queued()


def test_unknown_account_is_404(client, auth, nothing_queued):
    resp = client.post("/v1/account/ghost/submit", json=body(), headers=auth)
    assert resp.status_code == 404 and resp.json["error"]["code"] == "accountNotFound"
    nothing_queued()


def test_unknown_referenced_message_is_404(client, auth, account, nothing_queued):
    resp = client.post(SUBMIT, json=body(reference={"message": "msg_nope", "action": "reply"}), headers=auth)
    assert resp.status_code == 404 and resp.json["error"]["code"] == "messageNotFound"
    nothing_queued()


def test_account_without_smtp_is_422(client, auth, storage, nothing_queued):
    imap = ServerConfig(host="127.0.0.1", port=1, user="u", password=Secret("p"))
    storage.accounts.create(Account(id="readonly", email="ro@acme.test", imap=imap))
    resp = client.post("/v1/account/readonly/submit", json=body(), headers=auth)
    assert resp.status_code == 422 and resp.json["error"]["code"] == "noSmtpServer"
    nothing_queued()


def test_refused_request_does_not_burn_the_idempotency_key(client, auth, account):
    headers = {**auth, "Idempotency-Key": "retry-me"}
    assert client.post(SUBMIT, json=body(subject="a\nb"), headers=headers).status_code == 400
    assert client.post(SUBMIT, json=body(), headers=headers).status_code == 202


def test_submit_needs_a_token(client, account, nothing_queued):
    assert client.post(SUBMIT, json=body()).status_code == 401
    nothing_queued()


def test_openapi_documents_submit_and_outbox(client):
    spec = client.get("/openapi.json").json
    post = spec["paths"]["/v1/account/{account}/submit"]["post"]
    assert set(post["responses"]) >= {"202", "400", "404", "409", "413"}
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in post["parameters"])
    assert {"get", "delete"} <= set(spec["paths"]["/v1/outbox/{queue_id}"])
