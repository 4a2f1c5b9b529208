"""Review holds end to end: submit → hold → reviewer email → magic link or API → sent once (or never).

Real Redis, real SMTP sink (it receives both the reviewer emails and the
approved mail), RQ jobs run in-process in burst mode. Expiry is applied by
calling ``holds.expire`` with a ``now`` past the hold (and the scheduled RQ
job is checked to exist), so no test waits for a clock.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from rq import SimpleWorker
from rq.job import Job

from bridge import jobs, keys
from bridge.outbound import submit as outbound
from bridge.review import holds
from bridge.review.links import LinkAction, make_token
from workers import review as review_jobs
from workers.context import worker_context

ACCOUNT = "acme"
REVIEWER = "reviewer@acme.test"
RECIPIENT = "ann@example.com"
PUBLIC_URL = "https://bridge.example.test"
FAST = outbound.SendPolicy(backoff_base_s=0.2, lease_s=1.0, sweep_interval_s=0.5, grace_s=0.2, smtp_timeout_s=5)
LINK = re.compile(r"https://bridge\.example\.test(/review/[A-Za-z0-9_.\-]+)")


@pytest.fixture
def settings(settings):
    return replace(settings, public_url=PUBLIC_URL)


@pytest.fixture
def workers(storage, settings):
    with worker_context(storage, settings, send_policy=FAST):
        yield


@pytest.fixture
def account(client, auth, account_body, workers):
    assert client.post("/v1/accounts", json=account_body(verify=False), headers=auth).status_code == 201
    return ACCOUNT


def set_policy(client, auth, outbound_policy=None, inbound_policy=None):
    body = {"outbound": {"review": "always", "reviewers": [REVIEWER], **(outbound_policy or {})}}
    if inbound_policy is not None:
        body["inbound"] = inbound_policy
    resp = client.put(f"/v1/account/{ACCOUNT}/policy", json=body, headers=auth)
    assert resp.status_code == 200, resp.json


def submit(client, auth, **fields):
    body = {"to": [{"name": "Ann", "address": RECIPIENT}], "subject": "Quarterly numbers", "copy": False,
            "text": "Hi Ann,\nthe numbers are attached in spirit.\n", **fields}  # fmt: skip
    return client.post(f"/v1/account/{ACCOUNT}/submit", json=body, headers=auth)


def drain(storage, until=lambda: True, timeout=10.0):
    """Run RQ jobs (with the scheduler) in this process until ``until()`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        SimpleWorker(jobs.all_queues(storage.redis), connection=storage.redis, serializer="json").work(
            burst=True, with_scheduler=True, logging_level="ERROR"
        )
        if until():
            return
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def to(sink, address):
    return [m for m in sink.messages if address in m.rcpt_tos]


def review_email(sink):
    """The reviewer's email, parsed, and its (approve, reject) link paths."""
    [received] = to(sink, REVIEWER)
    parsed = email.message_from_bytes(received.raw, policy=email.policy.default)
    text = parsed.get_body(("plain",)).get_content()
    links = LINK.findall(text)
    assert len(links) == 2
    return parsed, links[0], links[1]


def events(storage, name):
    return [e.data for e in storage.events.since(ACCOUNT, 0, count=10_000) if e.event == name]


def held(client, auth, storage, **fields):
    resp = submit(client, auth, **fields)
    assert resp.status_code == 202, resp.json
    return resp.json["reviewId"]


# --- holding -----------------------------------------------------------------------------


def test_held_submit_answers_pending_review_and_queues_nothing(client, auth, account, storage, redis_client):
    set_policy(client, auth)
    resp = submit(client, auth)
    assert resp.status_code == 202
    assert set(resp.json) == {"status", "reviewId", "messageId"}
    assert resp.json["status"] == "pending_review"
    assert redis_client.keys("bridge:outbox*") == []
    assert jobs.queue("send", redis_client).count == 0
    [pending] = events(storage, "reviewPending")
    assert pending["reviewId"] == resp.json["reviewId"] and "subject" not in pending  # no content in events
    listed = client.get("/v1/reviews", headers=auth).json["reviews"]
    assert [r["id"] for r in listed] == [resp.json["reviewId"]]
    assert client.get("/v1/reviews?account=other", headers=auth).json["reviews"] == []
    one = client.get(f"/v1/reviews/{resp.json['reviewId']}", headers=auth).json
    assert one["state"] == "pending" and one["direction"] == "outbound" and one["recipients"] == [RECIPIENT]
    assert one["message"]["text"].startswith("Hi Ann") and one["message"]["to"] == [RECIPIENT]


def test_no_review_needed_queues_as_before(client, auth, account, storage, smtp):
    set_policy(client, auth, {"review": "external"})
    resp = submit(client, auth, to=[{"address": "colleague@" + storage.accounts.get(ACCOUNT).email.split("@")[1]}])
    assert resp.status_code == 202 and "queueId" in resp.json


def test_reviewer_email_has_preview_and_both_links(client, auth, account, storage, smtp):
    set_policy(client, auth)
    held(client, auth, storage)
    drain(storage, lambda: len(to(smtp, REVIEWER)) == 1)
    parsed, approve, reject = review_email(smtp)
    assert parsed["Subject"] == "Review needed: Quarterly numbers"
    assert parsed["Auto-Submitted"] == "auto-generated"
    html = parsed.get_body(("html",)).get_content()
    assert "the numbers are attached in spirit" in html and PUBLIC_URL + approve in html
    assert approve != reject
    assert to(smtp, RECIPIENT) == []


# --- approving and rejecting ---------------------------------------------------------------


def test_link_get_only_shows_then_post_approves_and_it_is_sent_once(client, auth, account, storage, smtp):
    set_policy(client, auth)
    review_id = held(client, auth, storage)
    drain(storage, lambda: len(to(smtp, REVIEWER)) == 1)
    _, approve, reject = review_email(smtp)

    # A mail scanner opening the link changes nothing.
    for _ in range(2):
        page = client.get(approve)
        assert page.status_code == 200
        assert "Approve and send" in page.text and "the numbers are attached in spirit" in page.text
        assert page.text.count("<button") == 1
        assert page.headers["Cache-Control"] == "no-store"
    assert storage.reviews.get(review_id).state == "pending"

    done = client.post(approve)
    assert done.status_code == 200 and "on its way" in done.text
    drain(storage, lambda: len(to(smtp, RECIPIENT)) == 1)
    [sent] = to(smtp, RECIPIENT)
    assert b"Subject: Quarterly numbers" in sent.raw

    # Every later use of either link says so and changes nothing.
    again = client.post(approve)
    assert again.status_code == 409 and "already approved" in again.text
    assert client.get(reject).status_code == 200 and "already approved" in client.get(reject).text
    assert client.post(reject).status_code == 409
    api = client.post(f"/v1/reviews/{review_id}/reject", headers=auth)
    assert api.status_code == 409 and api.json["error"]["code"] == "reviewDecided"
    drain(storage)
    assert len(to(smtp, RECIPIENT)) == 1
    assert len(events(storage, "reviewApproved")) == 1 and len(events(storage, "messageSent")) == 1
    decided = client.get(f"/v1/reviews/{review_id}", headers=auth).json
    assert decided["state"] == "approved" and decided["decidedBy"] == f"link:{REVIEWER}" and decided["queueId"]


def test_api_reject_never_sends(client, auth, account, storage, smtp, redis_client):
    set_policy(client, auth)
    review_id = held(client, auth, storage)
    resp = client.post(f"/v1/reviews/{review_id}/reject", headers=auth)
    assert resp.status_code == 200 and resp.json["state"] == "rejected"
    assert resp.json["decidedBy"].startswith("token:tok_")
    drain(storage)
    assert to(smtp, RECIPIENT) == []
    assert to(smtp, REVIEWER) == []  # the notification job found the hold decided
    assert redis_client.keys("bridge:outbox*") == [] and storage.reviews.raw(review_id) is None
    late = client.post(f"/v1/reviews/{review_id}/approve", headers=auth)
    assert late.status_code == 409
    assert client.get("/v1/reviews", headers=auth).json["reviews"] == []
    [rejected] = events(storage, "reviewRejected")
    assert rejected["outcome"] == "reject"
    # Decided: the hold keeps who and what, but not the bodies.
    message = client.get(f"/v1/reviews/{review_id}", headers=auth).json["message"]
    assert message["to"] == [RECIPIENT] and message["subject"] and not {"text", "html"} & message.keys()


def test_api_approve_sends_once(client, auth, account, storage, smtp):
    set_policy(client, auth)
    review_id = held(client, auth, storage)
    assert client.post(f"/v1/reviews/{review_id}/approve", headers=auth).json["state"] == "approved"
    assert client.post(f"/v1/reviews/{review_id}/approve", headers=auth).status_code == 409
    drain(storage, lambda: len(to(smtp, RECIPIENT)) == 1)
    drain(storage)
    assert len(to(smtp, RECIPIENT)) == 1


def test_racing_decisions_make_one_transition(client, auth, account, storage):
    set_policy(client, auth)
    review_id = held(client, auth, storage)
    now = datetime.now(UTC)
    results: list[str] = []
    start = threading.Barrier(8)

    def act(action):
        start.wait()
        results.append(holds.decide(storage, review_id, action, by="test", now=now).status)

    threads = [threading.Thread(target=act, args=(LinkAction(a),)) for a in ["approve", "reject"] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["already"] * 7 + ["ok"]
    assert len(storage.outbox.active(10)) == (1 if storage.reviews.get(review_id).state == "approved" else 0)


def test_unknown_review_is_404(client, auth):
    assert client.get("/v1/reviews/rev_nope", headers=auth).status_code == 404
    assert client.post("/v1/reviews/rev_nope/approve", headers=auth).status_code == 404


# --- expiry ------------------------------------------------------------------------------


@pytest.mark.parametrize("on_expiry", ["reject", "approve"])
def test_expiry_applies_on_expiry(client, auth, account, storage, smtp, redis_client, on_expiry):
    set_policy(client, auth, {"onExpiry": on_expiry, "holdTtlSeconds": 3600})
    review_id = held(client, auth, storage)
    review = storage.reviews.get(review_id)
    # The expiry job is scheduled for the end of the hold.
    scheduled = jobs.queue("default", redis_client).scheduled_job_registry
    when = scheduled.get_scheduled_time(jobs.review_expire_job_id(review_id))
    assert abs(when.timestamp() - review.expires_at) <= 1
    assert review_jobs.expire_review(review_id) == "early"  # the job does nothing before its time
    # Let the hold run out: move its end into the past rather than wait an hour.
    redis_client.hset(keys.review(review_id), "expiresAt", repr(time.time() - 1))
    assert review_jobs.expire_review(review_id) == "ok"
    assert review_jobs.expire_review(review_id) == "expired"  # once
    drain(storage)
    assert len(to(smtp, RECIPIENT)) == (1 if on_expiry == "approve" else 0)
    [expired] = events(storage, "reviewExpired")
    assert expired["outcome"] == on_expiry and expired["by"] == "expiry"
    assert client.post(f"/v1/reviews/{review_id}/approve", headers=auth).status_code == 410


def test_the_review_sweep_expires_a_hold_whose_expiry_job_was_lost(client, auth, account, storage, redis_client):
    set_policy(client, auth, {"onExpiry": "reject", "holdTtlSeconds": 3600})
    review_id = held(client, auth, storage)
    # Opening the hold started the sweep chain: its key is set and the next sweep is scheduled.
    assert redis_client.exists(keys.review_sweeper())
    scheduled = jobs.queue("default", redis_client).scheduled_job_registry
    assert any(j.func_name == jobs.REVIEW_SWEEP_JOB for j in _jobs(scheduled, redis_client))
    assert review_jobs.sweep_reviews() == 0  # nothing overdue: the chain goes on
    assert redis_client.exists(keys.review_sweeper())
    # The expiry job is lost (say, with Redis data) and the hold ran out a minute ago.
    jobs.discard_job(redis_client, jobs.review_expire_job_id(review_id))
    past = time.time() - 60
    redis_client.hset(keys.review(review_id), "expiresAt", repr(past))
    redis_client.zadd(keys.reviews_pending(), {review_id: past})
    assert review_jobs.sweep_reviews() == 1
    assert storage.reviews.get(review_id).state == "expired"
    [expired] = events(storage, "reviewExpired")
    assert expired["by"] == "expiry"
    assert not redis_client.exists(keys.review_sweeper())  # nothing pending: the chain ended
    assert review_jobs.sweep_reviews(startup=True) == 0


def _jobs(registry, connection):
    return [Job.fetch(job_id, connection=connection, serializer="json") for job_id in registry.get_job_ids()]


def test_decision_after_expiry_time_applies_the_expiry_instead(client, auth, account, storage, smtp):
    set_policy(client, auth, {"onExpiry": "reject"})
    review_id = held(client, auth, storage)
    later = datetime.fromtimestamp(storage.reviews.get(review_id).expires_at + 1, UTC)
    outcome = holds.decide(storage, review_id, LinkAction.APPROVE, by="test", now=later)
    assert outcome.status == "late" and outcome.review.state == "expired"
    drain(storage)
    assert to(smtp, RECIPIENT) == []


# --- links: expired and tampered -----------------------------------------------------------


def test_link_of_an_expired_hold_is_410(client, auth, account, storage, smtp):
    set_policy(client, auth)
    review_id = held(client, auth, storage)
    drain(storage, lambda: len(to(smtp, REVIEWER)) == 1)
    _, approve, _ = review_email(smtp)
    holds.expire(storage, review_id, now=datetime.fromtimestamp(storage.reviews.get(review_id).expires_at, UTC))
    for resp in (client.get(approve), client.post(approve)):
        assert resp.status_code == 410 and "expired" in resp.text
    drain(storage)
    assert to(smtp, RECIPIENT) == []


def test_expired_token_is_410_and_acts_on_nothing(client, auth, account, storage, settings):
    set_policy(client, auth)
    review_id = held(client, auth, storage)
    # A token signed long ago whose lifetime has run out (the hold itself is still pending).
    old = time.time() - 7200
    token = make_token(settings.secret.reveal(), review_id, LinkAction.APPROVE, REVIEWER, expires_at=old + 60, now=old)
    assert client.get(f"/review/{token}").status_code == 410
    assert client.post(f"/review/{token}").status_code == 410
    assert storage.reviews.get(review_id).state == "pending"


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-3] + ("abc" if not t.endswith("abc") else "xyz"),
        lambda t: t.replace(t.split(".")[0], t.split(".")[0][:-2] + "AA", 1),
        lambda t: "not-a-token",
    ],
)
def test_tampered_link_is_400_and_acts_on_nothing(client, auth, account, storage, smtp, tamper):
    set_policy(client, auth)
    review_id = held(client, auth, storage)
    drain(storage, lambda: len(to(smtp, REVIEWER)) == 1)
    _, approve, _ = review_email(smtp)
    bad = "/review/" + tamper(approve.removeprefix("/review/"))
    for resp in (client.get(bad), client.post(bad)):
        assert resp.status_code == 400 and "not valid" in resp.text
        assert "text/html" in resp.content_type
    assert storage.reviews.get(review_id).state == "pending"


# --- outbound guards and idempotency ------------------------------------------------------


def test_outbound_guard_reject_is_422_and_audited(client, auth, account, storage, redis_client):
    guard = {"pattern": r"\bpassword\b", "flags": "i", "action": "reject", "reason": "secret_leak"}
    set_policy(client, auth, {"review": "never", "contentGuards": [guard]})
    resp = submit(client, auth, text="the PASSWORD is hunter2")
    assert resp.status_code == 422 and resp.json["error"]["code"] == "rejectedByPolicy"
    assert resp.json["error"]["details"] == {"rule": "outbound.contentGuards[0]", "reason": "secret_leak"}
    assert redis_client.keys("bridge:outbox*") == []
    [record] = client.get(f"/v1/account/{ACCOUNT}/audit?decision=guard_hit", headers=auth).json["records"]
    assert record["direction"] == "outbound" and record["reason"] == "secret_leak"
    assert len(record["bodySha256"]) == 64
    # Outcome and cause apart: the guard's rejection is found among the rejections.
    assert record["outcome"] == "rejected"
    assert record["cause"] == {
        "kind": "guard",
        "rule": "outbound.contentGuards[0]",
        "reason": "secret_leak",
        "by": None,
    }
    rejected = client.get(f"/v1/account/{ACCOUNT}/audit?decision=rejected", headers=auth).json["records"]
    assert [r["id"] for r in rejected] == [record["id"]]


def test_held_submit_with_idempotency_key_replays_the_pending_answer(client, auth, account, storage):
    set_policy(client, auth)
    headers = {**auth, "Idempotency-Key": "k-1"}
    first = submit(client, {**headers})
    second = submit(client, {**headers})
    assert first.json == second.json and first.json["status"] == "pending_review"
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(client.get("/v1/reviews", headers=auth).json["reviews"]) == 1


def test_audit_records_the_hold_and_the_decision_with_the_body_hash(client, auth, account, storage):
    set_policy(client, auth)
    review_id = held(client, auth, storage)
    client.post(f"/v1/reviews/{review_id}/approve", headers=auth)
    records = client.get(f"/v1/account/{ACCOUNT}/audit", headers=auth).json["records"]
    assert [r["decision"] for r in records] == ["review_approved", "held"]
    assert [r["outcome"] for r in records] == ["approved", "held"]
    assert [r["cause"]["kind"] for r in records] == ["reviewer", "rule"]
    assert storage.reviews.raw(review_id) is None  # approved: the bytes moved to the outbox
    raw = storage.outbox.raw(storage.reviews.get(review_id).queue_id)
    assert {r["bodySha256"] for r in records} == {hashlib.sha256(raw).hexdigest()}
    assert records[0]["by"].startswith("token:") and records[1]["by"] == "policy"
