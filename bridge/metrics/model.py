"""What Mailbridge counts: metric names, their label values, histogram buckets, minute windows.

Pure: no I/O. ``bridge.storage.metrics`` stores observations under these names and
``bridge.metrics.exposition`` publishes them; both read the definitions here, so a
name or a bucket is written once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

NAMESPACE = "mailbridge"

# Counters: Redis hash field "<counter>|<label value>".
EVENTS = "events"  # label: event name
WEBHOOK_ATTEMPTS = "webhook_attempts"  # label: outcome
SENDS = "sends"  # label: outcome

# Outcomes of one webhook attempt (bridge.webhooks.dispatcher): delivered; retry (a transient failure,
# another attempt is scheduled); failed (permanent, or out of attempts).
WEBHOOK_OUTCOMES = ("delivered", "retry", "failed")
# Outcomes of one send attempt (workers.mail): sent; retry (transient SMTP failure); failed (for good).
SEND_OUTCOMES = ("sent", "retry", "failed")

# Histograms: Redis hash per histogram, fields "b<index>" (count per bucket, not cumulative), "count", "sum".
PUSH_LATENCY = "push_to_event_seconds"
WEBHOOK_LATENCY = "webhook_attempt_seconds"
# IDLE push -> events published: Dovecot pushes within ~0.5 s, analysis (DNS, DKIM) adds tens of ms.
PUSH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# A webhook attempt: loopback receivers answer in ms, the timeout is 10 s by default.
WEBHOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BUCKETS = {PUSH_LATENCY: PUSH_BUCKETS, WEBHOOK_LATENCY: WEBHOOK_BUCKETS}

# Per-minute counts kept for the console: one small Redis hash per minute, expiring after two
# hours, so memory stays the same whatever the volume. Fields:
MINUTE_EVENTS = "events"
MINUTE_KEEP_S = 2 * 3600
WINDOW_MINUTES = 60


def counter_field(counter: str, label: str) -> str:
    return f"{counter}|{label}"


def split_field(field: str) -> tuple[str, str]:
    """The counter and label value of a counter field ("events|messageNew")."""
    counter, _, label = field.partition("|")
    return counter, label


def minute_webhook_field(outcome: str) -> str:
    return f"webhook:{outcome}"


def bucket_index(buckets: tuple[float, ...], value: float) -> int:
    """The index of the first bucket whose upper bound holds ``value``; len(buckets) for +Inf."""
    for i, bound in enumerate(buckets):
        if value <= bound:
            return i
    return len(buckets)


def minute_of(epoch_s: float) -> int:
    """The minute an instant falls in, as whole minutes since the epoch."""
    return math.floor(epoch_s / 60)


@dataclass(frozen=True, slots=True)
class Histogram:
    """A histogram as stored: per-bucket counts (last one is +Inf), total count and sum."""

    buckets: tuple[float, ...]
    counts: tuple[int, ...]
    count: int
    total: float

    @classmethod
    def from_fields(cls, buckets: tuple[float, ...], fields: dict[str, str]) -> Histogram:
        counts = tuple(int(fields.get(f"b{i}", 0)) for i in range(len(buckets) + 1))
        return cls(buckets, counts, int(fields.get("count", 0)), float(fields.get("sum", 0.0)))

    def cumulative(self) -> list[tuple[str, int]]:
        """(le, cumulative count) pairs as Prometheus wants them, ending with +Inf."""
        out, running = [], 0
        for bound, n in zip((*self.buckets, math.inf), self.counts, strict=True):
            running += n
            out.append(("+Inf" if bound == math.inf else repr(float(bound)), running))
        return out


@dataclass(frozen=True, slots=True)
class MinuteCounts:
    """What happened in one minute (``minute``: whole minutes since the epoch)."""

    minute: int
    events: int = 0
    webhook_delivered: int = 0
    webhook_retry: int = 0
    webhook_failed: int = 0

    @classmethod
    def from_fields(cls, minute: int, fields: dict[str, str]) -> MinuteCounts:
        return cls(
            minute,
            events=int(fields.get(MINUTE_EVENTS, 0)),
            webhook_delivered=int(fields.get(minute_webhook_field("delivered"), 0)),
            webhook_retry=int(fields.get(minute_webhook_field("retry"), 0)),
            webhook_failed=int(fields.get(minute_webhook_field("failed"), 0)),
        )

    @property
    def webhook_attempts(self) -> int:
        return self.webhook_delivered + self.webhook_retry + self.webhook_failed


@dataclass(frozen=True, slots=True)
class RecentActivity:
    """The last ``len(minutes)`` minutes, oldest first, ending with the current (partial) minute.

    ``webhook_success_rate`` is delivered attempts over all attempts in the window (0.0-1.0),
    None when there was no attempt.
    """

    minutes: tuple[MinuteCounts, ...]

    @property
    def events(self) -> int:
        return sum(m.events for m in self.minutes)

    @property
    def webhook_attempts(self) -> int:
        return sum(m.webhook_attempts for m in self.minutes)

    @property
    def webhook_delivered(self) -> int:
        return sum(m.webhook_delivered for m in self.minutes)

    @property
    def webhook_success_rate(self) -> float | None:
        attempts = self.webhook_attempts
        return self.webhook_delivered / attempts if attempts else None

    def to_dict(self) -> dict[str, object]:
        """JSON form for the console: totals over the window and one entry per minute."""
        return {
            "windowMinutes": len(self.minutes),
            "events": self.events,
            "webhookAttempts": self.webhook_attempts,
            "webhookDelivered": self.webhook_delivered,
            "webhookSuccessRate": self.webhook_success_rate,
            "perMinute": [
                {
                    "minute": m.minute * 60,  # epoch seconds of the minute's start
                    "events": m.events,
                    "webhookDelivered": m.webhook_delivered,
                    "webhookRetry": m.webhook_retry,
                    "webhookFailed": m.webhook_failed,
                }
                for m in self.minutes
            ],
        }


def window(last_minute: int, minutes: int = WINDOW_MINUTES) -> list[int]:
    """The minutes of a window ending with ``last_minute``, oldest first."""
    return list(range(last_minute - minutes + 1, last_minute + 1))


# Redis' maxmemory-policy values under which Redis may delete keys of ours when it is full.
# Only noeviction is safe: allkeys-* may drop anything (accounts, tokens, queued sends), and
# volatile-* drop keys that have a TTL, which here are still needed while they live: pending
# webhook deliveries and their bodies, the bytes of queued sends, idempotency answers, watcher
# leases and the OAuth2 refresh lock (an evicted lock lets two processes refresh at once, and
# Microsoft's rotating refresh tokens then lose the account).
SAFE_EVICTION_POLICY = "noeviction"


def eviction_warning(policy: str, maxmemory: int) -> str | None:
    """A warning for /health when Redis may evict Mailbridge's keys; None when it cannot.

    With ``maxmemory`` 0 (no limit) Redis never evicts, whatever the policy says.
    """
    if policy == SAFE_EVICTION_POLICY or maxmemory <= 0:
        return None
    return (
        f"Redis maxmemory-policy is {policy!r} with maxmemory {maxmemory} bytes: when Redis is full it deletes keys "
        "Mailbridge still needs (volatile-* policies delete keys with a TTL: pending webhook deliveries, queued "
        "messages' bytes, leases and locks). Set maxmemory-policy noeviction."
    )
