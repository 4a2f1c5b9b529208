"""Open an IMAP connection up to a logged-in session, failing fast in every way a server can refuse.

I/O adapter, used only by ``bridge.imap.session``. aioimaplib's own connect path
(``IMAP4(...)`` + ``wait_hello_from_server``) does not notice a lost connection:

- a server that closes before its greeting leaves it waiting for its whole timeout;
- a server that greets and then closes makes it hang for good: its ``welcome`` holds
  the protocol's state lock while CAPABILITY waits for an answer that never comes,
  and ``wait_hello_from_server`` waits on that lock in ``Condition.wait``, which,
  once cancelled by its own timeout, re-acquires the lock before returning, so the
  timeout itself never returns (seen: a 5 s timeout still pending after 300 s);
- commands in flight are never failed when the socket closes (``Protocol`` fails them).

So the connection is opened here, step by step, each step raced against the
connection closing and a deadline; nothing of aioimaplib's is left waiting when
a step fails. The session then goes on with aioimaplib's commands as usual.
Every failure is a ``ConnectFailed`` whose ``fault`` says which step failed how.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aioimaplib
from aioimaplib.aioimaplib import AUTH, CONNECTED, NONAUTH, Command

from bridge.errors import MailboxUnavailable
from bridge.imap.responses import is_change_notice
from bridge.models import MailboxFault, ServerConfig
from bridge.tls import client_context

log = logging.getLogger(__name__)
T = TypeVar("T")

# Waiting for a cancelled aioimaplib task to unwind: it only has to leave an await.
_SETTLE_S = 1.0
_IO_ERRORS = (OSError, asyncio.TimeoutError, ssl.SSLError, aioimaplib.AioImapException)


class ConnectFailed(MailboxUnavailable):
    """Raised when a connection attempt ends before the session is usable; ``fault`` says how."""

    def __init__(self, message: str, fault: MailboxFault) -> None:
        super().__init__(message, details={"side": "imap"})
        self.fault = fault


class Protocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]  # aioimaplib is untyped
    """aioimaplib's protocol, plus what it does not tell: that the server spoke, greeted, or left.

    ``welcome`` replaces aioimaplib's (see the module docstring): it records the
    greeting and its state (RFC 3501 § 7.1: OK, PREAUTH or BYE) without taking
    the state lock; ``open_session`` runs CAPABILITY itself, under its own guard.
    """

    state: str

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.closed: asyncio.Future[None] = loop.create_future()
        self.greeting: asyncio.Future[bytes] = loop.create_future()
        self.heard = False
        # Response lines so far that may tell of a change in the selected folder (``is_change_notice``).
        # aioimaplib drops untagged responses no pending command claims (an EXISTS during a FETCH) and
        # files others under whatever command is pending, so they are counted here, where every line passes:
        # a kept selection (``bridge.imap.live``) knows its folder unchanged while this count stands still.
        self.notices = 0
        # ``notices`` when the last tagged answer came: what a selection had heard once its EXAMINE ended,
        # however soon after that a server's unsolicited EXISTS (RFC 3501 § 5.2) arrives.
        self.notices_when_answered = 0

    def data_received(self, d: bytes) -> None:
        self.heard = self.heard or bool(d)
        super().data_received(d)

    def _handle_line(self, line: bytes, current_cmd: Command | None) -> Command | None:
        # aioimaplib files FETCH and STORE (and their UID forms) under "FETCH" while they run.
        if is_change_notice(line, fetching="FETCH" in self.pending_async_commands):
            self.notices += 1
        found: Command | None = super()._handle_line(line, current_cmd)
        return found

    def _response_done(self, line: bytes) -> None:
        self.notices_when_answered = self.notices
        super()._response_done(line)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self._fail_pending(exc)
        super().connection_lost(exc)

    def _fail_pending(self, exc: Exception | None) -> None:
        """End every command in flight with ``ConnectionAbortedError``: no answer can come any more.

        aioimaplib leaves them waiting for their timeout (30 s on a command connection). Dovecot
        answers a FETCH in a folder another session renamed with ``* BYE`` and closes: the read
        then fails at once, and is run again on a fresh connection (``bridge.mailbox.server``).
        """
        pending = [self.pending_sync_command, *self.pending_async_commands.values()]
        for command in pending:
            if command is not None and not command._event.is_set():
                # aioimaplib has no public way to fail a command; this is what its own timeout does.
                command._exception = ConnectionAbortedError(f"connection lost: {exc or 'closed by the server'}")
                command.close(b"connection lost", "BYE")

    async def welcome(self, command: bytes) -> None:
        status = command.split(b" ", 2)[1:2]
        if self.state == CONNECTED and status == [b"OK"]:
            self.state = NONAUTH
        elif self.state == CONNECTED and status == [b"PREAUTH"]:
            self.state = AUTH
        if not self.greeting.done():
            self.greeting.set_result(command)


class Client(aioimaplib.IMAP4):  # type: ignore[misc]  # aioimaplib is untyped
    """An aioimaplib client whose connection ``open_session`` opens (its constructor does not)."""

    protocol: Protocol

    def create_client(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: Callable[[Exception | None], None] | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.protocol = Protocol(loop or asyncio.get_running_loop())


async def open_session(
    config: ServerConfig,
    *,
    timeout: float,
    connect_timeout: float,
    login: Callable[[Client], Awaitable[None]],
) -> Client:
    """Connect, read the greeting, CAPABILITY, STARTTLS when due, then ``login``.

    Each step (TCP connect, TLS handshake, greeting, CAPABILITY, STARTTLS, LOGIN)
    must finish within ``connect_timeout``; ``timeout`` is the command timeout of
    the session returned.

    Raises:
        ConnectFailed: a step failed; ``fault`` says which and how.
        MailboxAuthFailed: ``login`` was refused.
    """
    client = Client(config.host, config.port, timeout=timeout)
    try:
        await _open(client.protocol, config, connect_timeout)
        await _greeting(client.protocol, config, connect_timeout)
        await _maybe_starttls(client, config, connect_timeout)
        if client.protocol.state == NONAUTH:
            closed = _fault(config, MailboxFault.CLOSED_DURING_LOGIN, "closed the connection during LOGIN")
            timed_out = _fault(config, MailboxFault.LOGIN_TIMEOUT, f"did not answer LOGIN in {connect_timeout:g} s")
            await _step(client.protocol, login(client), connect_timeout, closed, timed_out)
    except BaseException:
        await discard(client)
        raise
    # aioimaplib keeps each connection's CAPABILITY list as a set of ~50 strings (~4 KiB); the
    # accounts of one server share one immutable copy (bench/idle_scale.py: 5,000 accounts).
    client.protocol.capabilities = shared_capabilities(frozenset(client.protocol.capabilities))
    return client


@functools.lru_cache(maxsize=1024)
def shared_capabilities(capabilities: frozenset[str]) -> frozenset[str]:
    """The first equal capability set seen: identical server answers are kept once."""
    return capabilities


async def discard(client: aioimaplib.IMAP4) -> None:
    """Close the connection and end every aioimaplib task still waiting on it."""
    waiter = getattr(client, "_idle_waiter", None)
    if waiter is not None:
        waiter.cancel()
    pending = getattr(client, "_client_task", None)
    tasks: set[asyncio.Future[Any]] = {*client.tasks, *client.protocol.tasks}
    if pending is not None:
        tasks.add(pending)
    transport = client.protocol.transport
    if transport is not None:
        # abort, not close: a TLS transport's close() first waits for the server's close_notify (up to
        # 30 s), and a loop that ends meanwhile (a watcher stopping) never closes the socket. After
        # LOGOUT, or on a failure, there is nothing left worth sending.
        transport.abort()
    for task in tasks:
        await settle(task)


async def _open(protocol: Protocol, config: ServerConfig, connect_timeout: float) -> None:
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(connect_timeout):
            sock = await _tcp_connect(config.host, config.port)
    except TimeoutError as exc:
        raise _fault(config, MailboxFault.CONNECT_TIMEOUT, f"did not accept in {connect_timeout:g} s")() from exc
    except socket.gaierror as exc:
        raise _fault(config, MailboxFault.HOST_NOT_FOUND, f"cannot be resolved: {exc}")() from exc
    except ConnectionRefusedError as exc:
        raise _fault(config, MailboxFault.CONNECTION_REFUSED, "refused the connection")() from exc
    except OSError as exc:
        raise _fault(config, MailboxFault.NETWORK_ERROR, f"unreachable: {_reason(exc)}")() from exc
    context = client_context(config.reject_unauthorized) if config.secure else None
    try:
        async with asyncio.timeout(connect_timeout):
            await loop.create_connection(
                lambda: protocol,
                sock=sock,
                ssl=context,
                server_hostname=config.host if context else None,
                # Never first: the timeout around it names the fault.
                ssl_handshake_timeout=connect_timeout + 5 if context else None,
            )
    except BaseException as exc:
        sock.close()
        if isinstance(exc, TimeoutError):
            raise _fault(
                config, MailboxFault.TLS_FAILED, f"TLS handshake timed out after {connect_timeout:g} s"
            )() from exc
        if isinstance(exc, ssl.SSLError) and not isinstance(exc, ssl.SSLEOFError):
            raise _fault(config, MailboxFault.TLS_FAILED, f"TLS handshake failed: {_reason(exc)}")() from exc
        if isinstance(exc, OSError):
            # A server shutting down closes during the handshake; that is no TLS problem.
            raise _fault(
                config, MailboxFault.CLOSED_BEFORE_GREETING, "closed the connection during the TLS handshake"
            )() from exc
        raise


async def _tcp_connect(host: str, port: int) -> socket.socket:
    """A connected non-blocking socket to the first address of host that accepts."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    error: OSError = OSError(f"no address for {host}")
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        except BaseException:
            sock.close()
            raise
        return sock
    raise error


async def _greeting(protocol: Protocol, config: ServerConfig, connect_timeout: float) -> None:
    closed = _fault(config, MailboxFault.CLOSED_BEFORE_GREETING, "closed the connection before its greeting")
    timed_out = _fault(config, MailboxFault.GREETING_TIMEOUT, f"sent no greeting in {connect_timeout:g} s")
    line = await _step(protocol, protocol.greeting, connect_timeout, closed, timed_out)
    if protocol.state == CONNECTED:  # BYE (RFC 3501 § 7.1.5) or not IMAP at all
        text = line.decode(errors="replace")[:200]
        raise _fault(config, MailboxFault.SERVER_UNAVAILABLE, f"refused the session: {text}")()
    await _capability(protocol, config, connect_timeout)


async def _capability(protocol: Protocol, config: ServerConfig, connect_timeout: float) -> None:
    closed = _fault(config, MailboxFault.CLOSED_AFTER_GREETING, "closed the connection after its greeting")
    timed_out = _fault(config, MailboxFault.LOGIN_TIMEOUT, f"did not answer CAPABILITY in {connect_timeout:g} s")
    await _step(protocol, protocol.capability(), connect_timeout, closed, timed_out)


async def _maybe_starttls(client: Client, config: ServerConfig, connect_timeout: float) -> None:
    if config.secure or config.starttls is False:
        return
    if not client.has_capability("STARTTLS"):
        if config.starttls:
            raise _fault(config, MailboxFault.TLS_FAILED, "does not offer STARTTLS")()
        return
    # aioimaplib has no STARTTLS method (iroco-co/aioimaplib#1): run the
    # command, then upgrade the transport in place and re-read capabilities.
    protocol = client.protocol
    closed = _fault(config, MailboxFault.CLOSED_AFTER_GREETING, "closed the connection after STARTTLS")
    timed_out = _fault(config, MailboxFault.TLS_FAILED, f"did not answer STARTTLS in {connect_timeout:g} s")
    command = Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)
    response = await _step(protocol, protocol.execute(command), connect_timeout, closed, timed_out)
    if response.result != "OK":
        raise _fault(config, MailboxFault.TLS_FAILED, "refused STARTTLS")()
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(connect_timeout):
            protocol.transport = await loop.start_tls(
                protocol.transport,
                protocol,
                client_context(config.reject_unauthorized),
                server_hostname=config.host,
            )
    except (TimeoutError, OSError) as exc:
        raise _fault(config, MailboxFault.TLS_FAILED, f"STARTTLS handshake failed: {_reason(exc)}")() from exc
    await _capability(protocol, config, connect_timeout)


async def _step(
    protocol: Protocol,
    work: Awaitable[T],
    timeout: float,
    closed: Callable[[], ConnectFailed],
    timed_out: Callable[[], ConnectFailed],
) -> T:
    """Await work, or fail as soon as the connection closes or timeout passes; work never outlives this."""
    task = asyncio.ensure_future(work)
    either: set[asyncio.Future[Any]] = {task, protocol.closed}
    try:
        await asyncio.wait(either, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await settle(task)
    if task.done() and not task.cancelled():
        try:
            return task.result()
        except _IO_ERRORS as exc:
            if protocol.closed.done():
                raise closed() from exc
            if isinstance(exc, asyncio.TimeoutError):
                raise timed_out() from exc
            raise
    raise closed() if protocol.closed.done() else timed_out()


async def settle(task: asyncio.Future[Any]) -> None:
    """Cancel task unless done, give it a moment to unwind, and take its outcome."""
    if not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=_SETTLE_S)
    if not task.done():
        log.warning("an IMAP task did not end when cancelled: %r", task)
    elif not task.cancelled():
        task.exception()  # taken: a failure nobody waits for any more is not "never retrieved"


def _fault(config: ServerConfig, fault: MailboxFault, what: str) -> Callable[[], ConnectFailed]:
    return lambda: ConnectFailed(f"IMAP server {config.host}:{config.port} {what}", fault)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    return str(exc) or type(exc).__name__
