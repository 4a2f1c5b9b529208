"""Delivery rules: attempt verdicts, the retry schedule, and the fair first-attempt pool."""

from __future__ import annotations

import threading
import time

import pytest

from bridge.webhooks.delivery import DEFAULT_POLICY, RetryPolicy, Verdict, verdict_for_status
from bridge.webhooks.lanes import Lanes


@pytest.mark.parametrize(
    ("status", "verdict"),
    [
        (200, Verdict.DELIVERED),
        (202, Verdict.DELIVERED),
        (204, Verdict.DELIVERED),
        (301, Verdict.RETRY),  # redirects are not followed: a failure
        (302, Verdict.RETRY),
        (307, Verdict.RETRY),
        (400, Verdict.FAIL),
        (401, Verdict.FAIL),
        (404, Verdict.FAIL),
        (410, Verdict.FAIL),
        (408, Verdict.RETRY),
        (425, Verdict.RETRY),
        (429, Verdict.RETRY),
        (500, Verdict.RETRY),
        (502, Verdict.RETRY),
        (503, Verdict.RETRY),
        (100, Verdict.RETRY),
    ],
)
def test_verdict_for_status(status, verdict):
    assert verdict_for_status(status) is verdict


def test_default_policy_has_at_least_8_attempts_spanning_about_a_day():
    assert DEFAULT_POLICY.max_attempts >= 8
    span = sum(DEFAULT_POLICY.delays)
    assert 18 * 3600 <= span <= 30 * 3600
    assert list(DEFAULT_POLICY.delays) == sorted(DEFAULT_POLICY.delays)
    assert DEFAULT_POLICY.timeout == 10.0


def test_next_delay_follows_the_schedule_with_jitter():
    policy = RetryPolicy(delays=(10, 60), jitter=0.5)
    assert policy.next_delay(1, 0.0) == 10
    assert policy.next_delay(1, 0.999) == pytest.approx(14.995)
    assert policy.next_delay(2, 0.0) == 60
    assert policy.next_delay(3, 0.0) is None  # three attempts made: none left
    assert policy.next_delay(0, 0.0) is None


def test_lanes_keep_a_slow_key_to_its_share_of_threads():
    # One key blocks; another key's items still run on the free threads.
    release = threading.Event()
    done: list[str] = []

    def work(item: str) -> None:
        if item.startswith("slow"):
            release.wait(5)
        done.append(item)

    lanes: Lanes[str] = Lanes(work, threads=4, per_key=2, max_queued=100)
    try:
        for i in range(5):
            assert lanes.offer("slow", f"slow{i}")
        for i in range(20):
            assert lanes.offer("fast", f"fast{i}")
        deadline = time.monotonic() + 5
        while sum(x.startswith("fast") for x in done) < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sum(x.startswith("fast") for x in done) == 20
        assert not any(x.startswith("slow") for x in done)
        release.set()
        while len(done) < 25 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(done) == 25
    finally:
        release.set()
        lanes.close()


def test_lanes_refuse_at_once_when_full():
    release = threading.Event()
    lanes: Lanes[int] = Lanes(lambda _: release.wait(5), threads=1, per_key=1, max_queued=2)
    try:
        results = [lanes.offer("k", i) for i in range(6)]
        # One running, two queued; the rest refused without blocking.
        assert results.count(True) <= 3 and results[-1] is False
    finally:
        release.set()
        lanes.close()
    assert lanes.offer("k", 99) is False  # closed


def test_lanes_survive_failing_work(caplog):
    seen: list[int] = []

    def work(item: int) -> None:
        seen.append(item)
        raise RuntimeError("boom")

    lanes: Lanes[int] = Lanes(work, threads=1, per_key=1, max_queued=10)
    try:
        lanes.offer("k", 1)
        lanes.offer("k", 2)
        deadline = time.monotonic() + 5
        while len(seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == [1, 2]
    finally:
        lanes.close()
