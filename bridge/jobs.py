"""Enqueue helpers: the only module (with workers/) that imports rq.

Queues use RQ's JSON serializer so job arguments stay plain data (ids), and
this is the one place that names ``workers.*`` functions.
"""

from __future__ import annotations

import math
import secrets
import time
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import redis.client
import redis.exceptions
from rq import Queue, Retry, SimpleWorker, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

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
    worker = SimpleWorker(
        all_queues(connection),
        connection=connection,
        serializer=SERIALIZER,
        name=name,
        # RQ re-tries to take the scheduler lock of a dead worker only in its maintenance run
        # (default every 10 min, and an idle worker blocks ~400 s in BLPOP): scheduled sends and
        # retries would stall that long after a crash. A minute bounds the stall.
        maintenance_interval=60,
        worker_ttl=75,
    )
    # Take over sends a crashed worker left behind (outbox leases), without waiting for the scheduler.
    enqueue_outbox_sweep(connection, 0, startup=True)
    # Likewise for webhook deliveries whose attempt died with a process (the sweep chain may be gone).
    enqueue_webhook_sweep(connection, 0, startup=True)
    # And for review holds whose expiry job was lost.
    enqueue_review_sweep(connection, 0, startup=True)
    worker.work(burst=burst, with_scheduler=True, logging_level="WARNING")


# --- webhooks ----------------------------------------------------------------

# The delivery record and its attempt log keep the outcome; RQ's copy would cost Redis commands per attempt.
_WEBHOOK_RESULT_TTL = 0
# One attempt takes at most ~3 timeouts (connect, write, read); RQ kills a job past this.
_WEBHOOK_JOB_TIMEOUT = 120


def enqueue_webhook_delivery(connection: redis.Redis, delivery_id: str, attempt: int, delay: float = 0.0) -> None:
    """Schedule attempt number ``attempt`` of a delivery, now or after ``delay`` seconds.

    RQ's scheduler has one-second resolution; a shorter delay runs within a second.
    """
    _enqueue(connection, "workers.webhooks.deliver_webhook", (delivery_id, attempt), delay)


def enqueue_webhook_sweep(connection: redis.Redis, delay: float, *, startup: bool = False) -> None:
    """Schedule the sweep that re-enqueues deliveries whose attempt never happened.

    ``startup``: a one-off sweep when a worker starts; it starts the sweep chain only if none runs.
    """
    _enqueue(connection, "workers.webhooks.sweep_webhook_deliveries", (startup,) if startup else (), delay)


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


# --- outbound mail -------------------------------------------------------------

SEND_JOB = "workers.mail.send_message"
DRAIN_JOB = "workers.mail.drain_outbox"
FILE_SENT_JOB = "workers.mail.file_sent_message"
OUTBOX_SWEEP_JOB = "workers.mail.sweep_outbox"
# The outbox entry keeps the outcome; storing RQ's copy too costs Redis commands on every send.
_SEND_RESULT_TTL = 0
# A 25 MiB message over a slow uplink; RQ kills a job past this (the lease lets another worker take over).
_SEND_JOB_TIMEOUT = 900
# Sent upload and flags: IMAP hiccups are retried by RQ; the message itself is already sent.
_FILE_SENT_RETRY_INTERVALS = [10, 60, 300, 900, 3600]
# Queue objects cache the Redis server version (an INFO call each time one is built).
_queue_cache: weakref.WeakKeyDictionary[redis.Redis, dict[str, Queue]] = weakref.WeakKeyDictionary()


def _cached_queue(name: str, connection: redis.Redis) -> Queue:
    per_connection = _queue_cache.setdefault(connection, {})
    found = per_connection.get(name)
    if found is None:
        found = per_connection[name] = queue(name, connection)
    return found


def new_send_job_id(queue_id: str) -> str:
    """A fresh RQ job id for one send attempt of an outbox entry (ids are [A-Za-z0-9_-])."""
    return f"send-{queue_id}-{secrets.token_hex(4)}"


def enqueue_send(
    connection: redis.Redis,
    queue_id: str,
    job_id: str,
    *,
    at: float | None = None,
    pipeline: redis.client.Pipeline | None = None,
) -> None:
    """Run the send job for an outbox entry now, or at epoch ``at`` through RQ's scheduler.

    With ``pipeline`` the job is only written when the caller executes it, so an
    entry and its job can be stored in one transaction.
    """
    q = _cached_queue("send", connection)
    options: dict[str, Any] = {
        "job_id": job_id,
        "result_ttl": _SEND_RESULT_TTL,
        "failure_ttl": 7 * 24 * 3600,
        "job_timeout": _SEND_JOB_TIMEOUT,
        "pipeline": pipeline,
    }
    try:
        if at is not None and at > time.time():
            # RQ's scheduled registry keeps whole seconds and its scheduler looks once a second. Rounding
            # up made sends up to ~2 s late; the job starts at the second before instead and waits out
            # the rest itself (workers.mail.send_message), so it is at most ~1 s late and never early.
            q.enqueue_at(datetime.fromtimestamp(math.floor(at), UTC), SEND_JOB, queue_id, **options)
        else:
            q.enqueue(SEND_JOB, queue_id, **options)
    except redis.exceptions.RedisError as exc:
        raise StorageUnavailable(f"Redis is unavailable: {exc}") from exc


def new_drain_job_id() -> str:
    """A fresh RQ job id for a drain job (``workers.mail.drain_outbox``)."""
    return f"drain-{secrets.token_hex(8)}"


def enqueue_drain(connection: redis.Redis, job_id: str) -> None:
    """Run a drain job: the first attempts of the outbox's ready list, one after another, in one RQ job."""
    q = _cached_queue("send", connection)
    try:
        q.enqueue(
            DRAIN_JOB,
            job_id,
            job_id=job_id,
            result_ttl=_SEND_RESULT_TTL,
            failure_ttl=7 * 24 * 3600,
            job_timeout=_SEND_JOB_TIMEOUT,
        )
    except redis.exceptions.RedisError as exc:
        raise StorageUnavailable(f"Redis is unavailable: {exc}") from exc


def enqueue_file_sent(connection: redis.Redis, queue_id: str) -> None:
    """Upload the sent copy to Sent and flag the referenced message, with RQ retries."""
    q = _cached_queue("default", connection)
    try:
        q.enqueue(
            FILE_SENT_JOB,
            queue_id,
            result_ttl=300,
            retry=Retry(max=len(_FILE_SENT_RETRY_INTERVALS), interval=_FILE_SENT_RETRY_INTERVALS),
        )
    except redis.exceptions.RedisError as exc:
        raise StorageUnavailable(f"Redis is unavailable: {exc}") from exc


def enqueue_outbox_sweep(connection: redis.Redis, delay: float, *, startup: bool = False) -> None:
    """Schedule the sweep that takes over sends whose worker died and re-enqueues lost jobs.

    ``startup``: a one-off sweep when a worker starts; it continues the sweep chain only if none runs.
    """
    _enqueue_sweep(connection, OUTBOX_SWEEP_JOB, delay, startup)


def _enqueue_sweep(connection: redis.Redis, func: str, delay: float, startup: bool) -> None:
    """A sweep job on the default queue (outbox, reviews); its result is not kept."""
    q = _cached_queue("default", connection)
    try:
        if delay <= 0:
            q.enqueue(func, startup, result_ttl=0)
        else:
            q.enqueue_in(timedelta(seconds=delay), func, startup, result_ttl=0)
    except redis.exceptions.RedisError as exc:
        raise StorageUnavailable(f"Redis is unavailable: {exc}") from exc


def pending_jobs(connection: redis.Redis, job_ids: list[str]) -> set[str]:
    """The ids among ``job_ids`` that RQ will still run (queued, scheduled, started or deferred)."""
    try:
        jobs = Job.fetch_many(job_ids, connection=connection, serializer=SERIALIZER)
    except redis.exceptions.RedisError as exc:
        raise StorageUnavailable(f"Redis is unavailable: {exc}") from exc
    waiting = {JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.STARTED, JobStatus.DEFERRED}
    return {job.id for job in jobs if job is not None and job.get_status(refresh=False) in waiting}


def discard_job(connection: redis.Redis, job_id: str) -> None:
    """Remove a job from its queue or schedule (after a cancel); a job already gone is fine."""
    try:
        Job.fetch(job_id, connection=connection, serializer=SERIALIZER).delete(remove_from_queue=True)
    except NoSuchJobError:
        return
    except redis.exceptions.RedisError as exc:
        raise StorageUnavailable(f"Redis is unavailable: {exc}") from exc


# --- review holds ----------------------------------------------------------------

REVIEW_NOTIFY_JOB = "workers.review.notify_reviewers"
REVIEW_EXPIRE_JOB = "workers.review.expire_review"
# Reviewer emails go through the account's SMTP server; a hiccup there is retried.
_NOTIFY_RETRY_INTERVALS = [10, 60, 300, 900]


REVIEW_SWEEP_JOB = "workers.review.sweep_reviews"


def enqueue_review_sweep(connection: redis.Redis, delay: float, *, startup: bool = False) -> None:
    """Schedule the sweep that expires holds whose expiry job was lost.

    ``startup``: a one-off sweep when a worker starts; it starts the sweep chain only if none runs.
    """
    _enqueue_sweep(connection, REVIEW_SWEEP_JOB, delay, startup)


def review_expire_job_id(review_id: str) -> str:
    return f"review-expire-{review_id}"


def enqueue_review_jobs(
    connection: redis.Redis,
    review_id: str,
    expires_at: float,
    *,
    notify: bool,
    pipeline: redis.client.Pipeline | None = None,
) -> None:
    """Email the reviewers of a hold now (when ``notify``) and apply its onExpiry at ``expires_at``.

    With ``pipeline`` the jobs are written only when the caller executes it, so a
    hold and its jobs are stored in one transaction.
    """
    q = _cached_queue("default", connection)
    try:
        if notify:
            q.enqueue(
                REVIEW_NOTIFY_JOB,
                review_id,
                job_id=f"review-notify-{review_id}",
                result_ttl=300,
                retry=Retry(max=len(_NOTIFY_RETRY_INTERVALS), interval=_NOTIFY_RETRY_INTERVALS),
                pipeline=pipeline,
            )
        # RQ's scheduler stores whole seconds (it truncates); round up so the expiry never fires early.
        q.enqueue_at(
            datetime.fromtimestamp(math.ceil(expires_at), UTC),
            REVIEW_EXPIRE_JOB,
            review_id,
            job_id=review_expire_job_id(review_id),
            result_ttl=300,
            pipeline=pipeline,
        )
    except redis.exceptions.RedisError as exc:
        raise StorageUnavailable(f"Redis is unavailable: {exc}") from exc
