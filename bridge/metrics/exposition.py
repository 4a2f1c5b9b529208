"""``GET /metrics``: every metric in Prometheus text format, built by a prometheus_client collector.

The only module that imports prometheus_client. Nothing is kept in process memory: each
scrape reads the counters and histograms that every process bumped in Redis
(``bridge.storage.metrics``), the gauges that are true right now (accounts by state,
backlogs, pending reviews) and Redis' own memory figures, in a handful of round trips,
so whichever web process answers, the numbers are the whole installation's.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from bridge import jobs
from bridge.events.model import EventName
from bridge.metrics import model
from bridge.storage import Storage
from bridge.storage.metrics import Stored

CONTENT_TYPE = CONTENT_TYPE_LATEST


def _name(short: str) -> str:
    return f"{model.NAMESPACE}_{short}"


class BridgeCollector(Collector):
    """Reads every Mailbridge metric from Redis when collected."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def collect(self) -> Iterator[Metric]:
        metrics = self.storage.metrics
        stored = metrics.stored()
        gauges = metrics.gauges()
        memory = metrics.memory()
        depths = jobs.queue_depths(self.storage.redis)

        accounts = GaugeMetricFamily(_name("accounts"), "Accounts by connection state.", labels=["state"])
        for state, n in sorted(gauges.accounts.items()):
            accounts.add_metric([state], n)
        yield accounts

        yield self._counter(
            stored,
            model.EVENTS,
            "events_emitted",
            "Events emitted, by event name.",
            "event",
            [e.value for e in EventName],
        )
        yield self._counter(
            stored,
            model.WEBHOOK_ATTEMPTS,
            "webhook_attempts",
            "Webhook delivery attempts, by outcome (delivered, retry, failed).",
            "outcome",
            list(model.WEBHOOK_OUTCOMES),
        )
        yield self._histogram(stored, model.WEBHOOK_LATENCY, "Duration of one webhook attempt in seconds.")
        yield self._counter(
            stored,
            model.SENDS,
            "sends",
            "SMTP send attempts, by outcome (sent, retry, failed).",
            "outcome",
            list(model.SEND_OUTCOMES),
        )
        yield self._histogram(
            stored, model.PUSH_LATENCY, "Seconds from an IDLE push to the events of its messages being published."
        )

        queue = GaugeMetricFamily(
            _name("queue_depth"),
            "Work waiting: send (messages due now), webhooks (delivery jobs due now), "
            "scheduled (RQ jobs waiting for their time: scheduled sends and retries).",
            labels=["queue"],
        )
        send_now, _ = depths.get("send", (0, 0))
        queue.add_metric(["send"], gauges.outbox_ready + send_now)
        queue.add_metric(["webhooks"], depths.get("webhooks", (0, 0))[0])
        queue.add_metric(["scheduled"], sum(scheduled for _, scheduled in depths.values()))
        yield queue
        yield GaugeMetricFamily(
            _name("webhook_deliveries_pending"),
            "Webhook deliveries not yet delivered or failed for good.",
            value=gauges.webhook_deliveries_pending,
        )
        yield GaugeMetricFamily(
            _name("reviews_pending"), "Review holds waiting for a decision.", value=gauges.reviews_pending
        )
        yield GaugeMetricFamily(_name("redis_memory_used_bytes"), "Redis used_memory.", value=memory.used)
        yield GaugeMetricFamily(
            _name("redis_memory_max_bytes"), "Redis maxmemory (0: no limit).", value=memory.maxmemory
        )
        info = InfoMetricFamily(_name("redis"), "Redis memory settings.")
        info.add_metric([], {"maxmemory_policy": memory.policy})
        yield info

    @staticmethod
    def _counter(stored: Stored, counter: str, short: str, doc: str, label: str, known: list[str]) -> Metric:
        values = {lbl: n for (c, lbl), n in stored.counters.items() if c == counter}
        family = CounterMetricFamily(_name(short), doc, labels=[label])
        for value in sorted(set(known) | set(values)):
            family.add_metric([value], values.get(value, 0))
        return family

    @staticmethod
    def _histogram(stored: Stored, name: str, doc: str) -> Metric:
        hist = stored.histograms[name]
        family = HistogramMetricFamily(_name(name), doc, labels=[])
        family.add_metric([], [(le, float(n)) for le, n in hist.cumulative()], sum_value=hist.total)
        return family


def render(storage: Storage) -> bytes:
    """The Prometheus text exposition of every metric (raises StorageUnavailable when Redis is down)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BridgeCollector(storage))
    return generate_latest(registry)
