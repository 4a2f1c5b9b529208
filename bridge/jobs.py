"""Enqueue helpers: the only module (with workers/) that imports rq.

Queues use RQ's JSON serializer so job arguments stay plain data (ids), and
this is the one place that names ``workers.*`` functions.
"""

from __future__ import annotations

from datetime import timedelta

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


# --- webhooks ----------------------------------------------------------------

# Webhook jobs only need their return value for debugging; keeping results longer costs memory per event.
_WEBHOOK_RESULT_TTL = 300
# One attempt takes at most ~3 timeouts (connect, write, read); RQ kills a job past this.
_WEBHOOK_JOB_TIMEOUT = 120


def enqueue_webhook_delivery(connection: redis.Redis, delivery_id: str, attempt: int, delay: float = 0.0) -> None:
    """Schedule attempt number ``attempt`` of a delivery, now or after ``delay`` seconds.

    RQ's scheduler has one-second resolution; a shorter delay runs within a second.
    """
    _enqueue(connection, "workers.webhooks.deliver_webhook", (delivery_id, attempt), delay)


def enqueue_webhook_sweep(connection: redis.Redis, delay: float) -> None:
    """Schedule the sweep that re-enqueues deliveries whose attempt never happened."""
    _enqueue(connection, "workers.webhooks.sweep_webhook_deliveries", (), delay)


def _enqueue(connection: redis.Redis, func: str, args: tuple[object, ...], delay: float) -> None:
    q = queue("webhooks", connection)
    options = {"result_ttl": _WEBHOOK_RESULT_TTL, "job_timeout": _WEBHOOK_JOB_TIMEOUT}
    try:
        if delay > 0:
            q.enqueue_in(timedelta(seconds=delay), func, *args, **options)
        else:
            q.enqueue(func, *args, **options)
    except redis.exceptions.RedisError as exc:
        raise StorageUnavailable(f"Redis is unavailable: {exc}") from exc
