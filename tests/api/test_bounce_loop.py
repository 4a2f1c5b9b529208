"""Issue 5 end to end: send, the recipient's server bounces it into our inbox, the
bounce is tied to the submission, and the address is not mailed again.

Real parts only: the submit API, an RQ worker, the SMTP sink, Dovecot (the bounce
arrives through LMTP like any other mail) and the real watcher + pipeline.
"""

from __future__ import annotations

import time

import pytest
from rq import SimpleWorker

from bridge import jobs
from workers.context import worker_context


@pytest.fixture(autouse=True)
def send_worker(storage, settings):
    """Jobs run in this process (``drain``) find the test's storage in their worker context."""
    with worker_context(storage, settings):
        yield


def drain(storage, until, timeout=10.0):
    """Run burst workers until ``until()`` holds."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "condition not reached"
        SimpleWorker(jobs.all_queues(storage.redis), connection=storage.redis, serializer="json").work(
            burst=True, with_scheduler=True, logging_level="ERROR"
        )
        time.sleep(0.05)


def dsn(to: str, original_id: str, failed: str, status: str, diagnostic: str) -> bytes:
    """A Postfix-style RFC 3464 delivery status notification."""
    boundary = "bounce-boundary"
    return (
        f"From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\r\n"
        f"To: {to}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\n"
        f"Auto-Submitted: auto-replied\r\n"
        f"MIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n"
        f"I'm sorry to have to inform you that your message could not be delivered.\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.example.net\r\n\r\n"
        f"Final-Recipient: rfc822; {failed}\r\nAction: failed\r\nStatus: {status}\r\n"
        f"Remote-MTA: dns; mail.example.org\r\nDiagnostic-Code: smtp; {diagnostic}\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {to}\r\nTo: {failed}\r\nSubject: Hello\r\nMessage-ID: <{original_id}>\r\n\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def test_bounce_is_tied_to_its_submission_and_the_address_is_suppressed(
    client, auth, attached, storage, smtp, dovecot, mailbox
):
    body = {"to": [{"address": "ghost@example.org"}], "subject": "Hello", "text": "Hi"}
    sent = client.post("/v1/account/acme/submit", json=body, headers=auth).json
    drain(storage, lambda: any(m.rcpt_tos == ("ghost@example.org",) for m in smtp.messages))

    dovecot.deliver(
        mailbox.address,
        dsn(mailbox.address, sent["messageId"].strip("<>"), "ghost@example.org", "5.1.1",
            "550 5.1.1 <ghost@example.org>: Recipient address rejected: User unknown"),
    )  # fmt: skip
    [bounce] = attached.wait_events(1, name="messageBounce")
    assert bounce.data["queueId"] == sent["queueId"]
    assert bounce.data["messageId"] == sent["messageId"].strip("<>")
    [rcpt] = bounce.data["recipients"]
    assert (rcpt["recipient"], rcpt["status"], rcpt["hard"]) == ("ghost@example.org", "5.1.1", True)
    assert rcpt["reason"] == "userunknown"

    refused = client.post("/v1/account/acme/submit", json=body, headers=auth)
    assert refused.status_code == 422
    assert refused.json["error"]["code"] == "recipientsSuppressed"
    assert refused.json["error"]["details"]["recipients"] == ["ghost@example.org"]
    assert client.get("/v1/outbox", headers=auth).json["messages"] == []  # nothing queued

    forced = client.post("/v1/account/acme/submit", json={**body, "ignoreSuppression": True}, headers=auth)
    assert forced.status_code == 202


def test_soft_bounce_does_not_suppress(client, auth, attached, storage, smtp, dovecot, mailbox):
    body = {"to": [{"address": "full@example.org"}], "subject": "Hello", "text": "Hi"}
    sent = client.post("/v1/account/acme/submit", json=body, headers=auth).json
    drain(storage, lambda: any(m.rcpt_tos == ("full@example.org",) for m in smtp.messages))
    dovecot.deliver(
        mailbox.address,
        dsn(mailbox.address, sent["messageId"].strip("<>"), "full@example.org", "4.2.2",
            "452 4.2.2 <full@example.org>: Mailbox full"),
    )  # fmt: skip
    [bounce] = attached.wait_events(1, name="messageBounce")
    assert bounce.data["recipients"][0]["hard"] is False
    assert client.post("/v1/account/acme/submit", json=body, headers=auth).status_code == 202


def test_a_bounce_filed_in_junk_is_recognised_too(client, auth, attached, storage, smtp, dovecot, mailbox):
    assert attached.account.watch == ("INBOX", "Junk")
    body = {"to": [{"address": "spamtrapped@example.org"}], "subject": "Hello", "text": "Hi"}
    sent = client.post("/v1/account/acme/submit", json=body, headers=auth).json
    drain(storage, lambda: any(m.rcpt_tos == ("spamtrapped@example.org",) for m in smtp.messages))
    dovecot.append_offline(
        mailbox.address,
        "Junk",
        dsn(mailbox.address, sent["messageId"].strip("<>"), "spamtrapped@example.org", "5.1.1",
            "550 5.1.1 user unknown"),
    )  # fmt: skip
    [bounce] = attached.wait_events(1, name="messageBounce")
    assert bounce.data["queueId"] == sent["queueId"]
    assert client.post("/v1/account/acme/submit", json=body, headers=auth).status_code == 422
