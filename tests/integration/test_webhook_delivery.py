"""Webhook delivery end to end: real Redis, real RQ jobs in-process, a real HTTP receiver.

Retry delays come from an injected RetryPolicy (tests.webhook_support.FAST),
so hours become fractions of a second; RQ's scheduler still rounds to seconds.
"""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bridge import keys
from bridge.config import Environment, Secret, Settings
from bridge.crypto import Vault
from bridge.events.emit import emit, emit_many
from bridge.events.model import Event
from bridge.metrics import model
from bridge.storage import Storage
from bridge.storage.metrics import MetricsStore
from bridge.storage.publish import Publication, Publisher
from bridge.webhooks.delivery import Attempt, DeliveryStatus, RetryPolicy
from bridge.webhooks.signing import verify
from tests.webhook_support import FAST, drain, run_jobs, webhook_worker
from workers.context import worker_context
from workers.webhooks import deliver_webhook, sweep_webhook_deliveries

SECRET = "integration-secret-0123456789abcdef"


@pytest.fixture
def settings(redis_url, tmp_path) -> Settings:
    return Settings(secret=Secret(SECRET), redis_url=redis_url, data_dir=tmp_path)


@pytest.fixture
def storage(redis_client) -> Storage:
    return Storage(redis_client, Vault(SECRET))


@pytest.fixture
def dispatcher(storage, settings):
    with webhook_worker(storage, settings, policy=FAST) as d:
        yield d


class _Clock:
    """The dispatcher's clock seam (``bridge.clock.Clock``), set by the test."""

    def __init__(self, at: float) -> None:
        self.at = at

    def time(self) -> float:
        return self.at

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.at, UTC)


def _subscribe(storage, url, events=None, account=None):
    return storage.webhooks.create(url, events, account)


def _deliveries(storage, webhook_id):
    return [d for d, _ in storage.webhooks.page(webhook_id, limit=100)[0]]


def _all_settled(storage, webhook_id, n):
    found = _deliveries(storage, webhook_id)
    return len(found) == n and all(d.status is not DeliveryStatus.PENDING for d in found)


def _body_copies(redis_client):
    return list(redis_client.scan_iter(keys.webhook_body("*")))


# -- the reliability test the issue asks for ---------------------------------------------------


def test_receiver_down_then_up_loses_nothing_and_logs_the_failures(storage, redis_client, http_receiver, dispatcher):
    sub, secret = _subscribe(storage, http_receiver.url + "/hook")
    http_receiver.down()
    events = [emit(storage, "acme", "messageNew", {"n": i}, dispatcher=dispatcher) for i in range(5)]
    # While the receiver is down, every first attempt and at least one retry fail.
    drain(redis_client, lambda: all(d.attempts >= 2 for d in _deliveries(storage, sub.id)))
    assert all(d.status is DeliveryStatus.PENDING for d in _deliveries(storage, sub.id))

    # Pending deliveries keep their event's body even when the bounded event stream drops the event.
    assert len(_body_copies(redis_client)) == 5
    redis_client.xtrim(keys.events("acme"), maxlen=0)

    http_receiver.up()
    drain(redis_client, lambda: _all_settled(storage, sub.id, 5))
    assert _body_copies(redis_client) == []

    received = {r.headers["webhook-id"]: r for r in http_receiver.requests if r.status == 200}
    assert set(received) == {e.id for e in events}
    for event in events:
        request = received[event.id]
        assert verify(secret, request.headers, request.body, now=request.received_at)
        assert request.json() == event.to_dict()
    for delivery, attempts in storage.webhooks.page(sub.id, limit=10)[0]:
        assert delivery.status is DeliveryStatus.DELIVERED
        assert attempts[0].outcome == "delivered" and attempts[0].status_code == 200
        failed = attempts[1:]
        assert len(failed) >= 2 and all(a.outcome == "retry" and a.status_code is None for a in failed)
        assert all("Connect" in (a.error or "") for a in failed)
        assert [a.attempt for a in attempts] == list(range(len(attempts), 0, -1))


def test_after_a_burst_redis_keeps_no_body_of_a_delivered_event(storage, redis_client, http_receiver, dispatcher):
    """Issue 14: webhook bodies do not grow with mail volume; the event stream holds the events."""
    one, _ = _subscribe(storage, http_receiver.url + "/one")
    two, _ = _subscribe(storage, http_receiver.url + "/two", events=("messageNew",))
    items = [Publication("acme", "messageNew" if i % 3 else "messageDeleted", {"n": i, "pad": "x" * 2000})
             for i in range(60)]  # fmt: skip
    for start in range(0, len(items), 20):
        emit_many(storage, items[start : start + 20], dispatcher=dispatcher)
    drain(redis_client, lambda: _all_settled(storage, one.id, 60) and _all_settled(storage, two.id, 40))
    assert {d.status for d in _deliveries(storage, one.id) + _deliveries(storage, two.id)} == {DeliveryStatus.DELIVERED}
    assert _body_copies(redis_client) == []
    # Every body arrived exactly as the event is in the stream.
    kept = {e.id: e.to_dict() for e in storage.events.since("acme", 0, count=1000)}
    received = [r for r in http_receiver.requests if r.status == 200]
    assert len(received) == 100
    assert all(r.json() == kept[r.headers["webhook-id"]] for r in received)


def test_finished_deliveries_past_the_listing_bound_are_deleted_pending_ones_kept(storage, redis_client):
    """Delivery records are bounded by count (the listing's bound), never at the cost of a pending one."""
    publisher = Publisher(redis_client, 3600, max_listed=3)
    sub, _ = _subscribe(storage, "https://hooks.example/x")

    def publish(n):
        [published] = publisher.publish([Publication("acme", "messageNew", {"n": n})], now=time.time(), grace=60,
                                        sweep_ttl=3)  # fmt: skip
        return published.deliveries[0]

    first = publish(0)  # stays pending (nobody attempts it)
    finished = []
    for n in range(1, 4):
        delivery = publish(n)
        claim = storage.webhooks.claim(delivery.id, 1, lease_s=5)
        attempt = Attempt(1, "2026-12-07T00:00:00.000Z", 200, 1.0, None, "delivered", None, None)
        storage.webhooks.record(claim.delivery, attempt, DeliveryStatus.DELIVERED, grace=60)
        finished.append(delivery)
    newest = [publish(n) for n in range(4, 7)]
    assert [d.id for d in _deliveries(storage, sub.id)] == [d.id for d in reversed(newest)]
    for delivery in finished:  # out of the listing and finished: gone, attempt log included
        assert not redis_client.exists(keys.delivery(delivery.id), keys.delivery_attempts(delivery.id))
    # The pending one left the listing but not Redis: it is still due and will be attempted.
    assert storage.webhooks.claim(first.id, 1, lease_s=5).body is not None
    assert redis_client.zscore(keys.deliveries_due(), first.id) is not None


def test_first_attempt_goes_through_rq_without_a_dispatcher(storage, redis_client, http_receiver, settings):
    # The web process passes no dispatcher; the first attempt is a job for a worker, made by its context's.
    sub, secret = _subscribe(storage, http_receiver.url)
    event = emit(storage, "acme", "messageNew", {"subject": "via rq"})
    assert http_receiver.requests == []  # nothing is sent until a worker runs
    with worker_context(storage, settings, webhook_policy=FAST):
        run_jobs(redis_client)
    request = http_receiver.wait_for(1)[0]
    assert request.headers["webhook-id"] == event.id
    assert verify(secret, request.headers, request.body, now=time.time())


def test_headers_and_body(storage, http_receiver, dispatcher):
    sub, secret = _subscribe(storage, f"http://localhost:{http_receiver.port}/in?x=1")
    event = emit(storage, "acme", "messageNew", {"subject": "Grüße"}, dispatcher=dispatcher)
    request = http_receiver.wait_for(1)[0]
    assert request.method == "POST" and request.path == "/in?x=1"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("Mailbridge/")
    # The socket went to the vetted IP, the Host header still names the URL's host.
    assert request.headers["host"] == f"localhost:{http_receiver.port}"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 5
    assert request.headers["webhook-signature"].startswith("v1,")
    assert request.json() == event.to_dict()


def test_only_matching_subscriptions_get_deliveries(storage, http_receiver, dispatcher):
    everything, _ = _subscribe(storage, http_receiver.url + "/all")
    filtered, _ = _subscribe(storage, http_receiver.url + "/acme-new", events=("messageNew",), account="acme")
    emit(storage, "acme", "messageNew", {}, dispatcher=dispatcher)
    emit(storage, "acme", "messageSent", {}, dispatcher=dispatcher)
    emit(storage, "other", "messageNew", {}, dispatcher=dispatcher)
    http_receiver.wait_for(4)
    time.sleep(0.2)
    paths = sorted(r.path for r in http_receiver.requests)
    assert paths == ["/acme-new", "/all", "/all", "/all"]
    assert len(_deliveries(storage, filtered.id)) == 1 and len(_deliveries(storage, everything.id)) == 3


@pytest.mark.parametrize(
    ("events", "account", "wanted"),
    [
        (None, None, {("acme", "messageNew"), ("acme", "messageSent"), ("other", "messageNew")}),
        (("messageNew",), None, {("acme", "messageNew"), ("other", "messageNew")}),
        (None, "acme", {("acme", "messageNew"), ("acme", "messageSent")}),
        (("messageNew",), "acme", {("acme", "messageNew")}),
        (("messageSent", "messageNew"), "acme", {("acme", "messageNew"), ("acme", "messageSent")}),
        (("messageFailed",), None, set()),
        (None, "nobody", set()),
    ],
)
def test_the_publish_script_matches_subscriptions_by_event_and_account(storage, events, account, wanted):
    # Matching lives only in the Lua publish step (bridge/storage/publish.py): exercise it on real Redis.
    sub, _ = _subscribe(storage, "http://127.0.0.1:9/hook", events=events, account=account)
    sent = [("acme", "messageNew"), ("acme", "messageSent"), ("other", "messageNew")]
    published = storage.publisher.publish(
        [Publication(a, name, {}) for a, name in sent], now=time.time(), grace=60, sweep_ttl=3
    )
    got = {(p.event.account, p.event.event) for p in published if any(d.webhook_id == sub.id for d in p.deliveries)}
    assert got == wanted
    assert len(_deliveries(storage, sub.id)) == len(wanted)


# -- outcomes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 404, 410])
def test_4xx_stops_retries(storage, redis_client, http_receiver, dispatcher, status):
    sub, _ = _subscribe(storage, http_receiver.url)
    http_receiver.respond_always(status)
    emit(storage, "acme", "messageNew", {}, dispatcher=dispatcher)
    drain(redis_client, lambda: _all_settled(storage, sub.id, 1))
    time.sleep(1.1)
    run_jobs(redis_client)
    [(delivery, attempts)] = storage.webhooks.page(sub.id, limit=1)[0]
    assert delivery.status is DeliveryStatus.FAILED and delivery.attempts == 1
    assert attempts[0].status_code == status and attempts[0].error == f"HTTP {status}"
    assert len(http_receiver.requests) == 1


@pytest.mark.parametrize("status", [500, 503, 408, 429])
def test_transient_statuses_are_retried_until_delivered(storage, redis_client, http_receiver, dispatcher, status):
    sub, _ = _subscribe(storage, http_receiver.url)
    http_receiver.respond(status, times=2)
    emit(storage, "acme", "messageNew", {}, dispatcher=dispatcher)
    drain(redis_client, lambda: _all_settled(storage, sub.id, 1))
    [(delivery, attempts)] = storage.webhooks.page(sub.id, limit=1)[0]
    assert delivery.status is DeliveryStatus.DELIVERED
    assert [a.status_code for a in attempts] == [200, status, status]


def test_a_redirect_is_a_failure_and_is_not_followed(storage, redis_client, http_receiver, dispatcher):
    sub, _ = _subscribe(storage, http_receiver.url + "/old")
    http_receiver.respond(301, times=1)
    emit(storage, "acme", "messageNew", {}, dispatcher=dispatcher)
    drain(redis_client, lambda: _all_settled(storage, sub.id, 1))
    [(delivery, attempts)] = storage.webhooks.page(sub.id, limit=1)[0]
    assert [a.status_code for a in attempts] == [200, 301]
    assert attempts[1].outcome == "retry" and attempts[1].error.startswith("HTTP 301")
    assert [r.path for r in http_receiver.requests] == ["/old", "/old"]  # the retry, never a followed redirect


def test_the_timeout_is_honoured(storage, redis_client, http_receiver, settings):
    sub, _ = _subscribe(storage, http_receiver.url)
    http_receiver.delay(1.0)
    policy = replace(FAST, timeout=0.3)
    with webhook_worker(storage, settings, policy=policy) as d:
        emit(storage, "acme", "messageNew", {}, dispatcher=d)
        deadline = time.monotonic() + 5
        while not any(d.attempts for d in _deliveries(storage, sub.id)) and time.monotonic() < deadline:
            time.sleep(0.02)
    [(delivery, attempts)] = storage.webhooks.page(sub.id, limit=1)[0]
    assert delivery.status is DeliveryStatus.PENDING  # a timeout is transient
    assert attempts[0].error.startswith("timed out after 0.3 s")
    assert 250 <= attempts[0].latency_ms < 1000
    # The receiver records the request only when its delayed answer fails; let that happen now, not in the next test.
    http_receiver.wait_for(1, timeout=5)


def test_retries_end_after_the_last_attempt(storage, redis_client, http_receiver, settings):
    sub, _ = _subscribe(storage, http_receiver.url)
    http_receiver.respond_always(500)
    with webhook_worker(storage, settings, policy=replace(FAST, delays=(0.1, 0.1))) as d:
        emit(storage, "acme", "messageNew", {}, dispatcher=d)
        drain(redis_client, lambda: _all_settled(storage, sub.id, 1))
    [(delivery, attempts)] = storage.webhooks.page(sub.id, limit=1)[0]
    assert delivery.status is DeliveryStatus.FAILED and delivery.attempts == 3
    assert attempts[0].error == "HTTP 500; gave up after 3 attempts"


def test_a_slow_receiver_does_not_block_the_emitter(storage, http_receiver, dispatcher):
    _subscribe(storage, http_receiver.url)
    http_receiver.delay(1.0)
    started = time.perf_counter()
    for i in range(20):
        emit(storage, "acme", "messageNew", {"n": i}, dispatcher=dispatcher)
    assert time.perf_counter() - started < 3.0  # blocking on the receiver would take 20 s
    http_receiver.delay(0)


# -- SSRF at connect time ---------------------------------------------------------------------


def test_production_refuses_a_loopback_name_at_connect_time(storage, redis_client, http_receiver, settings):
    # Registered while in development (or rebound since): production still refuses when connecting.
    sub, _ = _subscribe(storage, f"http://localhost:{http_receiver.port}/hook")
    production = replace(settings, env=Environment.PRODUCTION)
    with webhook_worker(storage, production, policy=FAST) as d:
        emit(storage, "acme", "messageNew", {}, dispatcher=d)
        drain(redis_client, lambda: _all_settled(storage, sub.id, 1))
    [(delivery, attempts)] = storage.webhooks.page(sub.id, limit=1)[0]
    assert delivery.status is DeliveryStatus.FAILED
    assert attempts[0].error.startswith("refused to connect to localhost: loopback address")
    assert http_receiver.requests == []


def test_production_refuses_a_private_ip_literal_at_connect_time(storage, redis_client, http_receiver, settings):
    sub, _ = _subscribe(storage, f"http://127.0.0.1:{http_receiver.port}/hook")
    with webhook_worker(storage, replace(settings, env=Environment.PRODUCTION), policy=FAST) as d:
        emit(storage, "acme", "messageNew", {}, dispatcher=d)
        drain(redis_client, lambda: _all_settled(storage, sub.id, 1))
    assert http_receiver.requests == []


# -- rotation -----------------------------------------------------------------------------------


def test_rotation_signs_with_both_secrets_for_24_hours_then_only_the_new(storage, http_receiver, settings):
    sub, old = _subscribe(storage, http_receiver.url)
    now = time.time()
    _, new = storage.webhooks.rotate(sub.id, now)
    clock = _Clock(now)
    with webhook_worker(storage, settings, policy=FAST, clock=clock) as d:
        emit(storage, "acme", "messageNew", {"phase": "overlap"}, dispatcher=d)
        during = http_receiver.wait_for(1)[0]
        clock.at = now + 24 * 3600 + 1
        emit(storage, "acme", "messageNew", {"phase": "after"}, dispatcher=d)
        after = http_receiver.wait_for(2)[1]
    stamp = int(during.headers["webhook-timestamp"])
    assert len(during.headers["webhook-signature"].split()) == 2
    assert verify(old, during.headers, during.body, now=stamp)
    assert verify(new, during.headers, during.body, now=stamp)
    stamp = int(after.headers["webhook-timestamp"])
    assert len(after.headers["webhook-signature"].split()) == 1
    assert verify(new, after.headers, after.body, now=stamp)
    assert not verify(old, after.headers, after.body, now=stamp)


# -- crash safety and idempotent jobs ----------------------------------------------------------


def _publish_only(storage, *, now: float, grace: float) -> Event:
    """What a process that died right after publishing leaves: the event and its pending deliveries."""
    [published] = storage.publisher.publish([Publication("acme", "messageNew", {})], now=now, grace=grace, sweep_ttl=3)
    return published.event


def test_sweeper_delivers_what_a_crashed_process_left(storage, redis_client, http_receiver, dispatcher):
    # A process wrote the deliveries and died before any attempt: only the records exist.
    sub, _ = _subscribe(storage, http_receiver.url)
    event = _publish_only(storage, now=time.time() - 60, grace=FAST.grace)
    assert sweep_webhook_deliveries() == 1
    drain(redis_client, lambda: _all_settled(storage, sub.id, 1))
    assert http_receiver.requests[0].headers["webhook-id"] == event.id
    assert storage.webhooks.pending_count() == 0


def test_a_duplicate_job_adds_no_attempt(storage, redis_client, http_receiver, dispatcher):
    sub, _ = _subscribe(storage, http_receiver.url)
    emit(storage, "acme", "messageNew", {}, dispatcher=dispatcher)
    http_receiver.wait_for(1)
    drain(redis_client, lambda: _all_settled(storage, sub.id, 1))
    [delivery] = _deliveries(storage, sub.id)
    assert deliver_webhook(delivery.id, 1) == "skipped:done"
    assert len(http_receiver.requests) == 1


def test_a_deleted_subscription_fails_its_pending_deliveries(storage, http_receiver, dispatcher):
    sub, _ = _subscribe(storage, http_receiver.url)
    [published] = storage.publisher.publish(
        [Publication("acme", "messageNew", {})], now=time.time(), grace=60, sweep_ttl=3
    )
    [delivery] = published.deliveries
    storage.webhooks.delete(sub.id)
    assert deliver_webhook(delivery.id, 1) == "failed"
    assert storage.webhooks.attempts(delivery.id)[0].error == "the webhook was deleted"
    assert http_receiver.requests == []


def test_the_sweep_chain_stops_when_nothing_is_pending(storage, redis_client, http_receiver, dispatcher):
    sub, _ = _subscribe(storage, http_receiver.url)
    emit(storage, "acme", "messageNew", {}, dispatcher=dispatcher)
    drain(redis_client, lambda: _all_settled(storage, sub.id, 1))
    assert sweep_webhook_deliveries() == 0
    assert storage.webhooks.sweeper.claim(3)  # released: the next emit starts a new chain


def test_a_startup_sweep_restarts_the_chain_only_when_needed(storage, redis_client, http_receiver, dispatcher):
    sub, _ = _subscribe(storage, http_receiver.url)
    assert sweep_webhook_deliveries(startup=True) == 0
    assert storage.webhooks.sweeper.claim(3)  # nothing pending: no chain was started
    redis_client.delete(keys.delivery_sweeper())
    _publish_only(storage, now=time.time() - 60, grace=FAST.grace)
    redis_client.delete(keys.delivery_sweeper())  # the chain died with its worker
    assert sweep_webhook_deliveries(startup=True) == 1
    assert not storage.webhooks.sweeper.claim(3)  # a new chain runs
    drain(redis_client, lambda: _all_settled(storage, sub.id, 1))


def test_policy_defaults_are_the_documented_schedule():
    policy = RetryPolicy()
    assert policy.max_attempts == 8 and policy.timeout == 10.0


def test_a_worker_start_sweep_needs_no_settings_when_idle(redis_client):
    # Every worker enqueues a startup sweep; with nothing pending it must not need BRIDGE_* settings.
    from rq.registry import FailedJobRegistry

    from bridge import jobs

    jobs.enqueue_webhook_sweep(redis_client, 0, startup=True)
    run_jobs(redis_client)
    assert FailedJobRegistry("webhooks", connection=redis_client).count == 0


def test_an_attempt_is_recorded_and_counted_in_one_round_trip_even_after_a_script_flush(storage, redis_client):
    """The record goes with the attempt's metrics as a bare EVALSHA; Redis may have lost the script."""
    sub, _ = _subscribe(storage, "https://hooks.example/x")
    now = time.time()
    for n in range(2):
        [published] = storage.publisher.publish([Publication("acme", "messageNew", {"n": n})], now=now, grace=60,
                                                sweep_ttl=3)  # fmt: skip
        delivery = published.deliveries[0]
        if n == 1:
            redis_client.script_flush()  # a restarted Redis: the EVALSHA answers NOSCRIPT
        claim = storage.webhooks.claim(delivery.id, 1, lease_s=5)
        attempt = Attempt(1, "2026-12-07T00:00:00.000Z", 200, 20.0, None, "delivered", None, None)
        storage.webhooks.record(
            claim.delivery, attempt, DeliveryStatus.DELIVERED, grace=60,
            also=lambda pipe: MetricsStore.webhook_attempt_into(pipe, "delivered", 0.02, now),
        )  # fmt: skip
        assert storage.webhooks.get_delivery(sub.id, delivery.id).status is DeliveryStatus.DELIVERED
        assert redis_client.zscore(keys.deliveries_due(), delivery.id) is None
    counted = storage.metrics.stored()
    assert counted.counters[(model.WEBHOOK_ATTEMPTS, "delivered")] == 2
