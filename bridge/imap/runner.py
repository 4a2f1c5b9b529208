"""The watcher process: which accounts this process watches, and for how long.

Several watcher processes may run. Each one heartbeats, and every tick it
claims unowned accounts up to its fair share (accounts / live watchers),
renews the leases it holds, and stops watching an account whose lease it
lost, that was deleted, or whose settings changed (it restarts it then).
A dead watcher's leases expire, so others take its accounts over within the
lease time.

Every tick is also a watchdog: a watch that ended (a bug escaped it) or that
overstayed its own liveness allowance (no sign of life: not connected, no
command answered, IDLE not renewed, for longer than its backoff and timeouts
allow) is restarted, once, with the reason in the log and the account's state.
"""

from __future__ import annotations

import asyncio
import asyncio.sslproto
import contextlib
import logging
import math
import os
import signal
import socket
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from bridge.config import Settings
from bridge.crypto import Vault
from bridge.errors import ConfigError
from bridge.imap import session
from bridge.imap.retry import utc_iso
from bridge.imap.watcher import AccountWatcher, Connect, MessageHandler, WatchTiming
from bridge.inbound.pipeline import InboundPipeline
from bridge.inbound.pool import AnalysisPool, ResolverSpec
from bridge.mailbox.server import CommandServer
from bridge.models import Account, AccountError, AccountState, ConnectionState, MailboxFault
from bridge.senderauth.dmarc import load_public_suffixes
from bridge.senderauth.resolver import DnsResolver
from bridge.storage import Storage, connect
from bridge.webhooks.dispatcher import Dispatcher

log = logging.getLogger(__name__)

ROLE = "watcher"
CONNECT_CONCURRENCY = 16
# How long a stopped watch may take to unwind; one that does not is left behind, not waited for.
STOP_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class LeaseTiming:
    lease_ms: int = 30_000
    tick_s: float = 5.0
    # A watcher that missed this many seconds of heartbeats no longer counts for fair shares.
    liveness_s: float = 20.0


@dataclass
class _Watched:
    account: Account
    watcher: AccountWatcher
    task: asyncio.Task[None]


@dataclass
class WatcherService:
    storage: Storage
    handler: MessageHandler
    watcher_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    leases: LeaseTiming = field(default_factory=LeaseTiming)
    timing: WatchTiming = field(default_factory=WatchTiming)
    # The seam that opens IMAP sessions (``session.connect``'s signature).
    connect: Connect = session.connect
    _watched: dict[str, _Watched] = field(default_factory=dict)
    # At most CONNECT_CONCURRENCY logins (TCP + TLS handshake + LOGIN) at a time, so a
    # watcher taking over hundreds of accounts neither storms the IMAP server nor holds
    # hundreds of half-done handshakes in memory at once: the peak stays in the heap as
    # fragmentation (bench/inbound.py, 100 idle IMAPS accounts: 249 -> 218 KiB per account,
    # within the noise of that machine; the server-side reason is the stronger one).
    _connecting: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(CONNECT_CONCURRENCY))
    _abandoned: set[asyncio.Task[None]] = field(default_factory=set)
    # Command connections per account for the live mailbox API (bridge.mailbox), beside each IDLE one.
    command_connections: int = 1
    commands: CommandServer = field(init=False)

    def __post_init__(self) -> None:
        self.commands = CommandServer(
            self.storage, self.watcher_id, self.held, size=self.command_connections, connect=self.connect
        )

    def held(self, account_id: str) -> tuple[Account, bool] | None:
        """The account and whether its mailbox is up, if this process watches it (holds its lease)."""
        found = self._watched.get(account_id)
        return None if found is None else (found.account, found.watcher.connected)

    @property
    def watched(self) -> list[str]:
        return sorted(self._watched)

    async def run(self) -> None:
        """Balance and watch, and serve mailbox commands, until cancelled; leases are released on the way out."""
        commands = asyncio.create_task(self.commands.run(), name="mailbox-commands")
        try:
            while True:
                try:
                    await self.tick()
                except Exception:  # noqa: BLE001 - Redis hiccups must not end the watcher
                    log.exception("watcher tick failed; retrying")
                await self.commands.reap(set(self._watched))
                await asyncio.sleep(self.leases.tick_s)
        finally:
            commands.cancel()
            await asyncio.gather(commands, return_exceptions=True)
            await self.stop_all()

    async def tick(self) -> None:
        store = self.storage
        await asyncio.to_thread(store.processes.beat, ROLE, self.watcher_id)
        accounts = {a.id: a for a in await asyncio.to_thread(store.accounts.list)}
        live = await asyncio.to_thread(store.processes.live, ROLE, self.leases.liveness_s)
        fair = math.ceil(len(accounts) / max(1, len(live)))
        for account_id in list(self._watched):
            current = accounts.get(account_id)
            renewed = await asyncio.to_thread(store.mailstate.renew, account_id, self.watcher_id, self.leases.lease_ms)
            if current is None or not renewed:
                await self._stop(account_id, release=current is not None)
            elif current.updated != self._watched[account_id].account.updated or self._ended(account_id):
                await self._stop(account_id, release=False)
                self._start(current)
            elif await self._stalled(account_id):
                await self._stop(account_id, release=False)
                self._start(current)
        # Give accounts back when others joined, so the load spreads.
        while len(self._watched) > fair + 1:
            await self._stop(sorted(self._watched)[-1], release=True)
        for account_id, account in sorted(accounts.items()):
            if len(self._watched) >= fair:
                break
            if account_id in self._watched:
                continue
            if await asyncio.to_thread(store.mailstate.claim, account_id, self.watcher_id, self.leases.lease_ms):
                self._start(account)

    def _start(self, account: Account) -> None:
        watcher = AccountWatcher(
            account,
            self.handler,
            self.storage.mailstate,
            timing=self.timing,
            connect=self.connect,
            connect_slots=self._connecting,
            push_latency=self.storage.metrics.push_latency,
        )
        task = asyncio.create_task(watcher.run(), name=f"watch:{account.id}")
        self._watched[account.id] = _Watched(account, watcher, task)
        log.info("watching account %s", account.id)

    def _ended(self, account_id: str) -> bool:
        """True when the account's watch ended by itself: an error no one expected escaped it.

        ``AccountWatcher.run`` retries every failure it knows; anything else is a
        bug, and one account's bug must not stop its mail for good: it is logged
        and the watch starts again on this tick (what was not checkpointed is
        fetched again).
        """
        task = self._watched[account_id].task
        if not task.done() or task.cancelled():
            return False
        log.error("watch of account %s ended; restarting it", account_id, exc_info=task.exception())
        return True

    async def _stalled(self, account_id: str) -> bool:
        """True when the account's watch showed no sign of life for longer than it allows itself.

        Nothing the watch waits for is unbounded, so this is a bug (in aioimaplib or here)
        leaving it stuck; the account's state says so until the new watch reports.
        """
        watched = self._watched[account_id]
        live = watched.watcher.liveness
        overdue = live.overdue(asyncio.get_running_loop().time())
        if overdue <= 0:
            return False
        silent = live.allowed + overdue
        message = (
            f"no sign of life for {silent:.0f} s while {live.doing} (allowed {live.allowed:.0f} s); watch restarted"
        )
        log.warning("account %s: %s", account_id, message)
        error = AccountError(code=MailboxFault.STALLED, message=message, at=utc_iso())
        state = AccountState(state=ConnectionState.CONNECT_ERROR, error=error, next_retry=utc_iso())
        with contextlib.suppress(Exception):  # noqa: BLE001 - not recorded now, the new watch reports anyway
            await self.handler.state(watched.account, state)
        return True

    async def _stop(self, account_id: str, *, release: bool) -> None:
        watched = self._watched.pop(account_id)
        task = watched.task
        task.cancel()
        await asyncio.wait({task}, timeout=STOP_WAIT_S)
        if not task.done():
            # Stuck where cancelling cannot reach: leave it (held here, so it is not collected
            # mid-run) rather than stop every other account's watch waiting for it.
            log.error("watch of account %s did not stop within %.0f s; left behind", account_id, STOP_WAIT_S)
            self._abandoned.add(task)
            task.add_done_callback(self._forget)
        elif not task.cancelled():
            task.exception()  # taken; _ended already logged an unexpected one
        if release:
            await asyncio.to_thread(self.storage.mailstate.release, account_id, self.watcher_id)
        log.info("stopped watching account %s", account_id)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._abandoned.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("a watch left behind ended", exc_info=task.exception())

    async def stop_all(self) -> None:
        for account_id in list(self._watched):
            await self._stop(account_id, release=True)


# Stock asyncio gives every TLS connection a 256 KiB read buffer
# (asyncio.sslproto.SSLProtocol.max_size), allocated up front and held for the
# connection's life: 500 idle IMAPS accounts cost 125 MiB in buffers alone. One
# TLS record carries at most 16 KiB of plaintext (RFC 8446 § 5.1), so a 16 KiB
# buffer still drains a whole record per read; large FETCHes just take more
# (cheap) reads. Measured: 100 aioimaplib IMAPS connections to Dovecot cost
# 292 KiB each with the stock buffer, 54 KiB with 16 KiB. With one shared TLS
# context (bridge/tls.py), bench/inbound.py: 500 idle IMAPS accounts, 119 MB.
# aioimaplib is a plain (not buffered) protocol, so asyncio reads at most this much per
# SSLObject.read and never uses the buffer itself: 4 KiB makes a 16 KiB record four reads
# (microseconds) and saves 12 KiB per connection (bench/idle_scale.py, 5,000 accounts).
SSL_READ_BUFFER = 4 * 1024
GIL_SWITCH_INTERVAL_S = 0.0005
DNS_TIMEOUT_S = 3.0


def analysis_processes() -> int:
    """Worker processes for burst analysis: every core but the one the watcher itself keeps busy
    (committing, publishing, first webhook attempts); at least one, at most four."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def main(settings: Settings) -> None:
    """``python app.py watch``: run one watcher process until SIGTERM/SIGINT."""
    if settings.redis_url is None:
        raise ConfigError("BRIDGE_REDIS_URL is missing; a watcher needs the shared Redis")
    # Process-wide, and only in this process: the watcher owns its event loop and every
    # TLS connection in it. Set before any connection exists (the buffer is sized at creation).
    asyncio.sslproto.SSLProtocol.max_size = SSL_READ_BUFFER
    # The commit threads (bridge/inbound/commits.py) make one Redis round trip after another; after each
    # it needs the GIL back, which CPU-bound analysis threads hold for up to the switch interval
    # (5 ms by default) each time. A shorter interval keeps the round trips short under load.
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    load_public_suffixes()  # before the first message, not inside its analysis
    storage = Storage(connect(settings.redis_url), Vault(settings.secret.reveal()), settings.event_retention)
    dns = ResolverSpec(list(settings.dns_servers) or None, DNS_TIMEOUT_S)
    resolver = DnsResolver(dns.servers, timeout=dns.timeout)
    # First webhook attempts go out from this process (bridge/events/emit.py, through the pipeline's dispatcher), not through an RQ
    # job per messageNew: RQ's bookkeeping costs several ms per job and a burst queues up
    # behind one worker. bench/inbound.py, same machine (busy, 2 cores): IDLE push -> webhook
    # p50 14 -> 13 ms, p99 85 -> 27 ms; burst 73 -> ~120 msgs/s (with the commit overlap in
    # bridge/inbound/pipeline.py).
    with (
        ThreadPoolExecutor(max_workers=8, thread_name_prefix="inbound") as executor,
        contextlib.ExitStack() as stack,
        Dispatcher(storage, production=settings.production) as dispatcher,
    ):
        processes = analysis_processes() if settings.analysis_processes is None else settings.analysis_processes
        pool = stack.enter_context(AnalysisPool(dns, processes=processes)) if processes > 0 else None
        service = WatcherService(
            storage,
            InboundPipeline(storage, resolver, executor, pool=pool, dispatcher=dispatcher),
            command_connections=settings.imap_command_connections,
        )
        asyncio.run(_run_until_signal(service))


async def _run_until_signal(service: WatcherService) -> None:
    task = asyncio.create_task(service.run())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        # Take the handlers off while the loop is open: asyncio.run closes the loop's self-pipe before it
        # removes them, and a second signal in between (``app.py run`` passes on the one the terminal sent
        # to the whole group) made CPython print "Exception ignored when trying to write to the signal
        # wakeup fd". Signals during the rest of the shutdown are ignored: it is already under way.
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
            signal.signal(sig, signal.SIG_IGN)
