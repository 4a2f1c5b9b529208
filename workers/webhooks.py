"""RQ jobs of webhook delivery: make one attempt, sweep up lost ones.

Jobs take ids and load the rest. A failed attempt is not an exception here:
it is recorded in the delivery's attempt log (status, latency, error) and the
next attempt is scheduled with ``enqueue_in`` as the retry policy says, so the
log, not RQ's failed-job registry, is where delivery failures are read. A job
that cannot do its work (Redis down) raises, and RQ records it.

The attempts are made by the worker's ``Dispatcher``, found in its context
(``workers.context``), which also schedules each retry (``Dispatcher.follow_up``).
"""

from __future__ import annotations

from rq import get_current_job

from bridge import jobs
from bridge.storage.webhooks import pending_deliveries
from workers.context import current


def deliver_webhook(delivery_id: str, attempt: int = 0) -> str:
    """Make attempt number ``attempt`` of a delivery (0: whichever is next).

    Returns the outcome (delivered, retry, failed, or skipped:<why>).
    """
    dispatcher = current().dispatcher
    result = dispatcher.attempt(delivery_id, attempt)
    dispatcher.follow_up(result)
    return result.outcome if result.reason is None else f"{result.outcome}:{result.reason}"


def sweep_webhook_deliveries(startup: bool = False) -> int:
    """Enqueue deliveries whose attempt is overdue by more than the grace time.

    Reschedules itself while anything is pending; returns how many it enqueued.
    ``startup``: a one-off sweep when a worker starts (after a crash nothing else
    may be scheduled); it starts the chain only when none runs.
    """
    if startup and not _anything_pending():
        return 0  # every worker start runs this: stay cheap, and need no settings, when idle
    context = current()
    storage, policy = context.storage, context.dispatcher.policy
    overdue = storage.webhooks.overdue(context.clock.time(), policy.grace)
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
    job = get_current_job()  # its connection: enough to know, before the context is needed
    return job is None or pending_deliveries(job.connection) > 0
