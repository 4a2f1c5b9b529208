"""Enqueue helpers: the only module (with workers/) that imports rq.

Queues use RQ's JSON serializer so job arguments stay plain data (ids), and
this is the one place that names ``workers.*`` functions.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import secrets
import signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
import redis.client
import redis.exceptions
from rq import Queue, Retry, SimpleWorker, Worker
from rq.exceptions import NoSuchJobError, StopRequested
from rq.job import Job, JobStatus
from rq.scheduler import RQScheduler
from rq.timeouts import JobTimeoutException, UnixSignalDeathPenalty

from bridge.errors import StorageUnavailable

QUEUE_NAMES = ("send", "webhooks", "default")
SERIALIZER = "json"
# Pause before a worker loop that ended on an error starts again: first, and at most.
_RESTART_PAUSE_S = (1.0, 10.0)
log = logging.getLogger(__name__)


def queue(name: str, connection: redis.Redis) -> Queue:
    """The RQ queue of a name, with the JSON serializer.

    Cheap to build, so nothing keeps them: rq (2.x) caches the Redis server version on the
    connection, so fresh Queue objects cost one INFO per connection, not one each (measured:
    50 fresh queues and enqueues, 1 INFO).
    """
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
    """Run an RQ worker with the scheduler on every Mailbridge queue, until SIGTERM/SIGINT.

    SimpleWorker runs jobs in this process: RQ's default Worker forks per job,
    which costs tens of milliseconds each (measured for bench/submit.py) and
    would dominate webhook and send latency. Scale by running more workers.

    The scheduler runs on a thread of this process (``_SchedulerThread``), not
    as RQ's forked child, and a worker loop that RQ ends on a Redis error is
    started again: the process outlives a Redis outage and picks up when it ends.
    """
    if burst:
        _startup_sweeps(connection)
        _new_worker(connection, name).work(burst=True, with_scheduler=True, logging_level="WARNING")
        return
    scheduler = _SchedulerThread(connection)
    scheduler.start()
    try:
        _work_until_stopped(connection, name)
    finally:
        scheduler.stop()


# How long a job in flight may go on once the worker is asked to stop (SIGINT, SIGTERM); then it is
# interrupted. RQ's warm shutdown waits for it however long it takes (a webhook attempt: 3 x 10 s, a
# send: its SMTP timeouts), past `app.py run`'s 10 s before SIGKILL. An interrupted job is what a killed
# worker leaves behind, which every job is built for: leases expire and sweeps take over, Retry jobs retry.
STOP_GRACE_S = 2.0
# How often an interruption put off by ``finish_before_stop`` looks again whether the stretch has ended.
_HOLD_RECHECK_S = 0.1


class WorkerStopping(JobTimeoutException):
    """Raised in a job still running ``STOP_GRACE_S`` after its worker was asked to stop.

    A ``JobTimeoutException`` for RQ: the job fails (or is retried) as one that ran out of time.
    """


class _StopState:
    """What a stop request means to the job running in this process (a SimpleWorker runs one job at a time,
    in the main thread, where signal handlers run too): per process by nature, like the handlers that set it.

    ``requested`` is set on SIGINT/SIGTERM. ``holding`` counts stretches of a job that must not be cut in
    the middle (``finish_before_stop``): an interruption due in one is put off until it ends.
    """

    requested = threading.Event()
    holding = 0


@contextlib.contextmanager
def finish_before_stop() -> Iterator[None]:
    """A stretch of a job that a stop request does not interrupt: it is let finish, then the job is.

    For a send from DATA until it is recorded sent and announced: cut there, the server may already have
    accepted the message, and the retry would deliver it twice. Bounded still: `app.py run` SIGKILLs a role
    10 s after asking it to stop, and the SMTP timeouts bound DATA.
    """
    _StopState.holding += 1
    try:
        yield
    finally:
        _StopState.holding -= 1


def stop_requested() -> bool:
    """Whether this worker process was asked to stop: a job serving a backlog hands it over instead of
    taking the next item (False outside a worker)."""
    return _StopState.requested.is_set()


class _JobDeadline(UnixSignalDeathPenalty):
    """RQ's job timeout (SIGALRM), cut to ``STOP_GRACE_S`` once its worker is asked to stop.

    Each worker has a subclass of its own that names its ``stopping`` event and keeps the
    deadline of the job it runs in ``current`` (a SimpleWorker runs one job at a time).
    """

    stopping: threading.Event
    current: _JobDeadline | None = None

    def setup_death_penalty(self) -> None:
        type(self).current = self
        signal.signal(signal.SIGALRM, self.handle_death_penalty)
        if self._timeout > 0:
            signal.setitimer(signal.ITIMER_REAL, self._timeout)
        if self.stopping.is_set():
            self.cut()

    def cancel_death_penalty(self) -> None:
        type(self).current = None
        super().cancel_death_penalty()  # type: ignore[no-untyped-call]  # rq leaves it untyped

    def cut(self) -> None:
        left = signal.getitimer(signal.ITIMER_REAL)[0]
        if left == 0 or left > STOP_GRACE_S:
            signal.setitimer(signal.ITIMER_REAL, STOP_GRACE_S)

    def handle_death_penalty(self, signum: int, frame: Any) -> None:
        if self.stopping.is_set():
            if _StopState.holding:  # in a stretch that must finish (finish_before_stop): look again soon
                signal.setitimer(signal.ITIMER_REAL, _HOLD_RECHECK_S)
                return
            raise WorkerStopping(f"the worker is stopping: job interrupted after {STOP_GRACE_S:g} s")
        super().handle_death_penalty(signum, frame)  # type: ignore[no-untyped-call]


class _Worker(SimpleWorker):
    """RQ's SimpleWorker that reports a stop request to ``stop``, stops within ``STOP_GRACE_S`` even with
    a job in flight, and tears down without Redis."""

    # RQ's retry pause while Redis is away doubles up to 60 s, so a worker could sit out a minute after Redis
    # came back; retrying a refused connection every 2 s costs nothing (and logs one line each time).
    max_connection_wait_time = 2.0

    def __init__(self, *args: Any, stop: threading.Event, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stop = stop
        self.deadline: type[_JobDeadline] = type("JobDeadline", (_JobDeadline,), {"stopping": stop})
        self.death_penalty_class = self.deadline

    def _install_signal_handlers(self) -> None:
        super()._install_signal_handlers()  # type: ignore[no-untyped-call]
        if self.stop.is_set():  # the signal came before RQ's handlers were in place
            self._stop_requested = True

    def request_stop(self, signum: int, frame: Any) -> None:
        self.stop.set()
        _StopState.requested.set()
        running = self.deadline.current
        if running is not None:
            running.cut()
        super().request_stop(signum, frame)  # type: ignore[no-untyped-call]  # rq leaves it untyped

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        if isinstance(exc_info[1], WorkerStopping):
            # Expected on a stop: one line, not RQ's error with a traceback.
            log.warning("job %s (%s) interrupted: %s", job.id, job.func_name, exc_info[1])
            return
        super().handle_exception(job, *exc_info)

    def teardown(self) -> None:
        try:
            super().teardown()  # type: ignore[no-untyped-call]
        except redis.exceptions.RedisError as exc:
            # Redis is down: the registration expires with its TTL; the pubsub thread must still end.
            log.warning("worker teardown without Redis (%s)", exc)
            with contextlib.suppress(redis.exceptions.RedisError):
                self.unsubscribe()  # type: ignore[no-untyped-call]


def _new_worker(connection: redis.Redis, name: str | None, stop: threading.Event | None = None) -> _Worker:
    return _Worker(
        all_queues(connection),
        connection=connection,
        serializer=SERIALIZER,
        name=name,
        # Registries of dead workers' jobs are cleaned in maintenance (RQ's default: every 10 min).
        maintenance_interval=60,
        worker_ttl=75,
        stop=stop or threading.Event(),
    )


def _work_until_stopped(connection: redis.Redis, name: str | None) -> None:
    """Run worker loops one after another until SIGTERM or SIGINT.

    RQ retries a Redis outage only while it waits for a job; one that hits a job's
    bookkeeping, a maintenance run or the startup ends its loop ("unhandled exception,
    quitting"). Start a new worker (a new name: the old one may still be registered)
    after a pause that grows while it keeps failing.
    """
    stop = threading.Event()
    # Until a worker loop puts RQ's handlers in place (and between loops), a signal only asks to stop:
    # a Ctrl-C while the worker starts is a clean stop, not a KeyboardInterrupt traceback.
    _stop_on_signals(stop)
    pause = _RESTART_PAUSE_S[0]
    for run in itertools.count():
        if stop.is_set():
            return
        started = time.monotonic()
        try:
            # Inside the try: the constructor already talks to Redis (CLIENT SETNAME).
            worker = _new_worker(connection, name if run == 0 else None, stop)
            _startup_sweeps(connection)
            worker.work(logging_level="WARNING")
        except (redis.exceptions.RedisError, StorageUnavailable, StopRequested) as exc:
            if not stop.is_set():
                log.warning("Redis is unavailable (%s)", exc)
        finally:
            # RQ's signal handlers belong to the worker that ended: from now on a signal only asks to stop.
            _stop_on_signals(stop)
        if stop.is_set():
            return
        log.warning("the RQ worker loop ended; starting a new one in %.0f s", pause)
        deadline = time.monotonic() + pause
        while not stop.is_set() and time.monotonic() < deadline:
            time.sleep(0.1)
        if stop.is_set():
            return
        ran_s = time.monotonic() - started
        pause = _RESTART_PAUSE_S[0] if ran_s > 60 else min(pause * 2, _RESTART_PAUSE_S[1])


def _stop_on_signals(stop: threading.Event) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda signum, frame: stop.set())


def _startup_sweeps(connection: redis.Redis) -> None:
    """Take over work that a dead process or a lost job left behind, without waiting for a sweep chain.

    Run when a worker (re)starts, when Redis comes back and every 2 minutes: a sweep chain whose next
    job could not be enqueued (Redis away) has ended, and a startup sweep sweeps once and starts a new
    chain as soon as the old one's claim has expired.
    """
    enqueue_outbox_sweep(connection, 0, startup=True)  # sends of a crashed worker (outbox leases)
    enqueue_webhook_sweep(connection, 0, startup=True)  # webhook attempts that died with a process
    enqueue_review_sweep(connection, 0, startup=True)  # review holds whose expiry job was lost


class _SchedulerThread:
    """RQ's scheduler, ticked once a second by a thread of the worker process.

    RQ runs its scheduler as a forked child whose loop ends on the first Redis
    error; the worker restarts it only in a maintenance run (every 60 s at best,
    and not while it blocks up to 60 s waiting for a job), so a 3 s Redis blip
    made scheduled sends, webhook and SMTP retries ~1 min late. And the child
    outlived a worker killed with SIGKILL. A thread dies with its process, and
    this loop retries every second while Redis is away. Locks are RQ's (one
    scheduler per queue across all workers); a worker without them tries to take
    them every few seconds, so a dead worker's scheduling resumes when its locks
    expire (61 s).
    """

    def __init__(self, connection: redis.Redis, *, interval: float = 1.0, sweep_every_s: float = 120.0) -> None:
        pool = connection.connection_pool
        # Its own client with short timeouts: the worker's blocks up to 70 s in BLPOP.
        kwargs = {**pool.connection_kwargs, "socket_timeout": 5, "socket_connect_timeout": 3}
        self._connection = redis.Redis(
            connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **kwargs)
        )
        # Any: RQScheduler's methods carry no annotations.
        self._scheduler: Any = RQScheduler(list(QUEUE_NAMES), connection=self._connection, serializer=SERIALIZER)
        self._interval = interval
        self._sweep_every_s = sweep_every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rq-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        with contextlib.suppress(redis.exceptions.RedisError):
            self._scheduler.stop()  # releases its locks, so another worker's scheduler takes over at once
        self._connection.close()

    def _run(self) -> None:
        down_since: float | None = None
        last_lock_try, last_sweep = -math.inf, time.monotonic()
        while not self._stop.wait(self._interval):
            try:
                now = time.monotonic()
                if self._scheduler.acquired_locks != set(QUEUE_NAMES) and now - last_lock_try >= 5 * self._interval:
                    last_lock_try = now
                    if self._scheduler.acquire_locks():
                        self._scheduler.register_birth()  # its metadata hash, as RQ's scheduler process writes it
                if self._scheduler.acquired_locks:
                    self._scheduler.heartbeat()
                    self._scheduler.enqueue_scheduled_jobs()
                if down_since is not None or now - last_sweep >= self._sweep_every_s:
                    _startup_sweeps(self._connection)
                    last_sweep = now
                if down_since is not None:
                    log.warning("scheduler: Redis is back after %.1f s", now - down_since)
                    down_since = None
            except (redis.exceptions.RedisError, StorageUnavailable) as exc:
                if down_since is None:
                    down_since = time.monotonic()
                    log.warning("scheduler: Redis is unavailable (%s); retrying every %.0f s", exc, self._interval)
            except Exception:
                log.exception("scheduler tick failed; retrying")


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
    q = queue("send", connection)
    options: dict[str, Any] = {  # RQ's enqueue keyword arguments
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
    q = queue("send", connection)
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
    """Upload the sent copy to Sent and flag the referenced message, with RQ retries.

    Two ways back: a transient failure the job expects (no watcher holds the account yet) is
    the job returning ``file_sent_retry`` (RQ schedules it and logs no error); anything it did
    not expect (Redis down, a bug) raises, and the ``retry`` given here runs it again.
    """
    q = queue("default", connection)
    try:
        q.enqueue(
            FILE_SENT_JOB,
            queue_id,
            result_ttl=300,
            retry=Retry(max=len(_FILE_SENT_RETRY_INTERVALS), interval=_FILE_SENT_RETRY_INTERVALS),
        )
    except redis.exceptions.RedisError as exc:
        raise StorageUnavailable(f"Redis is unavailable: {exc}") from exc


def file_sent_retry(job: Job | None) -> tuple[Retry, int] | None:
    """What a filing job returns to be run again later, and in how many seconds; None on its last try.

    RQ 2 schedules a job that returns a ``Retry`` (``Job.number_of_retries`` counts them) without
    logging the error and traceback it logs for a job that raises: an expected wait is not a failure.
    """
    done = (job.number_of_retries or 0) if job is not None else len(_FILE_SENT_RETRY_INTERVALS)
    if done >= len(_FILE_SENT_RETRY_INTERVALS):
        return None
    retry = Retry(max=len(_FILE_SENT_RETRY_INTERVALS), interval=_FILE_SENT_RETRY_INTERVALS)
    return retry, Retry.get_interval(done, _FILE_SENT_RETRY_INTERVALS)


def file_sent_retried(job: Job) -> bool:
    """Whether RQ ran this filing job before, either way back (``enqueue_file_sent``)."""
    raised = job.retries_left is not None and job.retries_left < len(job.retry_intervals or [0])
    return raised or bool(job.number_of_retries)


def enqueue_outbox_sweep(connection: redis.Redis, delay: float, *, startup: bool = False) -> None:
    """Schedule the sweep that takes over sends whose worker died and re-enqueues lost jobs.

    ``startup``: a one-off sweep when a worker starts; it continues the sweep chain only if none runs.
    """
    _enqueue_sweep(connection, OUTBOX_SWEEP_JOB, delay, startup)


def _enqueue_sweep(connection: redis.Redis, func: str, delay: float, startup: bool) -> None:
    """A sweep job on the default queue (outbox, reviews); its result is not kept."""
    q = queue("default", connection)
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
    q = queue("default", connection)
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


def queue_depths(connection: redis.Redis) -> dict[str, tuple[int, int]]:
    """Per queue: (jobs waiting to run now, jobs waiting for their time in RQ's scheduled registry).

    Read with LLEN and ZCARD in one round trip; RQ's own ``count`` helpers may clean up
    registries, which a scrape should not do.
    """
    queues = all_queues(connection)
    pipe = connection.pipeline(transaction=False)
    for q in queues:
        pipe.llen(q.key)
        pipe.zcard(q.scheduled_job_registry.key)
    try:
        counts = pipe.execute()
    except redis.exceptions.RedisError as exc:
        raise StorageUnavailable(f"Redis is unavailable: {exc}") from exc
    return {q.name: (int(counts[2 * i]), int(counts[2 * i + 1])) for i, q in enumerate(queues)}
