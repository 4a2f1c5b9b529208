"""The IDLE engine for one account: connect, catch up, IDLE, reconnect.

It knows nothing about what happens to new mail: it hands fetched messages
to a ``MessageHandler`` (aiosmtpd's handler-hook shape) and advances the
folder checkpoint only after the handler returns, so a crash anywhere means
"fetched again", never "lost". The handler dedupes, so "fetched again" never
means "emitted twice".

- IDLE on the first watched folder, re-issued before 29 minutes (RFC 2177).
- Other watched folders are checked with STATUS every ``poll_interval`` s,
  which needs no second connection; the IDLE folder is re-checked then too,
  because a push can be lost (see ``_session``).
- Catch-up: on every (re)connect, every folder is fetched from its last
  processed UID, in batches (aioimaplib breaks on one huge FETCH response,
  iroco-co/aioimaplib#118).
- A new folder starts at UIDNEXT (or the last ``backfill`` messages); a
  changed UIDVALIDITY re-baselines and reports one reset, not a flood. The
  UIDVALIDITY baseline is the first SELECT's: the attach-time checkpoint has
  only a UID (some servers, Courier, answer STATUS with another UIDVALIDITY).
- Every failure reconnects, whatever its kind, with capped exponential backoff
  and full jitter; a refused login waits longer (``auth_retry_*``) but is
  retried too. A storage outage (Redis down or failing) is not the mailbox's
  fault and changes no account state: what was not checkpointed is fetched again.
- Each state report says what failed (a ``MailboxFault``) and when the next try is.
- ``liveness`` says what the watch is doing and until when it must show a sign of
  life (connected, a command answered, IDLE renewed, a backoff over); the
  service's watchdog (``bridge.imap.runner``) restarts a watch that overstays it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import aioimaplib

from bridge.errors import BridgeError, MailboxAuthFailed, MailboxUnavailable, StorageUnavailable
from bridge.imap import handshake, session
from bridge.imap.responses import (
    encode_mailbox_name,
    parse_fetch,
    parse_search,
    parse_select,
    parse_status,
    quote,
    response_text,
)
from bridge.imap.retry import ConnectionLost, Liveness, backoff_delay, fault_of, utc_iso
from bridge.models import (
    Account,
    AccountError,
    AccountState,
    ConnectionState,
    FetchedMessage,
    FolderStatus,
)

# A checkpoint's UIDVALIDITY before any SELECT confirmed it (taken at attach from STATUS, see
# ``bridge.storage.mailstate.set_attach_checkpoint``): RFC 3501 UIDVALIDITY is never 0.
UNCONFIRMED = 0
log = logging.getLogger(__name__)
T = TypeVar("T")

FETCH_BATCH = 100
IDLE_RENEW_S = 25 * 60.0  # RFC 2177 § 3: clients should re-issue IDLE at least every 29 minutes
COMMAND_TIMEOUT_S = 120.0  # a batch of large messages over a slow link takes a while
IDLE_DONE_WAIT_S = 10.0
# Commands of opening a session, each bounded by the connect timeout (TCP, TLS, greeting,
# CAPABILITY, STARTTLS, CAPABILITY, LOGIN).
_CONNECT_STEPS = 7
_IO_ERRORS = (OSError, asyncio.TimeoutError, aioimaplib.AioImapException)


async def _done_or_lost(future: asyncio.Future[Any], lost: asyncio.Event, timeout: float | None = None) -> None:
    """Wait until future is done, the connection is lost or timeout passes; future is left as it is.

    aioimaplib does not fail commands in flight when the socket closes (not
    even a server's BYE ends them): they would wait for their full timeout.
    """
    gone: asyncio.Future[Any] = asyncio.ensure_future(lost.wait())
    try:
        await asyncio.wait({future, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()


class MessageHandler(Protocol):
    """What the watcher calls; the production implementation is the inbound pipeline."""

    async def messages(self, account: Account, folder: str, uidvalidity: int, batch: list[FetchedMessage]) -> None:
        """Process fetched messages; return only once they are safely stored."""

    async def state(self, account: Account, state: AccountState) -> None:
        """The connection state changed, or the same error happened again (with a new time and nextRetry)."""

    async def mailbox_reset(self, account: Account, folder: str, old: int, new: int) -> None:
        """A folder's UIDVALIDITY changed; the watcher re-baselined it."""


class Checkpoints(Protocol):
    """Where the last processed UID per folder is kept (Redis in production)."""

    def checkpoint(self, account: str, folder: str) -> tuple[int, int] | None: ...

    def set_checkpoint(self, account: str, folder: str, uidvalidity: int, last_uid: int) -> None: ...


@dataclass(frozen=True, slots=True)
class WatchTiming:
    """How long each thing may take, and how retries are spaced.

    A refused login is retried after ``auth_retry_base_s`` doubling up to
    ``auth_retry_cap_s``, never below half of that (a wrong password retried at once
    would only count towards the server's lockout); every other failure after
    uniform [0, ``retry_base_s`` * 2^n] capped at ``retry_cap_s``.
    """

    idle_renew_s: float = IDLE_RENEW_S
    poll_interval_s: float = 60.0
    retry_base_s: float = 1.0
    retry_cap_s: float = 300.0
    auth_retry_base_s: float = 60.0
    auth_retry_cap_s: float = 3600.0
    connect_timeout_s: float = session.CONNECT_TIMEOUT
    command_timeout_s: float = COMMAND_TIMEOUT_S
    # Slack on top of what each step may take before the watchdog steps in.
    watchdog_grace_s: float = 30.0


Connect = Callable[..., Awaitable[aioimaplib.IMAP4]]


class AccountWatcher:
    """Watches one account until cancelled."""

    def __init__(
        self,
        account: Account,
        handler: MessageHandler,
        checkpoints: Checkpoints,
        *,
        timing: WatchTiming = WatchTiming(),
        connect: Connect = session.connect,
        connect_slots: asyncio.Semaphore | None = None,
        rand: Callable[[], float] = random.random,
        push_latency: Callable[[float], None] | None = None,
    ) -> None:
        """Args:
        connect: opens a logged-in session (``session.connect``'s signature).
        connect_slots: limits how many watches log in at once; waiting for a slot
            is not counted against the watch's liveness.
        push_latency: told (on a thread) the seconds from an IDLE push to the handler
            having taken the messages it announced (the metrics' push-to-event latency).
        """
        self.account = account
        self.handler = handler
        self.checkpoints = checkpoints
        self.timing = timing
        self.liveness = Liveness()
        self._connect = connect
        self._connect_slots = connect_slots
        self._rand = rand
        self._attempt = 0
        self._state: ConnectionState | None = None
        self._lost = asyncio.Event()
        self._push_latency = push_latency
        self._pushed_at: float | None = None

    @property
    def connected(self) -> bool:
        """True while the account's IDLE connection is up (its mailbox answers)."""
        return self._state is ConnectionState.CONNECTED

    def _beat(self, doing: str, allowed: float) -> None:
        """A sign of life: the watch is now doing this, which may take this long."""
        live = self.liveness
        live.doing, live.since = doing, asyncio.get_running_loop().time()
        live.allowed = allowed + self.timing.watchdog_grace_s

    async def _guard(
        self, command: Awaitable[T], doing: str = "waiting for an IMAP command", *, allowed: float | None = None
    ) -> T:
        """Await an IMAP command, or raise ConnectionLost as soon as the connection drops."""
        self._beat(doing, self.timing.command_timeout_s if allowed is None else allowed)
        task = asyncio.ensure_future(command)
        try:
            await _done_or_lost(task, self._lost)
        finally:
            await handshake.settle(task)
        if not task.done() or task.cancelled() or (self._lost.is_set() and task.exception() is not None):
            # A command in flight fails when the connection drops (handshake.Protocol): the loss is the cause.
            raise ConnectionLost(f"connection to {self.account.imap.host} lost")
        return task.result()

    async def run(self) -> None:
        while True:
            try:
                await self._session()
            except MailboxAuthFailed as exc:
                delay = self._delay(self.timing.auth_retry_base_s, self.timing.auth_retry_cap_s, floor=0.5)
                await self._failed(ConnectionState.AUTHENTICATION_ERROR, exc, delay)
            except (MailboxUnavailable, *_IO_ERRORS) as exc:
                delay = self._delay(self.timing.retry_base_s, self.timing.retry_cap_s)
                await self._failed(ConnectionState.CONNECT_ERROR, exc, delay)
            except StorageUnavailable as exc:
                log.warning("account %s: %s", self.account.id, exc.message)
                delay = self._delay(self.timing.retry_base_s, self.timing.retry_cap_s)
            except Exception:  # noqa: BLE001 - a bug must not end the account's watch: retry it
                log.exception("account %s: watch failed", self.account.id)
                delay = self._delay(self.timing.retry_base_s, self.timing.retry_cap_s)
            log.info("account %s: reconnecting in %.1f s", self.account.id, delay)
            self._beat("waiting to reconnect", delay)
            await asyncio.sleep(delay)

    def _delay(self, base: float, cap: float, *, floor: float = 0.0) -> float:
        rand = floor + (1.0 - floor) * self._rand()
        delay = backoff_delay(self._attempt, base=base, cap=cap, rand=rand)
        self._attempt += 1
        return delay

    async def _failed(self, state: ConnectionState, exc: BaseException, delay: float) -> None:
        message = exc.message if isinstance(exc, BridgeError) else (str(exc) or type(exc).__name__)
        error = AccountError(code=fault_of(exc), message=message, at=utc_iso())
        log.info("account %s: %s: %s", self.account.id, error.code.value, message)
        await self._set_state(state, error, next_retry=utc_iso(delay))

    async def _set_state(
        self, state: ConnectionState, error: AccountError | None = None, *, next_retry: str | None = None
    ) -> None:
        if state is self._state and state is ConnectionState.CONNECTED:
            return
        # "connecting" is reported once, at the start. A reconnect keeps the state it starts
        # from: after an IMAP error the error (error -> connecting -> error on every attempt
        # would only be noise), after a storage error "connected" (the mailbox was fine).
        if state is ConnectionState.CONNECTING and self._state is not None:
            return
        try:
            await self.handler.state(self.account, AccountState(state=state, error=error, next_retry=next_retry))
        except StorageUnavailable as exc:
            # Not recorded: the next change of state (or this one, retried) will be.
            log.warning("account %s: state %s not recorded: %s", self.account.id, state.value, exc.message)
            return
        self._state = state

    async def _open(self) -> aioimaplib.IMAP4:
        """A logged-in session; each step of opening it within the connect timeout."""
        timing = self.timing
        self._beat("waiting for a login slot", math.inf)
        async with self._connect_slots or contextlib.nullcontext():
            self._beat("connecting", timing.connect_timeout_s * _CONNECT_STEPS)
            return await self._connect(
                self.account.imap, timeout=timing.command_timeout_s, connect_timeout=timing.connect_timeout_s
            )

    async def _session(self) -> None:
        self._lost = lost = asyncio.Event()
        await self._set_state(ConnectionState.CONNECTING)
        client = await self._open()
        session.when_lost(client, lost.set)
        try:
            await self._set_state(ConnectionState.CONNECTED)
            primary, *others = self.account.watch
            for folder in others:
                await self._sync(client, folder, await self._select(client, folder))
            status = await self._select(client, primary)
            await self._sync(client, primary, status)
            loop = asyncio.get_running_loop()
            next_check = loop.time() + self.timing.poll_interval_s
            while True:
                wait = min(self.timing.idle_renew_s, max(0.05, next_check - loop.time()))
                self._pushed_at = None
                pushed = await self._idle(client, lost, wait)
                pushed_at = self._pushed_at
                if loop.time() >= next_check:
                    if others and await self._poll(client, others):
                        status = await self._select(client, primary)
                    # Also re-check the IDLE folder: a push can be lost. Dovecot may attach
                    # "* n EXISTS" to the response of the last UID SEARCH before IDLE, and
                    # aioimaplib drops untagged lines no command claims. One UID SEARCH per
                    # interval bounds the delay of such a message to poll_interval_s.
                    next_check = loop.time() + self.timing.poll_interval_s
                    pushed = True
                if pushed:
                    handed = await self._sync(client, primary, status)
                    if handed and pushed_at is not None and self._push_latency is not None:
                        await asyncio.to_thread(self._push_latency, loop.time() - pushed_at)
        finally:
            await session.close(client)

    async def _select(self, client: aioimaplib.IMAP4, folder: str) -> FolderStatus:
        response = await self._guard(client.select(quote(encode_mailbox_name(folder))), f"selecting {folder!r}")
        status = parse_select(response.lines) if response.result == "OK" else None
        if status is None:
            raise MailboxUnavailable(f"cannot select {folder!r}: {response_text(response.lines)}")
        return status

    async def _idle(self, client: aioimaplib.IMAP4, lost: asyncio.Event, timeout: float) -> bool:
        """IDLE until new mail (True) or the timeout (False)."""
        while not client.protocol.idle_queue.empty():
            client.protocol.idle_queue.get_nowait()  # a stale stop marker from an earlier IDLE
        idle = await self._guard(client.idle_start(timeout=timeout), "starting IDLE")
        # Healthy enough to start over: a session that fails before IDLE (say, at SELECT)
        # keeps backing off further.
        self._attempt = 0
        try:
            while True:
                push = client.wait_server_push(timeout=timeout + 30)
                lines = [bytes(x) for x in await self._guard(push, "in IDLE", allowed=timeout + 30)]
                if lines == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    return False
                if any(line.upper().startswith(b"BYE") for line in lines):
                    raise ConnectionLost(f"server said {lines[0].decode(errors='replace')}")
                # RECENT too: it may arrive alone when the EXISTS before it was lost (see _session).
                if any(line.upper().endswith((b"EXISTS", b"RECENT")) for line in lines):
                    self._pushed_at = asyncio.get_running_loop().time()
                    return True
                log.debug("account %s: push ignored: %s", self.account.id, lines)
        finally:
            if client.has_pending_idle() and not lost.is_set():
                client.idle_done()
                # A server going down says BYE and closes without ending IDLE.
                self._beat("ending IDLE", IDLE_DONE_WAIT_S)
                await _done_or_lost(idle, lost, timeout=IDLE_DONE_WAIT_S)
            if not idle.done():
                idle.cancel()
                raise ConnectionLost("IDLE did not end cleanly")

    async def _poll(self, client: aioimaplib.IMAP4, folders: list[str]) -> bool:
        """STATUS each extra folder; sync those that changed. True when a folder was selected."""
        selected = False
        for folder in folders:
            command = client.status(quote(encode_mailbox_name(folder)), "(UIDNEXT UIDVALIDITY)")
            response = await self._guard(command, f"polling {folder!r}")
            status = parse_status(response.lines) if response.result == "OK" else None
            checkpoint = await asyncio.to_thread(self.checkpoints.checkpoint, self.account.id, folder)
            if status is None or (checkpoint and checkpoint == (status.uidvalidity, status.uidnext - 1)):
                continue
            await self._sync(client, folder, await self._select(client, folder))
            selected = True
        return selected

    async def _sync(self, client: aioimaplib.IMAP4, folder: str, status: FolderStatus) -> int:
        """Fetch and hand over everything above the checkpoint, in batches, until nothing is new.

        Returns how many messages were handed over.
        """
        handed = 0
        last = await self._baseline(client, folder, status)
        if last is None:
            return handed
        while True:
            response = await self._guard(client.uid_search("UID", f"{last + 1}:*"), f"searching {folder!r}")
            if response.result != "OK":
                raise MailboxUnavailable(f"UID SEARCH failed in {folder!r}: {response_text(response.lines)}")
            # "n:*" always matches the highest UID, even when it is below n (RFC 3501 § 6.4.8).
            uids = sorted(u for u in parse_search(response.lines) if u > last)
            log.debug("account %s: %s above uid %d: %s", self.account.id, folder, last, uids)
            if not uids:
                return handed
            for start in range(0, len(uids), FETCH_BATCH):
                batch = uids[start : start + FETCH_BATCH]
                fetched = await self._guard(
                    client.uid("fetch", ",".join(map(str, batch)), "(UID FLAGS INTERNALDATE BODY.PEEK[])"),
                    f"fetching from {folder!r}",
                )
                if fetched.result != "OK":
                    raise MailboxUnavailable(f"UID FETCH failed in {folder!r}: {response_text(fetched.lines)}")
                messages = parse_fetch(fetched.lines)
                if messages:
                    self._beat(f"storing {len(messages)} message(s) from {folder!r}", self.timing.command_timeout_s)
                    await self.handler.messages(self.account, folder, status.uidvalidity, messages)
                    handed += len(messages)
                last = batch[-1]
                await asyncio.to_thread(
                    self.checkpoints.set_checkpoint, self.account.id, folder, status.uidvalidity, last
                )

    async def _baseline(self, client: aioimaplib.IMAP4, folder: str, status: FolderStatus) -> int | None:
        """The last processed UID; None when the folder was just re-baselined (nothing to fetch)."""
        checkpoint = await asyncio.to_thread(self.checkpoints.checkpoint, self.account.id, folder)
        if checkpoint is not None and checkpoint[0] == status.uidvalidity:
            return checkpoint[1]
        if checkpoint is not None and checkpoint[0] == UNCONFIRMED:
            # Taken at attach from STATUS (mailstate.set_attach_checkpoint): this first SELECT gives
            # the UIDVALIDITY; the UID baseline stands, so mail that came in between is fetched.
            await asyncio.to_thread(
                self.checkpoints.set_checkpoint, self.account.id, folder, status.uidvalidity, checkpoint[1]
            )
            return checkpoint[1]
        top = status.uidnext - 1 if status.uidnext else await self._highest_uid(client)
        if checkpoint is not None:
            await asyncio.to_thread(self.checkpoints.set_checkpoint, self.account.id, folder, status.uidvalidity, top)
            await self.handler.mailbox_reset(self.account, folder, checkpoint[0], status.uidvalidity)
            return None
        start = top
        if self.account.backfill and folder == self.account.watch[0]:
            everything = parse_search((await self._guard(client.uid_search("ALL"))).lines)
            keep = everything[-self.account.backfill :]
            start = keep[0] - 1 if keep else top
        await asyncio.to_thread(self.checkpoints.set_checkpoint, self.account.id, folder, status.uidvalidity, start)
        return start

    async def _highest_uid(self, client: aioimaplib.IMAP4) -> int:
        uids = parse_search((await self._guard(client.uid_search("ALL"))).lines)
        return max(uids, default=0)
