"""Enqueue helpers: the only module (with workers/) that imports rq.

Queues use RQ's JSON serializer so job arguments stay plain data (ids), and
this is the one place that names ``workers.*`` functions.
"""

from __future__ import annotations

import redis
import redis.exceptions
from rq import Queue, SimpleWorker, Worker

from bridge.errors import StorageUnavailable

QUEUE_NAMES = ("send", "webhooks", "default")
SERIALIZER = "json"


def queue(name: str, connection: redis.Redis) -> Queue:
    """The RQ queue of a name, with the JSON serializer."""
    return Queue(name, connection=connection, serializer=SERIALIZER)


def all_queues(connection: redis.Redis) -> list[Queue]:
    return [queue(name, connection) for name in QUEUE_NAMES]


def worker_count(connection: redis.Redis) -> int:
    """RQ workers registered and alive (RQ expires dead ones with their TTL)."""
    try:
        return int(Worker.count(connection=connection))
    except redis.exceptions.RedisError as exc:
        raise StorageUnavailable(f"Redis is unavailable: {exc}") from exc


def run_worker(connection: redis.Redis, *, burst: bool = False, name: str | None = None) -> None:
    """Run an RQ worker with the scheduler on every Mailbridge queue.

    SimpleWorker runs jobs in this process: RQ's default Worker forks per job,
    which costs tens of milliseconds each (../shared/notes/performance.md) and
    would dominate webhook and send latency. Scale by running more workers.
    """
    worker = SimpleWorker(all_queues(connection), connection=connection, serializer=SERIALIZER, name=name)
    worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")
