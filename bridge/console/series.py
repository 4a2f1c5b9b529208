"""The numbers behind the console's two charts: events per minute and webhook success over the last hour.

Both come from ``bridge.metrics.recent.recent_activity``: the per-minute counts
every process writes next to the Prometheus metrics (one Redis round trip,
at most two hours kept), so the charts and ``/metrics`` agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bridge.console.charts import Series, rates
from bridge.metrics.recent import recent_activity
from bridge.storage import Storage

MINUTES = 60
RATE_MINUTES = 5  # the success rate is drawn in five-minute buckets: one attempt a minute is too noisy


@dataclass(frozen=True, slots=True)
class Charts:
    events: Series
    webhooks: Series


def chart_series(storage: Storage, now: datetime) -> Charts:
    minutes = recent_activity(storage, now.timestamp(), MINUTES).minutes
    groups = [minutes[i : i + RATE_MINUTES] for i in range(0, len(minutes), RATE_MINUTES)]
    ok = [sum(m.webhook_delivered for m in group) for group in groups]
    total = [sum(m.webhook_attempts for m in group) for group in groups]
    return Charts(
        events=Series("Events per minute", tuple(float(m.events) for m in minutes), "/min",
                      first_label=f"-{len(minutes)} min", last_label="now"),
        webhooks=Series("Webhook attempts delivered", rates(ok, total), "%", ceiling=100.0,
                        first_label=f"-{len(minutes)} min", last_label="now"),
    )  # fmt: skip
