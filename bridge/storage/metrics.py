"""Counters, histograms and per-minute counts in Redis, and the gauges read when ``/metrics`` is scraped.

Names, labels and buckets come from ``bridge.metrics.model``. Every observation is one
pipelined round trip (no MULTI: a counter that moves and a minute that does not would
only skew a chart). Memory is fixed: one counters hash (a field per counter and label
value, both from closed sets), one hash per histogram, and at most two hours of minute
hashes.

Recording is best effort: it runs after the real work (an event published, a webhook
attempt recorded) has succeeded, and a Redis failure here must not turn that success
into an error the caller would retry. It is logged instead. Reading raises
``StorageUnavailable`` like every other store.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis
import redis.exceptions

from bridge import keys
from bridge.metrics import model
from bridge.models import ConnectionState
from bridge.storage.base import redis_errors, text

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RedisMemory:
    """From INFO memory: bytes used, the limit (0: none) and what Redis does when it is reached."""

    used: int
    maxmemory: int
    policy: str


@dataclass(frozen=True, slots=True)
class Stored:
    """Everything the metrics keep in Redis, read at once."""

    counters: dict[tuple[str, str], int]
    histograms: dict[str, model.Histogram]


@dataclass(frozen=True, slots=True)
class Gauges:
    """What is true right now: accounts per state, backlogs, pending reviews."""

    accounts: dict[str, int]
    outbox_ready: int
    webhook_deliveries_pending: int
    reviews_pending: int


class MetricsStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client

    # -- recording (best effort) ----------------------------------------------

    def events(self, names: Iterable[str], now: float) -> None:
        """Count emitted events by name, and in the current minute."""
        counts = Counter(names)
        if not counts:
            return
        pipe = self.redis.pipeline(transaction=False)
        for name, n in counts.items():
            pipe.hincrby(keys.metrics_counters(), model.counter_field(model.EVENTS, name), n)
        self._minute(pipe, now, model.MINUTE_EVENTS, sum(counts.values()))
        self._run(pipe, "events")

    def webhook_attempt(self, outcome: str, seconds: float, now: float) -> None:
        """Count one webhook attempt by outcome and observe how long it took."""
        pipe = self.redis.pipeline(transaction=False)
        self.webhook_attempt_into(pipe, outcome, seconds, now)
        self._run(pipe, "a webhook attempt")

    @staticmethod
    def webhook_attempt_into(pipe: redis.client.Pipeline, outcome: str, seconds: float, now: float) -> None:
        """``webhook_attempt``'s commands, queued on another store's pipeline: the dispatcher sends
        them with the attempt's record (``WebhookStore.record``), one round trip a message, not two."""
        pipe.hincrby(keys.metrics_counters(), model.counter_field(model.WEBHOOK_ATTEMPTS, outcome), 1)
        MetricsStore._observe(pipe, model.WEBHOOK_LATENCY, seconds)
        MetricsStore._minute(pipe, now, model.minute_webhook_field(outcome), 1)

    @staticmethod
    def not_counted(results: list[Any], what: str) -> None:
        """Log the first error among the replies of queued metrics commands (best effort, as ``_run``)."""
        failed = next((r for r in results if isinstance(r, Exception)), None)
        if failed is not None:
            log.warning("metrics: %s was not counted: %s", what, failed)

    def send(self, outcome: str) -> None:
        """Count one send attempt by outcome (sent, retry, failed)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(keys.metrics_counters(), model.counter_field(model.SENDS, outcome), 1)
        self._run(pipe, "a send attempt")

    def push_latency(self, seconds: float) -> None:
        """Observe the time from an IDLE push to its messages' events being published."""
        pipe = self.redis.pipeline(transaction=False)
        self._observe(pipe, model.PUSH_LATENCY, seconds)
        self._run(pipe, "a push latency")

    @staticmethod
    def _observe(pipe: redis.client.Pipeline, name: str, seconds: float) -> None:
        key = keys.metrics_histogram(name)
        pipe.hincrby(key, f"b{model.bucket_index(model.BUCKETS[name], seconds)}", 1)
        pipe.hincrby(key, "count", 1)
        pipe.hincrbyfloat(key, "sum", seconds)

    @staticmethod
    def _minute(pipe: redis.client.Pipeline, now: float, field: str, n: int) -> None:
        key = keys.metrics_minute(model.minute_of(now))
        pipe.hincrby(key, field, n)
        pipe.expire(key, model.MINUTE_KEEP_S)

    @staticmethod
    def _run(pipe: redis.client.Pipeline, what: str) -> None:
        try:
            pipe.execute()
        except redis.exceptions.RedisError as exc:
            log.warning("metrics: %s was not counted: %s", what, exc)

    # -- reading ----------------------------------------------------------------

    @redis_errors
    def stored(self) -> Stored:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(keys.metrics_counters())
        names = list(model.BUCKETS)
        for name in names:
            pipe.hgetall(keys.metrics_histogram(name))
        raw_counters, *raw_hists = pipe.execute()
        counters = {model.split_field(text(k)): int(v) for k, v in raw_counters.items()}
        histograms = {
            name: model.Histogram.from_fields(model.BUCKETS[name], {text(k): text(v) for k, v in fields.items()})
            for name, fields in zip(names, raw_hists, strict=True)
        }
        return Stored(counters, histograms)

    @redis_errors
    def minutes(self, window: list[int]) -> list[model.MinuteCounts]:
        pipe = self.redis.pipeline(transaction=False)
        for minute in window:
            pipe.hgetall(keys.metrics_minute(minute))
        return [
            model.MinuteCounts.from_fields(minute, {text(k): text(v) for k, v in fields.items()})
            for minute, fields in zip(window, pipe.execute(), strict=True)
        ]

    @redis_errors
    def gauges(self) -> Gauges:
        ids = [text(i) for i in self.redis.zrange(keys.account_ids(), 0, -1)]
        pipe = self.redis.pipeline(transaction=False)
        for account_id in ids:
            pipe.hget(keys.account_state(account_id), "state")
        pipe.llen(keys.outbox_ready())
        pipe.zcard(keys.deliveries_due())
        pipe.zcard(keys.reviews_pending())
        *states, ready, due, reviews = pipe.execute()
        accounts = {s.value: 0 for s in ConnectionState}
        for state in states:
            name = text(state) if state is not None else ConnectionState.INIT.value
            accounts[name] = accounts.get(name, 0) + 1
        return Gauges(accounts, int(ready), int(due), int(reviews))

    @redis_errors
    def memory(self) -> RedisMemory:
        info = self.redis.info("memory")
        return RedisMemory(
            used=int(info.get("used_memory", 0)),
            maxmemory=int(info.get("maxmemory", 0)),
            policy=str(info.get("maxmemory_policy", "unknown")),
        )
