"""/metrics in one process (the cross-process test is tests/integration/test_metrics.py), /health's
eviction warning, and the console's recent-activity helper, against the real test Redis."""

from __future__ import annotations

import time

from prometheus_client.parser import text_string_to_metric_families

from bridge.events.emit import emit
from bridge.metrics.recent import recent_activity
from bridge.models import TokenScope


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_needs_the_metrics_scope(client, storage):
    assert client.get("/metrics").status_code == 401
    _, read = storage.tokens.create("reader", [TokenScope.READ])
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {read}"})
    assert resp.status_code == 403 and resp.json["error"]["details"]["required"] == "metrics"
    _, scraper = storage.tokens.create("prometheus", [TokenScope.METRICS])
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {scraper}"})
    assert resp.status_code == 200 and resp.content_type.startswith("text/plain")
    # The scraper's token opens nothing else.
    assert client.get("/v1/accounts", headers={"Authorization": f"Bearer {scraper}"}).status_code == 403


def test_every_metric_is_present_before_anything_happened(client, auth):
    samples = _samples(client.get("/metrics", headers=auth).get_data(as_text=True))
    names = {name for name, _ in samples}
    assert {
        "mailbridge_accounts",
        "mailbridge_events_emitted_total",
        "mailbridge_webhook_attempts_total",
        "mailbridge_webhook_attempt_seconds_count",
        "mailbridge_sends_total",
        "mailbridge_push_to_event_seconds_bucket",
        "mailbridge_queue_depth",
        "mailbridge_webhook_deliveries_pending",
        "mailbridge_reviews_pending",
        "mailbridge_redis_memory_used_bytes",
        "mailbridge_redis_info",
    } <= names
    assert samples[("mailbridge_sends_total", (("outcome", "failed"),))] == 0
    assert samples[("mailbridge_accounts", (("state", "connected"),))] == 0
    for queue in ("send", "webhooks", "scheduled"):
        assert samples[("mailbridge_queue_depth", (("queue", queue),))] == 0


def test_emitted_events_are_counted_and_show_in_the_last_hour(client, auth, storage):
    now = time.time()
    emit(storage, "acme", "messageNew", {"id": "m1"})
    emit(storage, "acme", "messageNew", {"id": "m2"})
    emit(storage, "acme", "messageSent", {"id": "m3"})
    storage.metrics.webhook_attempt("delivered", 0.02, now)
    storage.metrics.webhook_attempt("retry", 0.5, now)
    samples = _samples(client.get("/metrics", headers=auth).get_data(as_text=True))
    assert samples[("mailbridge_events_emitted_total", (("event", "messageNew"),))] == 2
    assert samples[("mailbridge_events_emitted_total", (("event", "messageSent"),))] == 1
    assert samples[("mailbridge_webhook_attempt_seconds_bucket", (("le", "0.025"),))] == 1
    assert samples[("mailbridge_webhook_attempt_seconds_count", ())] == 2

    activity = recent_activity(storage, now)
    assert len(activity.minutes) == 60
    assert (activity.events, activity.webhook_attempts, activity.webhook_success_rate) == (3, 2, 0.5)
    assert activity.minutes[-1].events == 3
    # An hour later the window has moved past them.
    assert recent_activity(storage, now + 3600).events == 0


def test_health_warns_when_redis_may_evict_keys(client, redis_client):
    before = redis_client.config_get("maxmemory*")
    try:
        redis_client.config_set("maxmemory", str(1 << 30))
        redis_client.config_set("maxmemory-policy", "volatile-lru")
        resp = client.get("/health")
        assert resp.status_code == 200
        [warning] = resp.json["warnings"]
        assert "volatile-lru" in warning and "noeviction" in warning
        redis_client.config_set("maxmemory-policy", "noeviction")
        assert client.get("/health").json["warnings"] == []
    finally:
        redis_client.config_set("maxmemory-policy", before["maxmemory-policy"])
        redis_client.config_set("maxmemory", before["maxmemory"])
