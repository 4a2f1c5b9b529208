"""Webhook delivery values and rules: subscriptions, deliveries, attempts, verdicts, retry policy.

Pure: no I/O, no clock, no randomness of its own (jitter comes in as a
number). The value types are what storage returns and the API shows. The
adapter (``bridge/webhooks/dispatcher.py``) makes the HTTP attempt; this module turns
its result into a verdict, and the retry policy into the delay before the
next attempt.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DeliveryStatus(StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SealedSecret:
    """A signing secret as stored: encrypted by the Vault."""

    sealed: str
    created: str
    expires: float | None  # epoch seconds; None while it is the current secret


@dataclass(frozen=True, slots=True)
class Subscription:
    """A webhook subscription."""

    id: str
    url: str
    events: tuple[str, ...] | None  # None: every event
    account: str | None  # None: every account
    created: str
    secrets: tuple[SealedSecret, ...]
    # Which events it gets is decided in one place, the publish script (bridge/storage/publish.py).


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event on its way to one subscription."""

    id: str
    webhook_id: str
    event_id: str
    event: str
    account: str
    seq: int
    created: str
    status: DeliveryStatus
    attempts: int  # made so far
    round_start: int  # attempts made before the current round (a redelivery starts one)
    next_attempt_at: float | None
    last_status: int | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class Attempt:
    """One logged HTTP attempt of a delivery."""

    attempt: int
    at: str  # RFC 3339, when the attempt started
    status_code: int | None
    latency_ms: float
    error: str | None
    outcome: str
    next_attempt_at: float | None = None
    response: str | None = None  # the start of the response body (at most dispatcher.EXCERPT_BYTES)


@dataclass(frozen=True, slots=True)
class Claim:
    """What one attempt needs; ``subscription`` is None when it was deleted meanwhile."""

    delivery: Delivery
    body: bytes | None
    subscription: Subscription | None


class Verdict(StrEnum):
    """What one attempt's result means for the delivery."""

    DELIVERED = "delivered"
    RETRY = "retry"
    FAIL = "fail"


# Receivers use these to say "later", not "never" (RFC 9110 § 15.5.9, RFC 6585 § 4).
_TRANSIENT_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to retry a webhook delivery, and how long one attempt may take.

    Attributes:
        delays: seconds before the 2nd, 3rd, … attempt; the first is immediate,
            so there are ``len(delays) + 1`` attempts in all.
        jitter: each delay is stretched by up to this fraction, at random, so
            deliveries that failed together do not all come back together.
        timeout: seconds for each phase of one attempt (connect, write, read).
        grace: seconds after an attempt was due before the sweeper assumes the
            process that should have made it died, and schedules it again.
        sweep_interval: seconds between two sweeps.
    """

    # Immediately, 10 s, 1 min, 5 min, 30 min, 2 h, 6 h, 12 h: 8 attempts over ~20.6 h,
    # ~22.7 h with the full jitter; the ~exponential growth gives a receiver that is down
    # for a deploy a quick retry and one that is down for a day a last chance.
    delays: tuple[float, ...] = (10, 60, 300, 1800, 7200, 21600, 43200)
    jitter: float = 0.1
    timeout: float = 10.0
    grace: float = 60.0
    sweep_interval: float = 30.0

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    def next_delay(self, attempts_made: int, rand: float) -> float | None:
        """Seconds to wait before the next attempt, or None when none is left.

        Args:
            attempts_made: attempts made so far in this round (a redelivery
                starts a new round), including the one that just failed.
            rand: a number in [0, 1) that picks the jitter.
        """
        if attempts_made < 1 or attempts_made > len(self.delays):
            return None
        return self.delays[attempts_made - 1] * (1 + self.jitter * rand)


DEFAULT_POLICY = RetryPolicy()


def verdict_for_status(status: int) -> Verdict:
    """Standard Webhooks semantics: 2xx delivered, 4xx permanent, anything else transient.

    A 3xx counts as a failure because redirects are not followed (a redirect
    could point the signed body anywhere, including inside our network); it is
    retried since the receiver may only be moving. 408, 425 and 429 ask to
    come back later.
    """
    if 200 <= status < 300:
        return Verdict.DELIVERED
    if 400 <= status < 500 and status not in _TRANSIENT_4XX:
        return Verdict.FAIL
    return Verdict.RETRY
