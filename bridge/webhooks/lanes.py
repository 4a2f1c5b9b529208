"""A small fair thread pool: work is queued per key, and no key holds more than its share of threads.

No I/O of its own. The webhook dispatcher queues first attempts per
subscription here, so a receiver that takes its full timeout to answer ties
up at most ``per_key`` threads while every other subscription keeps flowing,
and ``offer`` never blocks the emitting thread: when the queue is full it
says no, and the caller hands the work to RQ instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class Lanes(Generic[T]):
    """Run ``work(item)`` on ``threads`` daemon threads, round-robin over keys.

    Args:
        work: called once per item on a pool thread; exceptions are logged
            (the caller must keep its own durable record of the item).
        threads: pool size.
        per_key: most threads one key may occupy at a time.
        max_queued: most items waiting (not yet running) across all keys.
    """

    def __init__(
        self, work: Callable[[T], None], *, threads: int, per_key: int, max_queued: int, name: str = "lane"
    ) -> None:
        self._work = work
        self._per_key = per_key
        self._max_queued = max_queued
        self._queued: OrderedDict[str, deque[T]] = OrderedDict()
        self._waiting = 0
        self._running: dict[str, int] = {}
        self._closed = False
        self._cond = threading.Condition()
        self._threads = [
            threading.Thread(target=self._loop, name=f"{name}-{i}", daemon=True) for i in range(max(1, threads))
        ]
        for thread in self._threads:
            thread.start()

    def offer(self, key: str, item: T) -> bool:
        """Queue ``item`` under ``key``; False (at once) when the pool is full or closed."""
        with self._cond:
            if self._closed or self._waiting >= self._max_queued:
                return False
            self._queued.setdefault(key, deque()).append(item)
            self._waiting += 1
            self._cond.notify()
            return True

    @property
    def busy(self) -> int:
        """Items queued or running."""
        with self._cond:
            return self._waiting + sum(self._running.values())

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking work; wait up to ``timeout`` in all for running items (queued ones are dropped)."""
        with self._cond:
            self._closed = True
            self._queued.clear()
            self._waiting = 0
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _take(self) -> tuple[str, T] | None:
        # The first key (in round-robin order) that is under its share of threads.
        for key, items in self._queued.items():
            if self._running.get(key, 0) < self._per_key:
                item = items.popleft()
                del self._queued[key]
                if items:
                    self._queued[key] = items  # back of the line: round-robin
                self._waiting -= 1
                self._running[key] = self._running.get(key, 0) + 1
                return key, item
        return None

    def _loop(self) -> None:
        while True:
            with self._cond:
                taken = self._take()
                while taken is None and not self._closed:
                    self._cond.wait()
                    taken = self._take()
                if taken is None:
                    return
            key, item = taken
            try:
                self._work(item)
            except Exception:
                log.exception("lane work failed for %s", key)
            finally:
                with self._cond:
                    left = self._running[key] - 1
                    if left:
                        self._running[key] = left
                    else:
                        del self._running[key]
                    self._cond.notify()  # this key may be under its share again
