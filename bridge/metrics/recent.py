"""The last hour, minute by minute: what the console's two charts draw.

``recent_activity(storage, now)`` answers "events per minute" and "webhook success rate
over the last hour" from the per-minute counts every process writes to Redis
(``bridge.storage.metrics``), without Prometheus or PromQL. One Redis round trip.
"""

from __future__ import annotations

from bridge.metrics import model
from bridge.storage import Storage


def recent_activity(storage: Storage, now: float, minutes: int = model.WINDOW_MINUTES) -> model.RecentActivity:
    """The last ``minutes`` minutes up to ``now`` (epoch seconds), oldest first.

    Returns a ``RecentActivity``: ``.minutes`` (``MinuteCounts`` with ``events``,
    ``webhook_delivered``, ``webhook_retry``, ``webhook_failed``), the totals
    ``.events``, ``.webhook_attempts``, ``.webhook_delivered``,
    ``.webhook_success_rate`` (0.0-1.0, None without attempts) and ``.to_dict()``
    for JSON. At most two hours back are kept.

    Raises:
        StorageUnavailable: Redis is down.
    """
    span = max(1, min(minutes, model.MINUTE_KEEP_S // 60))
    return model.RecentActivity(tuple(storage.metrics.minutes(model.window(model.minute_of(now), span))))
