"""Commits per account: each account's commits run one at a time, in order; accounts share a few threads.

One commit thread for every account of a watcher let one account's slow
content guard (up to 0.25 s a message, ``bridge.policy.guards``) or a
1,000-message burst hold up every other account's mail. Here commits are
queued per account on a fair pool (``bridge.webhooks.lanes``, one thread per
key at a time): an account keeps its UID order, and another account's
commit runs on another thread meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from bridge.webhooks.lanes import Lanes

T = TypeVar("T")

# Threads shared by all accounts' commits; each commit is mostly Redis round trips and the gate.
COMMIT_THREADS = 4
# Queued commits across accounts; each account has at most a few queued at once (the pipeline
# awaits each), so this only bounds a pathological number of accounts.
_MAX_QUEUED = 100_000

_Work = tuple[Callable[[], Any], "Future[Any]"]


class Committer:
    """Runs ``fn(*args)`` serially per key (account) on a small fair thread pool."""

    def __init__(self, threads: int = COMMIT_THREADS) -> None:
        self._lanes: Lanes[_Work] = Lanes(
            _run, threads=threads, per_key=1, max_queued=_MAX_QUEUED, name="inbound-commit"
        )

    async def run(self, key: str, fn: Callable[..., T], *args: Any) -> T:
        """Run after every earlier commit of ``key``; other keys' commits run in parallel."""
        future: Future[T] = Future()
        if not self._lanes.offer(key, (lambda: fn(*args), future)):
            raise RuntimeError("inbound commit queue is full or closed")
        return await asyncio.wrap_future(future)

    def close(self, timeout: float = 5.0) -> None:
        self._lanes.close(timeout)


def _run(work: _Work) -> None:
    fn, future = work
    if not future.set_running_or_notify_cancel():
        return
    try:
        future.set_result(fn())
    except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine, which re-raises it
        future.set_exception(exc)
