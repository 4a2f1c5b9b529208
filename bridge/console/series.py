"""The numbers behind the console's two charts: events per minute and webhook success over the last hour.

``chart_series`` draws from a list of per-minute counts, oldest first, each
with ``events``, ``webhook_delivered`` and ``webhook_attempts``: the shape of
``bridge.metrics.model.MinuteCounts`` (issue 17 part 2). Until that package is
on main, ``_minutes_from_streams`` makes the same list from what Redis already
holds: each account's event stream (newest first back to the hour's start, at
most ``SCAN_CAP`` entries per account) and each webhook's newest deliveries
with their attempts. Switching is the one marked line in ``chart_series``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bridge.console.charts import Series, buckets, rates
from bridge.events.model import Event
from bridge.storage import Storage

MINUTES = 60
RATE_MINUTES = 5  # the success rate is drawn in five-minute buckets: one attempt a minute is too noisy
SCAN_CAP = 5000  # events read per account at most: a busy hour is sampled, never read whole
DELIVERIES_READ = 200  # newest deliveries per webhook
_PAGE = 500


class Minute(Protocol):
    @property
    def events(self) -> int: ...
    @property
    def webhook_delivered(self) -> int: ...
    @property
    def webhook_attempts(self) -> int: ...


@dataclass(frozen=True, slots=True)
class _Minute:
    events: int
    webhook_delivered: int
    webhook_attempts: int


@dataclass(frozen=True, slots=True)
class Charts:
    events: Series
    webhooks: Series


def chart_series(storage: Storage, now: datetime) -> Charts:
    # When bridge.metrics is on main: minutes = recent_activity(storage, now.timestamp(), MINUTES).minutes
    minutes: Sequence[Minute] = _minutes_from_streams(storage, now)
    ok = [sum(m.webhook_delivered for m in minutes[i : i + RATE_MINUTES]) for i in range(0, MINUTES, RATE_MINUTES)]
    total = [sum(m.webhook_attempts for m in minutes[i : i + RATE_MINUTES]) for i in range(0, MINUTES, RATE_MINUTES)]
    return Charts(
        events=Series("Events per minute", tuple(float(m.events) for m in minutes), "/min",
                      first_label="-60 min", last_label="now"),
        webhooks=Series("Webhook attempts delivered", rates(ok, total), "%", ceiling=100.0,
                        first_label="-60 min", last_label="now"),
    )  # fmt: skip


def _epoch(rfc3339: str) -> float | None:
    try:
        return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _event_times(storage: Storage, account: str, start: float) -> Iterator[float]:
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


def _minutes_from_streams(storage: Storage, now: datetime) -> list[_Minute]:
    """The last ``MINUTES`` whole minutes up to ``now``'s, oldest first, from event streams and delivery logs."""
    end = (int(now.timestamp()) // 60 + 1) * 60  # the end of the current (partial) minute
    start = end - MINUTES * 60
    events = [t for a in storage.accounts.list() for t in _event_times(storage, a.id, start)]
    delivered: list[float] = []
    attempted: list[float] = []
    for sub in storage.webhooks.all():
        found, _ = storage.webhooks.page(sub.id, limit=DELIVERIES_READ)
        for _, attempts in found:
            for attempt in attempts:
                when = _epoch(attempt.at)
                if when is None or when < start:
                    continue
                attempted.append(when)
                if attempt.outcome == "delivered":
                    delivered.append(when)
    per = {name: buckets(times, start=start, width_s=60, count=MINUTES)
           for name, times in (("events", events), ("ok", delivered), ("all", attempted))}  # fmt: skip
    return [_Minute(e, o, a) for e, o, a in zip(per["events"], per["ok"], per["all"], strict=True)]
