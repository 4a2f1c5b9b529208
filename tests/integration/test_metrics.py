"""``GET /metrics`` across the processes `app.py run` starts: web (gunicorn), RQ worker and watcher.

Each process counts into Redis; whichever gunicorn worker answers the scrape reports what all
of them did. The exposition is read with prometheus_client's own parser, so a format mistake
fails here, not in someone's Prometheus.
"""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.test_cli import TOKEN, _request, _wait, _wait_healthy, running_bridge  # noqa: F401 - fixture


def _scrape(base: str, token: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    req = urllib.request.Request(base + "/metrics", headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(req, timeout=20) as resp:  # noqa: S310 - loopback test URL
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        text = resp.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def _scrape_until(base: str, token: str, ready, timeout: float = 30):
    """Scrape until ``ready(samples)`` holds; the last scrape."""

    def attempt():
        samples = _scrape(base, token)
        return samples if ready(samples) else None

    return _wait(attempt, timeout=timeout)


def _value(samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def bridge(running_bridge):  # noqa: F811 - the fixture imported above
    proc, base, log, _ = running_bridge
    _wait_healthy(base, proc, log)
    admin = TOKEN.search(log.read_bytes()).group(1).decode()
    status, created = _request("POST", base + "/v1/tokens", admin, {"description": "prometheus", "scopes": ["metrics"]})
    assert status == 201
    return base, admin, created["token"]


def test_metrics_move_when_mail_arrives_a_webhook_fails_and_a_message_is_sent(
    bridge, mailbox, smtp, dovecot, http_receiver
):
    base, admin, scraper = bridge
    before = _scrape(base, scraper)
    assert _value(before, "mailbridge_accounts", state="connected") == 0
    assert _value(before, "mailbridge_events_emitted_total", event="messageNew") == 0
    assert _value(before, "mailbridge_redis_memory_used_bytes") > 0
    assert ("mailbridge_queue_depth", (("queue", "scheduled"),)) in before

    # The scraper's token opens /metrics and nothing else; an admin token works too (admin implies it).
    assert _request("GET", base + "/v1/accounts", scraper)[0] == 403
    assert _scrape(base, admin)

    http_receiver.respond_always(500)
    assert (
        _request("POST", base + "/v1/webhooks", admin, {"url": http_receiver.url, "events": ["messageNew"]})[0] == 201
    )
    smtp.add_user(mailbox.address, mailbox.password)
    server = {"host": mailbox.host, "secure": False, "starttls": False}
    auth = {"user": mailbox.address, "pass": mailbox.password}
    body = {
        "account": "support",
        "email": mailbox.address,
        "imap": {**server, "port": mailbox.imap_port, "auth": auth},
        "smtp": {**server, "host": smtp.host, "port": smtp.port, "auth": auth},
    }
    assert _request("POST", base + "/v1/accounts", admin, body)[0] == 201

    # Account state comes from the watcher process, read from Redis at scrape time.
    _scrape_until(base, scraper, lambda s: _value(s, "mailbridge_accounts", state="connected") == 1)

    # Mail arrives: the watcher emits messageNew, times the push and makes the first webhook attempt (500).
    dovecot.deliver(mailbox.address, b"From: a@example.test\r\nSubject: counted\r\n\r\nhi\r\n")
    after = _scrape_until(
        base,
        scraper,
        lambda s: (
            _value(s, "mailbridge_webhook_attempts_total", outcome="retry") >= 1
            and _value(s, "mailbridge_push_to_event_seconds_count") >= 1
        ),
    )
    assert _value(after, "mailbridge_events_emitted_total", event="messageNew") == 1
    assert _value(after, "mailbridge_events_emitted_total", event="accountConnected") == 1
    assert _value(after, "mailbridge_webhook_attempts_total", outcome="delivered") == 0
    assert _value(after, "mailbridge_webhook_attempt_seconds_count") >= 1
    assert _value(after, "mailbridge_webhook_attempt_seconds_bucket", le="+Inf") >= 1
    assert _value(after, "mailbridge_push_to_event_seconds_bucket", le="+Inf") >= 1
    assert _value(after, "mailbridge_webhook_deliveries_pending") == 1  # a retry is scheduled
    assert _value(after, "mailbridge_queue_depth", queue="scheduled") >= 1

    # A send made by the RQ worker process.
    message = {"from": {"address": mailbox.address}, "to": [{"address": "x@example.test"}], "subject": "s", "text": "t"}
    assert _request("POST", base + "/v1/account/support/submit", admin, message)[0] in (200, 202)
    sent = _scrape_until(base, scraper, lambda s: _value(s, "mailbridge_sends_total", outcome="sent") == 1)
    assert _value(sent, "mailbridge_events_emitted_total", event="messageSent") == 1
    assert _value(sent, "mailbridge_sends_total", outcome="failed") == 0
