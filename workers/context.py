"""One worker process's context: what its RQ jobs share (storage, settings, the webhook dispatcher, the SMTP pool).

Created once by the worker entry (``python app.py worker``, ``bridge.runtime.cli``)
with ``worker_context(...)``, which binds it around the worker loop; a job
reaches it with ``current()``.

Why a context variable, and not an argument or a module global: RQ calls a job
by dotted path with its JSON arguments and nothing else, so what a process keeps
between jobs must be found, not passed. RQ finds the running job the same way
(``rq.get_current_job`` reads a context-local stack, ``rq.local``). The worker is a
``SimpleWorker`` (``bridge.jobs``) that runs every job on the thread that called
``work()``, so the context bound around that call is the one each job sees. Nothing
is built on demand from the environment: a job run where no context is bound
fails with ``ConfigError``, and a test binds its own around the worker it runs, so
one test's storage, policies or dispatcher never leak into the next.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from bridge.clock import SYSTEM_CLOCK, Clock
from bridge.config import Settings
from bridge.errors import ConfigError
from bridge.outbound import smtp
from bridge.outbound.submit import DEFAULT_POLICY, SendPolicy
from bridge.storage import Storage
from bridge.webhooks.delivery import DEFAULT_POLICY as DEFAULT_WEBHOOK_POLICY
from bridge.webhooks.delivery import RetryPolicy
from bridge.webhooks.dispatcher import Dispatcher


@dataclass
class SendRuntime:
    """What send jobs keep between jobs: one event loop and its SMTP connection pool."""

    storage: Storage
    policy: SendPolicy
    dispatcher: Dispatcher
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    pool: smtp.Pool = field(default_factory=smtp.Pool)
    clock: Clock = SYSTEM_CLOCK  # leases, due times and sent-at stamps (the worker's one clock seam)

    def close(self) -> None:
        self.loop.run_until_complete(self.pool.close_all())
        self.loop.close()


@dataclass(frozen=True)
class WorkerContext:
    """Everything a job may use; ``dispatcher`` makes first webhook attempts of the events jobs emit."""

    storage: Storage
    settings: Settings
    dispatcher: Dispatcher
    mail: SendRuntime
    clock: Clock = SYSTEM_CLOCK


_current: ContextVar[WorkerContext] = ContextVar("mailbridge_worker_context")


@contextlib.contextmanager
def worker_context(
    storage: Storage,
    settings: Settings,
    *,
    send_policy: SendPolicy = DEFAULT_POLICY,
    webhook_policy: RetryPolicy = DEFAULT_WEBHOOK_POLICY,
    dispatcher: Dispatcher | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Iterator[WorkerContext]:
    """Build a worker context, bind it for the jobs run inside the block, then close what it built.

    ``dispatcher``: one the caller owns (and closes); by default the context builds its own.
    """
    with contextlib.ExitStack() as stack:
        if dispatcher is None:
            dispatcher = stack.enter_context(
                Dispatcher(storage, production=settings.production, policy=webhook_policy, clock=clock)
            )
        pool = smtp.Pool(idle_s=send_policy.smtp_idle_s, timeout=send_policy.smtp_timeout_s)
        mail = SendRuntime(storage, send_policy, dispatcher, pool=pool, clock=clock)
        stack.callback(mail.close)
        context = WorkerContext(storage, settings, dispatcher, mail, clock)
        token = _current.set(context)
        stack.callback(_current.reset, token)
        yield context


def current() -> WorkerContext:
    """The context of the worker running this job.

    Raises:
        ConfigError: no context is bound (a worker not started by ``python app.py worker``).
    """
    try:
        return _current.get()
    except LookupError:
        raise ConfigError("no worker context: RQ jobs run in a worker started by `python app.py worker`") from None
