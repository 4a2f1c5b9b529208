"""The per-account command pool against real Dovecot: capped, reused, closed when idle, fresh after a failure."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from bridge.config import Secret
from bridge.errors import NotFound
from bridge.imap import handshake, live, session
from bridge.imap.pool import CommandPool
from bridge.models import ServerConfig


def _config(mailbox) -> ServerConfig:
    return ServerConfig(host=mailbox.host, port=mailbox.imap_port, user=mailbox.address,
                        password=Secret(mailbox.password), secure=False, starttls=False)  # fmt: skip


def test_the_pool_caps_reuses_and_closes_idle_connections(dovecot, mailbox):
    logins = []

    async def counting(config, **kwargs):
        logins.append(1)
        return await session.connect(config, **kwargs)

    async def main():
        now = [0.0]
        pool = CommandPool(_config(mailbox), size=2, idle_s=60, connect=counting, clock=lambda: now[0])
        busy = 0
        most = 0

        async def one() -> None:
            nonlocal busy, most
            async with pool.connection() as client:
                busy += 1
                most = max(most, busy)
                await live.select(client, "INBOX")
                await asyncio.sleep(0.01)
                busy -= 1

        await asyncio.gather(*(one() for _ in range(20)))
        assert (most, len(logins), pool.open_connections) == (2, 2, 2)
        assert await asyncio.to_thread(dovecot.sessions, mailbox.address) == 2
        # A domain error (no such folder) leaves the connection in the pool ...
        try:
            async with pool.connection() as client:
                await live.select(client, "Nope")
        except NotFound:
            pass
        assert pool.open_connections == 2 and len(logins) == 2
        # ... a dead one is dropped and replaced on the next command.
        async with pool.connection() as client:
            client.protocol.transport.abort()
        assert pool.open_connections == 1
        await asyncio.gather(one(), one())
        assert len(logins) == 3 and pool.open_connections == 2
        now[0] = 59.0
        assert await pool.reap() == 0
        now[0] = 120.0
        assert await pool.reap() == 2
        assert pool.open_connections == 0
        assert await asyncio.to_thread(dovecot.sessions, mailbox.address) == 0
        await pool.close()

    asyncio.run(main())


def test_a_closed_session_closes_its_socket_at_once_over_tls_too(dovecot, mailbox):
    """A TLS close() first waits for the server's close_notify: a loop that ended meanwhile (a watcher
    stopping) left the socket open ("unclosed transport" when collected). Closed on the next turn now."""
    tls = replace(_config(mailbox), port=mailbox.imaps_port, secure=True, reject_unauthorized=False)

    async def main():
        for config in (tls, _config(mailbox)):
            for drop in (session.close, handshake.discard):  # LOGOUT first, or not (a failure)
                client = await session.connect(config)
                sock = client.protocol.transport.get_extra_info("socket")
                await drop(client)
                await asyncio.sleep(0)
                assert sock.fileno() == -1, (config.secure, drop)

    asyncio.run(main())


def test_a_pool_closed_while_cancelled_still_closes_every_connection(dovecot, mailbox):
    async def main():
        pool = CommandPool(_config(mailbox), size=3)

        async def one() -> None:
            async with pool.connection() as client:
                await live.select(client, "INBOX")
                await asyncio.sleep(0.05)

        await asyncio.gather(one(), one(), one())
        assert pool.open_connections == 3
        closing = asyncio.create_task(pool.close())
        await asyncio.sleep(0)  # into the first LOGOUT
        closing.cancel()
        await asyncio.gather(closing, return_exceptions=True)
        for _ in range(100):  # Dovecot notices the closed sockets within a moment
            if await asyncio.to_thread(dovecot.sessions, mailbox.address) == 0:
                break
            await asyncio.sleep(0.05)
        assert await asyncio.to_thread(dovecot.sessions, mailbox.address) == 0

    asyncio.run(main())
