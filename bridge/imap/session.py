"""Open, authenticate and use one IMAP connection (aioimaplib).

I/O adapter: the only place besides the watcher that talks IMAP. Every
aioimaplib, socket and TLS failure is translated here into ``MailboxError``:
``MailboxAuthFailed`` (credentials refused: permanent) or
``MailboxUnavailable`` (cannot connect, timeout, BYE: transient).
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import aioimaplib
from aioimaplib.aioimaplib import Command

from bridge.errors import MailboxAuthFailed, MailboxError, MailboxUnavailable
from bridge.imap import oauth_login
from bridge.imap.responses import encode_mailbox_name, parse_list_response, parse_status, quote, response_text
from bridge.models import FolderStatus, Mailbox, ServerConfig
from bridge.tls import client_context

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 15.0
# RFC 5530 response codes that mean "try again later", not "wrong password".
_TRANSIENT_CODES = re.compile(r"\[(UNAVAILABLE|SERVERBUG|LIMIT|INUSE)\]", re.I)
_IO_ERRORS = (OSError, asyncio.TimeoutError, ssl.SSLError, aioimaplib.AioImapException)


async def connect(config: ServerConfig, *, timeout: float = DEFAULT_TIMEOUT) -> aioimaplib.IMAP4:
    """Connect, secure and log in.

    Raises:
        MailboxAuthFailed: the server refused the credentials.
        MailboxUnavailable: the server cannot be reached, TLS fails, or it times out.
    """
    where = f"{config.host}:{config.port}"
    client: aioimaplib.IMAP4
    if config.secure:
        client = aioimaplib.IMAP4_SSL(
            config.host,
            config.port,
            timeout=timeout,
            ssl_context=client_context(config.reject_unauthorized),
        )
    else:
        client = aioimaplib.IMAP4(config.host, config.port, timeout=timeout)
    try:
        await client.wait_hello_from_server()
        await _maybe_starttls(client, config, timeout)
        await _login(client, config)
    except (MailboxAuthFailed, MailboxUnavailable, asyncio.CancelledError):
        _abort(client)
        raise
    except _IO_ERRORS as exc:
        _abort(client)
        reason = str(exc) or type(exc).__name__
        raise MailboxUnavailable(f"IMAP server {where} unreachable: {reason}", details={"side": "imap"}) from exc
    return client


async def _maybe_starttls(client: aioimaplib.IMAP4, config: ServerConfig, timeout: float) -> None:
    if config.secure or config.starttls is False:
        return
    if not client.has_capability("STARTTLS"):
        if config.starttls:
            raise MailboxUnavailable("IMAP server does not offer STARTTLS", details={"side": "imap"})
        return
    # aioimaplib has no STARTTLS method (iroco-co/aioimaplib#1): run the
    # command, then upgrade the transport in place and re-read capabilities.
    protocol = client.protocol
    response = await asyncio.wait_for(
        protocol.execute(Command("STARTTLS", protocol.new_tag(), loop=protocol.loop)),
        timeout,
    )
    if response.result != "OK":
        raise MailboxUnavailable(
            f"STARTTLS refused: {response_text(response.lines)}",
            details={"side": "imap"},
        )
    loop = asyncio.get_running_loop()
    protocol.transport = await loop.start_tls(
        protocol.transport,
        protocol,
        client_context(config.reject_unauthorized),
        server_hostname=config.host,
    )
    await asyncio.wait_for(protocol.capability(), timeout)


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
        raise MailboxUnavailable(f"IMAP server is unavailable: {text}", details={"side": "imap"})
    raise MailboxAuthFailed(f"IMAP login failed: {text}", details={"side": "imap"})


def _abort(client: aioimaplib.IMAP4) -> None:
    # A connect still in flight would otherwise open its socket after we gave up on it.
    pending = getattr(client, "_client_task", None)
    if pending is not None and not pending.done():
        pending.cancel()
    transport = getattr(client.protocol, "transport", None)
    if transport is not None:
        transport.close()


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
        _abort(client)


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
        wanted = list(folders)
        if discover:
            boxes = await list_mailboxes(client)
            wanted += [b.path for b in boxes if b.special_use in discover and b.path not in wanted]
        return await folder_statuses(client, wanted)


async def fetch_mailboxes(config: ServerConfig, *, timeout: float = DEFAULT_TIMEOUT) -> list[Mailbox]:
    """Connect and list the folders of an account."""
    async with session(config, timeout=timeout) as client:
        return await list_mailboxes(client)
