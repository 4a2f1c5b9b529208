"""A TCP proxy in front of a real server that plays the ways a server fails a client.

Runs in the test's own event loop (asyncio), so tests switch faults between
two awaits. No pytest imports. The listening port stays the same for the
proxy's life, also across ``Fault.REFUSE`` (the listener is closed and opened
again on the same port), so a client sees one server failing and coming back.

Faults apply to connections accepted while they are set; ``drop_all()`` ends
the open ones (a server restarting), so the client reconnects into the fault.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from enum import StrEnum

HOST = "127.0.0.1"


class Fault(StrEnum):
    PASS = "pass"  # relay both ways
    REFUSE = "refuse"  # nothing listens: connection refused
    CLOSE_BEFORE_GREETING = "closeBeforeGreeting"  # accept, close at once
    GREET_THEN_CLOSE = "greetThenClose"  # relay the server's greeting, then close (a server shutting down)
    STALL = "stall"  # accept, never send a byte, keep the connection open
    PLAINTEXT = "plaintext"  # relay to the plain port: a TLS client meets a plaintext server
    CUT = "cut"  # relay until the client sends the trigger, then close without forwarding it


class FaultProxy:
    """Listens on ``port`` and relays to ``upstream_port`` (``plain_port`` for ``Fault.PLAINTEXT``)."""

    def __init__(self, upstream_port: int, *, plain_port: int | None = None, host: str = HOST) -> None:
        self.host, self.upstream_port, self.plain_port = host, upstream_port, plain_port
        self.port = 0
        self.fault = Fault.PASS
        self.trigger = b""
        self.once = False
        self.close_after_s = 0.0
        self.accepted = 0
        # Edits each line the server sends (a server with a quirk: e.g. another UIDVALIDITY in STATUS).
        self.rewrite: Callable[[bytes], bytes] | None = None
        # Takes each line the client sends: (what goes on to the server, what the proxy answers itself).
        self.intercept: Callable[[bytes], tuple[bytes, bytes]] | None = None
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._clients: set[asyncio.StreamWriter] = set()
        self._silenced: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        await self._listen()

    async def set(self, fault: Fault) -> None:
        """Apply ``fault`` to connections accepted from now on."""
        self.fault = fault
        if fault is Fault.REFUSE:
            await self._unlisten()
        elif self._server is None:
            await self._listen()

    async def cut_on(self, trigger: bytes, *, once: bool = False, close_after_s: float = 0.0) -> None:
        """Close a connection when its client sends ``trigger`` (a link dropping mid-command).

        The trigger is not forwarded and nothing more reaches the client; the close comes
        ``close_after_s`` later. ``once``: only the first time, then back to relaying.
        """
        self.trigger, self.once, self.close_after_s = trigger, once, close_after_s
        await self.set(Fault.CUT)

    async def drop_all(self) -> None:
        """Close every open connection, as a server going down does."""
        for task in list(self._conns):
            task.cancel()
        await asyncio.gather(*self._conns, return_exceptions=True)

    async def shut_down_clients(self, close_after_s: float) -> None:
        """Say ``* BYE`` to every client, stop relaying, and close ``close_after_s`` later.

        Dovecot itself says BYE and closes at once, so the window in which a client acts
        on the BYE is too short to test without this.
        """
        for client in list(self._clients):
            self._silenced.add(client)
            client.write(b"* BYE Server shutting down.\r\n")
        await asyncio.sleep(close_after_s)
        await self.drop_all()

    async def close(self) -> None:
        await self._unlisten()
        await self.drop_all()

    # -- internals -----------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _unlisten(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self._clients.add(writer)
        self.accepted += 1
        writers = [writer]
        try:
            await self._serve(self.fault, reader, writers)
        except (asyncio.CancelledError, ConnectionError):
            pass
        finally:
            self._conns.discard(task)
            self._clients.discard(writer)
            self._silenced.discard(writer)
            for w in writers:
                w.close()
                with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                    await w.wait_closed()

    async def _serve(self, fault: Fault, reader: asyncio.StreamReader, writers: list[asyncio.StreamWriter]) -> None:
        """Play fault on one connection; every writer opened goes into writers, to be closed."""
        writer = writers[0]
        if fault is Fault.CLOSE_BEFORE_GREETING:
            return
        if fault is Fault.STALL:
            while await reader.read(65536):
                pass  # swallow whatever the client says, until it gives up
            return
        port = self.plain_port if fault is Fault.PLAINTEXT and self.plain_port else self.upstream_port
        server_r, server_w = await asyncio.open_connection(self.host, port)
        writers.append(server_w)
        if fault is Fault.GREET_THEN_CLOSE:
            writer.write(await server_r.readline())
            await writer.drain()
            return
        await asyncio.gather(
            self._pipe(reader, server_w, writer, from_client=True),
            self._pipe(server_r, writer, writer, from_client=False),
        )

    async def _pipe(
        self, reader: asyncio.StreamReader, to: asyncio.StreamWriter, client: asyncio.StreamWriter, *, from_client: bool
    ) -> None:
        by_line = self.intercept if from_client else self.rewrite
        with contextlib.suppress(ConnectionError):
            while data := await (reader.readline() if by_line else reader.read(65536)):
                if self.rewrite and not from_client:
                    data = self.rewrite(data)
                if self.intercept and from_client:
                    data, answer = self.intercept(data)
                    if answer:
                        client.write(answer)
                        await client.drain()
                    if not data:
                        continue
                if from_client and self.fault is Fault.CUT and self.trigger and self.trigger in data:
                    if self.once:
                        self.fault = Fault.PASS
                    self._silenced.add(client)
                    await asyncio.sleep(self.close_after_s)
                    client.close()
                    break
                if client not in self._silenced:
                    to.write(data)
                    await to.drain()
        to.close()
