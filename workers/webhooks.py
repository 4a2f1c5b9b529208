"""RQ jobs of webhook delivery: make one attempt, sweep up lost ones.

Jobs take ids and load the rest. A failed attempt is not an exception here:
it is recorded in the delivery's attempt log (status, latency, error) and the
next attempt is scheduled with ``enqueue_in`` as the retry policy says, so the
log, not RQ's failed-job registry, is where delivery failures are read. A job
that cannot do its work (Redis down) raises, and RQ records it.

The process's ``Dispatcher`` is the one installed (tests, or a process that
started one); otherwise the first job builds it from ``load_settings(os.environ)``.
"""

from __future__ import annotations

import threading
import time

from rq import get_current_job

from bridge import jobs
from bridge.events.emit import after_attempt, start_dispatcher
from bridge.storage.webhooks import pending_deliveries
from bridge.webhooks import dispatcher as webhooks
from bridge.webhooks.dispatcher import Dispatcher
from workers.environment import storage_from_environment

_lock = threading.Lock()


def deliver_webhook(delivery_id: str, attempt: int = 0) -> str:
    """Make attempt number ``attempt`` of a delivery (0: whichever is next).

    Returns the outcome (delivered, retry, failed, or skipped:<why>).
    """
    dispatcher = _dispatcher()
    result = dispatcher.attempt(delivery_id, attempt)
    after_attempt(dispatcher.storage, result, dispatcher.policy)
    return result.outcome if result.reason is None else f"{result.outcome}:{result.reason}"


def sweep_webhook_deliveries(startup: bool = False) -> int:
    """Enqueue deliveries whose attempt is overdue by more than the grace time.

    Reschedules itself while anything is pending; returns how many it enqueued.
    ``startup``: a one-off sweep when a worker starts (after a crash nothing else
    may be scheduled); it starts the chain only when none runs.
    """
    if startup and not _anything_pending():
        return 0  # every worker start runs this: stay cheap, and need no settings, when idle
    dispatcher = _dispatcher()
    storage, policy = dispatcher.storage, dispatcher.policy
    overdue = storage.webhooks.overdue(time.time(), policy.grace)
    for delivery_id, attempt in overdue:
        jobs.enqueue_webhook_delivery(storage.redis, delivery_id, attempt)
    ttl = 3 * policy.sweep_interval
    if startup:
        if storage.webhooks.pending_count() and storage.webhooks.sweeper.claim(ttl):
            jobs.enqueue_webhook_sweep(storage.redis, policy.sweep_interval)
    elif not storage.webhooks.sweeper.release_if_idle():
        storage.webhooks.sweeper.keep(ttl)
        jobs.enqueue_webhook_sweep(storage.redis, policy.sweep_interval)
    return len(overdue)


def _anything_pending() -> bool:
    found = webhooks.installed()
    if found is not None:
        return found.storage.webhooks.pending_count() > 0
    job = get_current_job()
    return job is None or pending_deliveries(job.connection) > 0


def _dispatcher() -> Dispatcher:
    with _lock:
        found = webhooks.installed()
        if found is not None:
            return found
        return start_dispatcher(*storage_from_environment("webhook"))
