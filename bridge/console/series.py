"""The numbers behind the console's two charts: events per minute and webhook success over the last hour.

``chart_series`` is the one function the pages call. Until the metrics
package (``bridge.metrics``, issue 17 part 2) offers these series, it reads
them from what Redis already holds: each account's event stream (newest
first, stopping at the hour's start, at most ``SCAN_CAP`` entries per
account) and each webhook's recent deliveries with their attempts. Switching
to the metrics helper is a change to this function's body only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from bridge.console.charts import Series, buckets, rates
from bridge.events.model import Event
from bridge.storage import Storage

WINDOW_S = 3600
MINUTES = 60
RATE_BUCKETS = 12  # five minutes each
SCAN_CAP = 5000  # events read per account at most: a busy hour is sampled, never read whole
DELIVERIES_READ = 200  # newest deliveries per webhook
_PAGE = 500


@dataclass(frozen=True, slots=True)
class Charts:
    events: Series
    webhooks: Series


def _epoch(rfc3339: str) -> float | None:
    try:
        return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _newest_first(storage: Storage, account: str, start: float) -> Iterator[float]:
    """Event times of one account from newest back to ``start`` (bounded by ``SCAN_CAP``)."""
    before: int | None = None
    read = 0
    while read < SCAN_CAP:
        page: list[Event] = storage.events.before(account, before, _PAGE)
        if not page:
            return
        for event in page:
            when = _epoch(event.date)
            if when is None:
                continue
            if when < start:
                return
            yield when
        read += len(page)
        before = page[-1].seq


def chart_series(storage: Storage, now: datetime) -> Charts:
    end = now.timestamp()
    start = end - WINDOW_S
    times = [t for a in storage.accounts.list() for t in _newest_first(storage, a.id, start)]
    per_minute = buckets(times, start=start, width_s=60, count=MINUTES)
    ok_times: list[float] = []
    all_times: list[float] = []
    for sub in storage.webhooks.all():
        found, _ = storage.webhooks.page(sub.id, limit=DELIVERIES_READ)
        for _, attempts in found:
            for attempt in attempts:
                when = _epoch(attempt.at)
                if when is None or when < start:
                    continue
                all_times.append(when)
                if attempt.outcome == "delivered":
                    ok_times.append(when)
    width = WINDOW_S / RATE_BUCKETS
    total = buckets(all_times, start=start, width_s=width, count=RATE_BUCKETS)
    ok = buckets(ok_times, start=start, width_s=width, count=RATE_BUCKETS)
    return Charts(
        events=Series("Events per minute", tuple(float(v) for v in per_minute), "/min",
                      first_label="-60 min", last_label="now"),
        webhooks=Series("Webhook attempts delivered", rates(ok, total), "%", ceiling=100.0,
                        first_label="-60 min", last_label="now"),
    )  # fmt: skip
