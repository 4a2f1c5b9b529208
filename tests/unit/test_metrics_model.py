"""bridge.metrics.model: buckets, cumulative histograms, the recent-activity window, the eviction warning."""

from __future__ import annotations

import pytest

from bridge.metrics import model


@pytest.mark.parametrize(
    ("value", "index"),
    [(0.0, 0), (0.05, 0), (0.051, 1), (1.0, 4), (60.0, 9), (60.1, 10), (1e9, 10)],
)
def test_a_value_falls_in_the_first_bucket_that_holds_it(value, index):
    assert model.bucket_index(model.PUSH_BUCKETS, value) == index


def test_histograms_are_published_cumulative_and_end_with_inf():
    hist = model.Histogram.from_fields((0.1, 1.0), {"b0": "2", "b2": "1", "count": "3", "sum": "7.5"})
    assert hist.cumulative() == [("0.1", 2), ("1.0", 2), ("+Inf", 3)]
    assert (hist.count, hist.total) == (3, 7.5)


def test_recent_activity_totals_and_success_rate():
    minutes = (
        model.MinuteCounts(100, events=3, webhook_delivered=2, webhook_retry=1),
        model.MinuteCounts(101),
        model.MinuteCounts(102, events=1, webhook_delivered=1, webhook_failed=0),
    )
    activity = model.RecentActivity(minutes)
    assert (activity.events, activity.webhook_attempts, activity.webhook_delivered) == (4, 4, 3)
    assert activity.webhook_success_rate == 0.75
    out = activity.to_dict()
    assert out["windowMinutes"] == 3 and out["webhookSuccessRate"] == 0.75
    assert out["perMinute"][0] == {
        "minute": 6000,
        "events": 3,
        "webhookDelivered": 2,
        "webhookRetry": 1,
        "webhookFailed": 0,
    }


def test_no_attempts_means_no_success_rate_rather_than_zero():
    assert model.RecentActivity((model.MinuteCounts(1, events=5),)).webhook_success_rate is None


def test_the_window_ends_with_the_current_minute():
    assert model.minute_of(6059.9) == 100
    assert model.window(100, 3) == [98, 99, 100]


@pytest.mark.parametrize(
    ("policy", "maxmemory", "warns"),
    [
        ("noeviction", 1 << 30, False),
        ("allkeys-lru", 0, False),  # no limit: Redis never evicts
        ("allkeys-lru", 1 << 30, True),
        ("volatile-lru", 1 << 30, True),  # our TTL keys are still needed while they live
        ("volatile-ttl", 1 << 30, True),
        ("allkeys-random", 1, True),
    ],
)
def test_eviction_warning(policy, maxmemory, warns):
    warning = model.eviction_warning(policy, maxmemory)
    assert (warning is not None) == warns
    if warning:
        assert policy in warning and "noeviction" in warning
