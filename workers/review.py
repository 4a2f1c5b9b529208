"""RQ jobs of review holds: email the reviewers, and apply onExpiry when a hold runs out.

Jobs take a review id and load the rest; the hold's state is the truth, so a
notification for a decided hold and an expiry of a decided hold do nothing.
Reviewer emails go through the account's own SMTP server; a failure raises
so RQ retries it (``bridge.jobs`` gives the job a Retry).
"""

from __future__ import annotations

import asyncio
import secrets

from rq import get_current_job

from bridge import jobs
from bridge.compose.model import Composed
from bridge.errors import NotFound
from bridge.models import ServerConfig
from bridge.outbound import smtp
from bridge.review import holds
from bridge.review import mail as review_mail
from bridge.review.links import State
from bridge.storage.reviews import pending_holds
from workers.context import WorkerContext, current


def notify_reviewers(review_id: str) -> str:
    """Email each reviewer of a pending hold its approve and reject links; returns ``sent:<n>`` or ``skipped:<why>``."""
    rt = _get_runtime()
    review = rt.storage.reviews.get(review_id)
    if review is None or review.state != State.PENDING.value:
        return "skipped:decided"
    try:
        account = rt.storage.accounts.get(review.account)
    except NotFound:
        return "skipped:no-account"
    if account.smtp is None or not review.reviewers:
        return "skipped:no-smtp-or-reviewers"
    now = rt.clock.now()
    emails = [
        review_mail.build(
            review,
            reviewer,
            sender=account.email,
            public_url=rt.settings.public_url,
            secret=rt.settings.secret.reveal(),
            now=now,
            unique=f"review.{secrets.token_hex(10)}",
        )
        for reviewer in review.reviewers
    ]
    asyncio.run(_send(account.smtp, emails))
    return f"sent:{len(emails)}"


def expire_review(review_id: str) -> str:
    """Apply the hold's onExpiry if nobody decided in time; returns the store's answer."""
    context = _get_runtime()
    return holds.expire(context.storage, review_id, now=context.clock.now())


def sweep_reviews(startup: bool = False) -> int:
    """Expire holds whose expiry job is overdue; reschedules itself while any hold is pending.

    ``startup``: a one-off sweep when a worker starts; it starts the chain only when none runs.
    Returns how many holds it expired.
    """
    if startup and not _holds_pending():
        return 0  # every worker start runs this: stay cheap, and need no settings, when idle
    context = _get_runtime()
    storage = context.storage
    expired = holds.expire_overdue(storage, now=context.clock.now())
    ttl = 3 * holds.REVIEW_SWEEP_INTERVAL_S
    if startup:
        if pending_holds(storage.redis) and storage.reviews.sweeper.claim(ttl):
            jobs.enqueue_review_sweep(storage.redis, holds.REVIEW_SWEEP_INTERVAL_S)
    elif not storage.reviews.sweeper.release_if_idle():
        storage.reviews.sweeper.keep(ttl)
        jobs.enqueue_review_sweep(storage.redis, holds.REVIEW_SWEEP_INTERVAL_S)
    return expired


def _holds_pending() -> bool:
    job = get_current_job()  # its connection: enough to know, before the context is needed
    return job is None or pending_holds(job.connection) > 0


async def _send(config: ServerConfig, emails: list[Composed]) -> None:
    async with smtp.connection(config) as client:
        for email in emails:
            await smtp.send(
                client, mail_from=email.envelope_from, recipients=email.recipients, raw=email.raw,
                smtputf8=email.smtputf8,
            )  # fmt: skip


def _get_runtime() -> WorkerContext:
    """This worker's context (``workers.context``: RQ passes jobs nothing but their arguments)."""
    return current()
