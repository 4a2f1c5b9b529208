"""The per-account command pool against real Dovecot: capped, reused, closed when idle, fresh after a failure."""

from __future__ import annotations

import asyncio

from bridge.config import Secret
from bridge.errors import NotFound
from bridge.imap import live, session
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
