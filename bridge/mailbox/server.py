"""The watcher side of mailbox commands: take them from Redis, run them on the account's command pool.

I/O adapter, run inside the watcher process (``bridge.imap.runner``), beside the IDLE
watches. Only accounts this process holds the lease of (and whose mailbox is up) are
served; for any other the answer is ``503 accountUnavailable`` at once, so a web process
never waits out its timeout on a command no one will run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bridge.errors import BridgeError, MailboxAuthFailed, MailboxUnavailable, StorageUnavailable
from bridge.imap import session
from bridge.imap.pool import DEFAULT_IDLE_S, DEFAULT_SIZE, CommandPool, alive
from bridge.imap.watcher import Connect
from bridge.mailbox import protocol
from bridge.mailbox.operations import OPERATIONS, READ_ONLY, Answers, run
from bridge.mailbox.protocol import ACK, Reply, Request
from bridge.models import Account
from bridge.storage import Storage

if TYPE_CHECKING:  # only bridge.imap imports aioimaplib
    import aioimaplib

    from bridge.mailbox.operations import Operation

log = logging.getLogger(__name__)

# An answer nobody popped (the asker gave up) is dropped this long after it was written.
REPLY_TTL_S = 30
POLL_S = 1.0
# A command still running after this long is acknowledged (the asker gives up after ACK_TIMEOUT_S, 3 s).
ACK_AFTER_S = 0.5


@dataclass
class CommandServer:
    storage: Storage
    watcher_id: str
    # The account if this process holds its lease and its mailbox is up (its IDLE connection is connected).
    held: Callable[[str], tuple[Account, bool] | None]
    size: int = DEFAULT_SIZE
    idle_s: float = DEFAULT_IDLE_S
    connect: Connect = session.connect
    _pools: dict[str, CommandPool] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    # Per account: answers kept with the folder version they hold for (operations.Answers).
    _answers: dict[str, Answers] = field(default_factory=dict)
    # Read-only commands not started yet, by what they ask: an identical one joins instead of queueing.
    _waiting: dict[tuple[str, str, str, int], asyncio.Future[Reply]] = field(default_factory=dict)

    def pool(self, account: Account) -> CommandPool:
        found = self._pools.get(account.id)
        if found is None or found.config != account.imap:
            if found is not None:
                self._retire(account.id)
            found = self._pools[account.id] = CommandPool(account.imap, self.size, self.idle_s, self.connect)
        return found

    def open_connections(self, account_id: str) -> int:
        found = self._pools.get(account_id)
        return found.open_connections if found else 0

    async def run(self) -> None:
        """Take and run commands until cancelled."""
        try:
            while True:
                try:
                    frame = await asyncio.to_thread(self.storage.commands.take, self.watcher_id, POLL_S)
                except StorageUnavailable as exc:
                    log.warning("mailbox commands: %s", exc.message)
                    await asyncio.sleep(POLL_S)
                    continue
                if frame is not None:
                    task = asyncio.create_task(self._handle(frame))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        finally:
            await self.close()

    async def _handle(self, frame: bytes) -> None:
        try:
            request = protocol.decode_request(frame)
        except (ValueError, KeyError, TypeError):
            log.warning("mailbox command ignored: not a request frame")
            return
        # Most commands answer within a few ms: then the answer is the only thing written. A slower
        # one is acknowledged after ACK_AFTER_S, so the asker knows it was taken and keeps waiting.
        # A timer rather than the command in a task of its own under asyncio.wait: that task and the
        # wait cost every command two more turns of the event loop (bench/mailbox.py, watcher CPU).
        acks: list[asyncio.Task[None]] = []
        timer = asyncio.get_running_loop().call_later(
            ACK_AFTER_S, lambda: acks.append(asyncio.create_task(self._acknowledge(request.id)))
        )
        try:
            try:
                reply = await self._run(request)
            finally:
                timer.cancel()
            for ack in acks:
                await ack  # the acknowledgement is written before the answer
            if time.time() < request.expires:
                await asyncio.to_thread(
                    self.storage.commands.answer, request.id, protocol.encode_reply(reply), REPLY_TTL_S
                )
        except StorageUnavailable as exc:
            log.warning("mailbox command %s: reply not written: %s", request.op, exc.message)

    async def _acknowledge(self, request_id: str) -> None:
        await asyncio.to_thread(self.storage.commands.answer, request_id, ACK, REPLY_TTL_S)

    async def _run(self, request: Request) -> Reply:
        found = self.held(request.account)
        if found is None:
            return protocol.error_reply(
                protocol.unavailable(request.account, "its watcher moved or stopped", protocol.NOT_WATCHED)
            )
        account, up = found
        if not up:
            return protocol.error_reply(
                protocol.unavailable(request.account, "its IMAP server does not answer", protocol.MAILBOX_DOWN)
            )
        operation = OPERATIONS.get(request.op)
        if operation is None:
            return protocol.error_reply(BridgeError(f"unknown mailbox command {request.op!r}"))
        if request.op in READ_ONLY:
            return await self._shared(account, request, operation)
        return await self._execute(account, request, operation)

    async def _shared(self, account: Account, request: Request, operation: Operation) -> Reply:
        """Run a read-only command, or join an identical one still waiting for a connection.

        Only a command that has not started yet is joined, so the shared answer is always computed
        after every asker arrived: as fresh as each would have had alone (8 clients listing the same
        page, one connection: one SELECT and, usually, the kept answer).
        """
        key = (account.id, request.op, json.dumps(request.args, sort_keys=True), len(request.payload))
        waiting = self._waiting.get(key)
        if waiting is not None:
            return await asyncio.shield(waiting)
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[key] = future
        try:
            reply = await self._execute(account, request, operation, started=lambda: self._waiting.pop(key, None))
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: joiners re-raise it, none may be left to
            raise
        finally:
            if self._waiting.get(key) is future:
                del self._waiting[key]
        future.set_result(reply)
        return reply

    async def _execute(
        self, account: Account, request: Request, operation: Operation, started: Callable[[], object] = lambda: None
    ) -> Reply:
        pool = self.pool(account)
        answers = self._answers.setdefault(account.id, Answers())
        try:
            remaining = request.expires - time.time()
            async with asyncio.timeout(max(0.1, remaining)):
                return await self._on_connection(pool, request, operation, answers, started)
        except (MailboxUnavailable, MailboxAuthFailed) as exc:
            # The command connection could not log in or was lost: it is closed (CommandPool drops it).
            return protocol.error_reply(protocol.unavailable(request.account, exc.message, protocol.MAILBOX_DOWN))
        except TimeoutError:
            return protocol.error_reply(
                protocol.unavailable(request.account, "the command timed out", protocol.NO_ANSWER)
            )
        except BridgeError as exc:
            return protocol.error_reply(exc)
        except Exception as exc:  # noqa: BLE001 - one command's bug must not end the server
            log.exception("mailbox command %s failed", request.op)
            return protocol.error_reply(BridgeError(f"mailbox command failed: {type(exc).__name__}"))

    async def _on_connection(
        self, pool: CommandPool, request: Request, operation: Operation, answers: Answers, started: Callable[[], object]
    ) -> Reply:
        """Run the command on a pooled connection; a read the server ended the session under, once more on a new one.

        Dovecot ends a session (BYE) whose selected folder another client renamed or deleted, and reads keep
        their folder selected for the next one (``live.examine``, ``live.fetch_message``): that next read
        meets the closed connection (``SelectionLost`` from its NOOP, or its FETCH failing at once:
        ``handshake.Protocol``). A read changes nothing, so it runs again on a fresh connection, which
        answers what is there now (``404`` for a folder that is gone) instead of ``503`` once.
        """
        used: aioimaplib.IMAP4 | None = None
        try:
            async with pool.connection() as used:
                started()
                return await run(operation, request.op, used, request.args, request.payload, answers)
        except MailboxUnavailable:
            if used is None or request.op not in READ_ONLY or alive(used):
                raise  # no connection (the server is down), a change (not repeated), or a live connection
            log.info("mailbox command %s: the server ended its session; once more on a new connection", request.op)
        async with pool.connection() as fresh:
            return await run(operation, request.op, fresh, request.args, request.payload, answers)

    async def reap(self, held: set[str]) -> None:
        """Close idle connections, and the pools of accounts no longer held here."""
        for account_id in list(self._pools):
            if account_id not in held:
                self._retire(account_id)
            else:
                await self._pools[account_id].reap()

    def _retire(self, account_id: str) -> None:
        self._answers.pop(account_id, None)
        pool = self._pools.pop(account_id)
        task = asyncio.create_task(pool.close())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        pools = list(self._pools.values())
        self._pools.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*(pool.close() for pool in pools), return_exceptions=True)
