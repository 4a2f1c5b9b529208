"""Open, authenticate and use one IMAP connection (aioimaplib).

I/O adapter: the only place besides the watcher that talks IMAP. Every
aioimaplib, socket and TLS failure is translated here into ``MailboxError``:
``MailboxAuthFailed`` (credentials refused: permanent) or
``MailboxUnavailable`` (cannot connect, timeout, BYE: transient); a failed
connect is a ``ConnectFailed`` naming its ``MailboxFault`` (see ``handshake``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import aioimaplib

from bridge.errors import MailboxAuthFailed, MailboxError, MailboxUnavailable
from bridge.imap import handshake, oauth_login
from bridge.imap.handshake import ConnectFailed
from bridge.imap.responses import encode_mailbox_name, parse_list_response, parse_status, quote, response_text
from bridge.models import FolderStatus, Mailbox, MailboxFault, ServerConfig

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 15.0
# Each step of opening a session (TCP, TLS, greeting, STARTTLS, LOGIN): a healthy server
# answers each in well under a second; one that does not is retried, not waited for.
CONNECT_TIMEOUT = 10.0
# RFC 5530 response codes that mean "try again later", not "wrong password".
_TRANSIENT_CODES = re.compile(r"\[(UNAVAILABLE|SERVERBUG|LIMIT|INUSE)\]", re.I)
_IO_ERRORS = (OSError, asyncio.TimeoutError, ssl.SSLError, aioimaplib.AioImapException)


async def connect(
    config: ServerConfig, *, timeout: float = DEFAULT_TIMEOUT, connect_timeout: float = CONNECT_TIMEOUT
) -> aioimaplib.IMAP4:
    """Connect, secure and log in; each step of that within ``connect_timeout``.

    ``timeout`` is the command timeout of the session returned.

    Raises:
        MailboxAuthFailed: the server refused the credentials.
        ConnectFailed: (a ``MailboxUnavailable``) the server cannot be reached, refuses,
            closes, stalls, TLS fails; its ``fault`` says which.
    """
    try:
        return await handshake.open_session(
            config, timeout=timeout, connect_timeout=connect_timeout, login=lambda client: _login(client, config)
        )
    except (MailboxAuthFailed, MailboxUnavailable):
        raise
    except _IO_ERRORS as exc:
        reason = str(exc) or type(exc).__name__
        raise ConnectFailed(
            f"IMAP server {config.host}:{config.port} failed: {reason}", MailboxFault.NETWORK_ERROR
        ) from exc


async def _login(client: aioimaplib.IMAP4, config: ServerConfig) -> None:
    if config.uses_oauth:
        await oauth_login.authenticate(client, config)
        return
    if config.password is not None:
        # aioimaplib quotes the password but not the user name.
        response = await client.login(quote(config.user), config.password.reveal())
    else:
        raise MailboxAuthFailed("no IMAP password or access token configured", details={"side": "imap"})
    if response.result == "OK":
        return
    text = response_text(response.lines)
    if _TRANSIENT_CODES.search(text):
        raise ConnectFailed(f"IMAP server is unavailable: {text}", MailboxFault.SERVER_UNAVAILABLE)
    raise MailboxAuthFailed(f"IMAP login failed: {text}", details={"side": "imap"})


def when_lost(client: aioimaplib.IMAP4, callback: Callable[[], None]) -> None:
    """Call callback once the connection is gone (now, if it already is)."""
    client.protocol.conn_lost_cb = lambda exc: callback()
    transport = client.protocol.transport
    if transport is None or transport.is_closing():
        callback()


async def close(client: aioimaplib.IMAP4, *, timeout: float = 5.0) -> None:
    """Log out politely when the connection is alive, and drop it whatever happens."""
    transport = getattr(client.protocol, "transport", None)
    try:
        alive = transport is not None and not transport.is_closing()
        if alive and client.get_state() in ("AUTH", "SELECTED"):
            await asyncio.wait_for(client.protocol.logout(), timeout)
    except _IO_ERRORS as exc:
        log.debug("IMAP logout failed: %s", exc)
    finally:
        await handshake.discard(client)


async def close_all(clients: Sequence[aioimaplib.IMAP4], *, timeout: float = 5.0) -> None:
    """``close`` each, concurrently; every one is dropped however this ends, a cancellation included.

    A cancelled ``close`` still drops its connection, but one whose turn had not come would stay open.
    """
    try:
        await asyncio.gather(*(close(client, timeout=timeout) for client in clients))
    finally:
        for client in clients:
            transport = getattr(client.protocol, "transport", None)
            if transport is not None:
                transport.abort()


@asynccontextmanager
async def session(config: ServerConfig, *, timeout: float = DEFAULT_TIMEOUT) -> AsyncIterator[aioimaplib.IMAP4]:
    """An authenticated connection, logged out on exit."""
    client = await connect(config, timeout=timeout)
    try:
        yield client
    finally:
        await close(client)


async def list_mailboxes(client: aioimaplib.IMAP4) -> list[Mailbox]:
    """LIST every folder with its special-use flag (RFC 6154 folds it into LIST on Dovecot and Gmail)."""
    try:
        response = await client.list('""', "*")
    except _IO_ERRORS as exc:
        raise MailboxUnavailable(f"IMAP LIST failed: {exc}", details={"side": "imap"}) from exc
    if response.result != "OK":
        raise MailboxUnavailable(
            f"IMAP LIST failed: {response_text(response.lines)}",
            details={"side": "imap"},
        )
    return parse_list_response(response.lines[:-1])


async def folder_statuses(client: aioimaplib.IMAP4, folders: Sequence[str]) -> dict[str, FolderStatus]:
    """STATUS of each folder (UIDVALIDITY, UIDNEXT).

    Raises:
        MailboxError: code folderNotFound when a folder does not exist.
    """
    found: dict[str, FolderStatus] = {}
    for folder in folders:
        try:
            response = await client.status(quote(encode_mailbox_name(folder)), "(UIDNEXT UIDVALIDITY MESSAGES)")
        except _IO_ERRORS as exc:
            raise MailboxUnavailable(f"IMAP STATUS failed: {exc}", details={"side": "imap"}) from exc
        status = parse_status(response.lines) if response.result == "OK" else None
        if status is None:
            raise MailboxError(
                f"folder {folder!r} cannot be watched: {response_text(response.lines)}",
                code="folderNotFound",
                details={"side": "imap", "folder": folder},
            )
        found[folder] = status
    return found


async def verify(
    config: ServerConfig,
    *,
    folders: Sequence[str] = (),
    discover: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, FolderStatus]:
    """Check that the credentials work and the folders exist; return their status.

    ``discover`` names special-use flags (e.g. ``\\Junk``) whose folders, when the
    server has them, are added after ``folders`` (RFC 6154).
    """
    async with session(config, timeout=timeout) as client:
        return await inspect(client, folders=folders, discover=discover)


async def inspect(
    client: aioimaplib.IMAP4, *, folders: Sequence[str] = (), discover: Sequence[str] = ()
) -> dict[str, FolderStatus]:
    """What ``verify`` reports, on a connection already logged in (a watcher's command connection).

    A NOOP first: a kept connection proves the server answers now, not when it logged in.

    Raises:
        MailboxUnavailable: the server does not answer.
        MailboxError: code folderNotFound when a folder does not exist.
    """
    try:
        response = await client.noop()
    except _IO_ERRORS as exc:
        raise MailboxUnavailable(f"IMAP NOOP failed: {exc}", details={"side": "imap"}) from exc
    if response.result != "OK":
        raise MailboxUnavailable(f"IMAP NOOP failed: {response_text(response.lines)}", details={"side": "imap"})
    wanted = list(folders)
    if discover:
        boxes = await list_mailboxes(client)
        wanted += [b.path for b in boxes if b.special_use in discover and b.path not in wanted]
    return await folder_statuses(client, wanted)


async def fetch_mailboxes(config: ServerConfig, *, timeout: float = DEFAULT_TIMEOUT) -> list[Mailbox]:
    """Connect and list the folders of an account."""
    async with session(config, timeout=timeout) as client:
        return await list_mailboxes(client)
