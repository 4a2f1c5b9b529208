"""Helpers shared by the webhook tests: fast retry policies, running RQ in-process, dumping Redis.

No fixtures here (they live next to the tests); plain functions so bench/ could reuse them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import redis
from rq import SimpleWorker

from bridge import jobs
from bridge.config import Settings
from bridge.storage import Storage
from bridge.webhooks.delivery import RetryPolicy
from bridge.webhooks.dispatcher import Dispatcher
from workers.context import worker_context

# Same shape as the default (8 attempts) with delays short enough for tests. RQ's scheduler
# has one-second resolution, so anything shorter runs within the next second.
FAST = RetryPolicy(delays=(0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2), jitter=0.0, timeout=2.0, grace=1.0, sweep_interval=1.0)


@contextlib.contextmanager
def webhook_worker(
    storage: Storage, settings: Settings, *, policy: RetryPolicy = FAST, **options: Any
) -> Iterator[Dispatcher]:
    """A dispatcher, also bound as this process's worker context (for jobs run by ``run_jobs``).

    Pass it to ``emit(..., dispatcher=...)`` for first attempts made from here, as the watcher does.
    """
    with (
        Dispatcher(storage, production=settings.production, policy=policy, **options) as dispatcher,
        worker_context(storage, settings, webhook_policy=policy, dispatcher=dispatcher),
    ):
        yield dispatcher


def run_jobs(connection: redis.Redis) -> None:
    """Run every queued (and due scheduled) webhook job in this process, then return.

    Only the webhooks queue: other subsystems' startup jobs are not these tests' business.
    """
    worker = SimpleWorker([jobs.queue("webhooks", connection)], connection=connection, serializer=jobs.SERIALIZER)
    worker.work(burst=True, with_scheduler=True, logging_level="WARNING")


def drain(connection: redis.Redis, until: Callable[[], bool], timeout: float = 15.0) -> None:
    """Run jobs again and again until ``until()`` holds (scheduled retries become due meanwhile).

    Raises:
        TimeoutError: the condition did not hold within ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while not until():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached while running jobs")
        run_jobs(connection)
        if not until():
            time.sleep(0.1)


def redis_dump(connection: redis.Redis) -> bytes:
    """Every key and value in the database, concatenated, for "is this secret anywhere?" checks."""
    out: list[bytes] = []
    for key in connection.scan_iter(count=1000):
        out.append(key)
        kind = connection.type(key)
        if kind == b"string":
            out.append(connection.get(key) or b"")
        elif kind == b"hash":
            out.extend(k + v for k, v in connection.hgetall(key).items())
        elif kind == b"list":
            out.extend(connection.lrange(key, 0, -1))
        elif kind == b"set":
            out.extend(connection.smembers(key))
        elif kind == b"zset":
            out.extend(m for m, _ in connection.zrange(key, 0, -1, withscores=True))
        elif kind == b"stream":
            for _, fields in connection.xrange(key):
                out.extend(k + v for k, v in fields.items())
    return b"\n".join(out)
