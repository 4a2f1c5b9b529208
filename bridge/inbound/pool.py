"""Message analysis in worker processes, while a watcher has a backlog.

Why: one watcher process does everything for its accounts, and the GIL lets
all its threads together use one core. In a burst, analysis (parsing, DKIM,
classification; ~1.3 ms of CPU a message) took two thirds of that core, so
the second core sat idle while mail queued (bench/inbound.py, BENCHMARKS.md).

When: only for batches of at least ``min_batch`` messages; a message that
trickles in is analysed on a thread of the watcher, with no process hop on
its way to the webhook. The workers are started by the first big batch (which
is itself analysed on threads while they come up) and stopped after
``idle_s`` without work, so an idle watcher holding hundreds of accounts
carries no extra processes (each costs ~35 MB).

How: workers are spawned, not forked (the watcher has threads and open
sockets a fork would copy mid-use). Each builds its own resolver from the
watcher's settings and analyses a chunk on a small thread pool, so one
message's DNS wait does not hold up the rest of its chunk. What comes back is
``bridge.inbound.analysis.Analysed``: small, picklable, no MIME tree.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

from bridge.inbound.analysis import Analysed, analyse
from bridge.runtime.lifetime import exit_with_parent
from bridge.senderauth.dmarc import load_public_suffixes
from bridge.senderauth.resolver import DnsResolver

log = logging.getLogger(__name__)

MIN_BATCH = 16  # fewer messages than this are analysed on the watcher's threads
CHUNK = 10  # messages per task: small enough to commit early, large enough to amortise the hop
IDLE_S = 60.0
WORKER_THREADS = 8


@dataclass(frozen=True, slots=True)
class ResolverSpec:
    """How a worker builds its resolver: the watcher's DNS servers and timeout."""

    servers: list[tuple[str, int]] | None
    timeout: float


class AnalysisPool:
    """Worker processes for analysis, started on demand and stopped when idle."""

    def __init__(
        self,
        spec: ResolverSpec,
        *,
        processes: int = 1,
        idle_s: float = IDLE_S,
        min_batch: int = MIN_BATCH,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.spec = spec
        self.processes = processes
        self.idle_s = idle_s
        self.min_batch = min_batch
        self._clock = clock
        self._lock = threading.RLock()  # RLock: a warm-up future done at once runs its callback under it
        self._executor: ProcessPoolExecutor | None = None
        self._warm: list[Future[None]] = []
        self._in_flight = 0
        self.chunks_done = 0  # chunks analysed in workers, for logs and tests
        self._last_used = clock()
        self._closed = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="analysis-pool-reaper", daemon=True)
        self._reaper.start()

    @property
    def running(self) -> bool:
        return self._executor is not None

    def available(self) -> bool:
        """Whether workers are up to take work now; starts them when not.

        Starting takes a few hundred ms (a fresh interpreter, imports, the public
        suffix list): the caller analyses on its own threads meanwhile, so a burst
        never waits for the workers to come up.
        """
        with self._lock:
            if self._closed.is_set():
                return False
            if self._executor is None:
                log.info("starting %d analysis worker process(es)", self.processes)
                self._executor = ProcessPoolExecutor(
                    self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_worker,
                    initargs=(self.spec, os.getpid()),
                )
                self._warm = [self._executor.submit(_ready) for _ in range(self.processes)]
                for warm in self._warm:
                    warm.add_done_callback(self._touch)
                self._last_used = self._clock()
            if not all(f.done() for f in self._warm):
                return False
            failed = next((f.exception() for f in self._warm if f.exception() is not None), None)
            if failed is None:
                return True
            # A worker that cannot even start (a broken install) would fail again on every retry:
            # say so once and leave analysis on the watcher's threads for this process's lifetime.
            log.error("analysis workers failed to start (%r); analysing on threads from now on", failed)
            self._closed.set()
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        return False

    def submit(
        self, raws: list[bytes], trusted_receivers: tuple[str, ...], trusted_arc_sealers: tuple[str, ...] = ()
    ) -> Future[list[Analysed]]:
        """Analyse a chunk in a worker; the future fails if the worker died (the caller falls back)."""
        with self._lock:
            if self._executor is None:
                raise RuntimeError("the analysis workers are not running")
            self._in_flight += 1
            self._last_used = self._clock()
            future = self._executor.submit(_analyse_chunk, raws, trusted_receivers, trusted_arc_sealers)
        future.add_done_callback(self._finished)
        return future

    def reset(self) -> None:
        """Drop the workers (after one broke); the next submit starts new ones."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        self._closed.set()
        self.reset()
        self._reaper.join(timeout=5)

    def __enter__(self) -> AnalysisPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _finished(self, future: Future[list[Analysed]]) -> None:
        with self._lock:
            self._in_flight -= 1
            if not future.cancelled() and future.exception() is None:
                self.chunks_done += 1
            self._last_used = self._clock()

    def _touch(self, future: Future[None]) -> None:
        with self._lock:
            self._last_used = self._clock()

    def _reap(self) -> None:
        while not self._closed.wait(max(0.05, self.idle_s / 4)):
            with self._lock:
                # Starting is not idling: under load a start can take longer than idle_s.
                starting = not all(f.done() for f in self._warm)
                idle = not starting and self._in_flight == 0 and self._clock() - self._last_used >= self.idle_s
                executor = self._executor if idle else None
                if executor is not None:
                    self._executor = None
            if executor is not None:
                log.info("stopping the idle analysis worker process(es)")
                executor.shutdown(wait=True)


# -- in the worker process --------------------------------------------------------

_resolver: DnsResolver | None = None
_threads: ThreadPoolExecutor | None = None


def _start_worker(spec: ResolverSpec, parent_pid: int) -> None:
    global _resolver, _threads  # noqa: PLW0603 - one resolver and thread pool per worker process
    exit_with_parent(parent_pid)  # a watcher killed outright must not leave its workers behind
    _resolver = DnsResolver(spec.servers, timeout=spec.timeout)
    _threads = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="analysis")
    load_public_suffixes()


def _ready() -> None:
    """A no-op task: done once a worker has started and initialised."""


def _analyse_chunk(
    raws: list[bytes], trusted_receivers: tuple[str, ...], trusted_arc_sealers: tuple[str, ...] = ()
) -> list[Analysed]:
    resolver, threads = _resolver, _threads
    if resolver is None or threads is None:
        raise RuntimeError("analysis worker not initialised")
    return list(threads.map(lambda raw: analyse(raw, resolver, trusted_receivers, trusted_arc_sealers), raws))
