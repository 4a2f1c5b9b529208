"""Command connections of one account: at most ``size`` of them, opened on demand, reused, closed when idle.

I/O adapter, run in the watcher process that holds the account's lease (next to its
IDLE connection), so the account's connection count is capped however many web
processes ask: IDLE + ``size`` (``BRIDGE_IMAP_COMMAND_CONNECTIONS``, default 1).
A connection that failed is dropped, not given back; the next command opens a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import aioimaplib

from bridge.errors import MailboxUnavailable
from bridge.imap import live, session
from bridge.imap.watcher import Connect
from bridge.models import ServerConfig

log = logging.getLogger(__name__)

DEFAULT_SIZE = 1
# An account nobody asked anything for this long holds only its IDLE connection again.
DEFAULT_IDLE_S = 180.0
COMMAND_TIMEOUT_S = 30.0


@dataclass
class _Idle:
    client: aioimaplib.IMAP4
    since: float


@dataclass
class CommandPool:
    config: ServerConfig
    size: int = DEFAULT_SIZE
    idle_s: float = DEFAULT_IDLE_S
    connect: Connect = session.connect
    clock: Callable[[], float] = field(default=lambda: asyncio.get_running_loop().time())
    _idle: list[_Idle] = field(default_factory=list)
    _open: int = 0
    _freed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _closed: bool = False

    @property
    def open_connections(self) -> int:
        return self._open

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[aioimaplib.IMAP4]:
        """A logged-in connection for one command sequence; waits while all ``size`` are busy."""
        client = await self._take()
        healthy = False
        try:
            yield client
            healthy = True
        except MailboxUnavailable:
            raise
        except Exception:
            # A domain answer (NotFound, Conflict, a NO) leaves the connection usable.
            healthy = alive(client)
            raise
        finally:
            await self._give_back(client, healthy and alive(client))

    async def _take(self) -> aioimaplib.IMAP4:
        async with self._freed:
            while True:
                if self._closed:
                    raise MailboxUnavailable("the account is no longer served here", details={"side": "imap"})
                while self._idle:
                    idle = self._idle.pop()
                    if alive(idle.client):
                        return idle.client
                    self._open -= 1
                if self._open < self.size:
                    self._open += 1
                    break
                await self._freed.wait()
        try:
            client = await self.connect(self.config, timeout=COMMAND_TIMEOUT_S)
            try:
                await live.prepare(client)
            except BaseException:
                await session.close(client, timeout=2.0)
                raise
            return client
        except BaseException:
            async with self._freed:
                self._open -= 1
                self._freed.notify()
            raise

    async def _give_back(self, client: aioimaplib.IMAP4, healthy: bool) -> None:
        if healthy and not self._closed:
            async with self._freed:
                self._idle.append(_Idle(client, self.clock()))
                self._freed.notify()
            return
        async with self._freed:
            self._open -= 1
            self._freed.notify()
        await session.close(client, timeout=2.0)

    async def reap(self) -> int:
        """Log out the connections idle longer than ``idle_s``; how many were closed."""
        now = self.clock()
        async with self._freed:
            stale = [i for i in self._idle if now - i.since >= self.idle_s]
            self._idle = [i for i in self._idle if now - i.since < self.idle_s]
            self._open -= len(stale)
        await session.close_all([idle.client for idle in stale], timeout=2.0)
        return len(stale)

    async def close(self) -> None:
        """Close every idle connection; busy ones close when given back."""
        async with self._freed:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
            self._freed.notify_all()
        await session.close_all([item.client for item in idle], timeout=2.0)


def alive(client: aioimaplib.IMAP4) -> bool:
    """Whether the connection is open and logged in (not ended by the server, nor dropped here)."""
    transport = getattr(client.protocol, "transport", None)
    return transport is not None and not transport.is_closing() and client.get_state() in ("AUTH", "SELECTED")
