"""After a send: file the copy in Sent and flag the message it answered or forwarded.

I/O adapter over one IMAP session (``bridge.imap.session``); aioimaplib and
network failures become ``MailboxUnavailable`` (transient) here, so the job
that calls ``file_sent`` can retry. Outcomes a retry cannot change (no Sent
folder, the referenced message is gone) are values in ``FileResult``.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from datetime import datetime

import aioimaplib

from bridge.errors import MailboxError, MailboxUnavailable, NotFound
from bridge.imap import message_ops
from bridge.imap.message_ops import MessageRef
from bridge.imap.responses import quote, response_text
from bridge.imap.session import DEFAULT_TIMEOUT, list_mailboxes, session
from bridge.models import ServerConfig

# Providers that put a copy of every message sent through their SMTP into Sent themselves;
# uploading another would show the message twice.
# When a server has no RFC 6154 \Sent flag, the names clients commonly use, in order.
_SENT_NAMES = ("Sent", "Sent Items", "Sent Messages", "Sent Mail", "INBOX.Sent", "[Gmail]/Sent Mail")
_IO_ERRORS = (OSError, asyncio.TimeoutError, ssl.SSLError, aioimaplib.AioImapException)


@dataclass(frozen=True, slots=True)
class FlagTarget:
    """The stored message a reply or forward refers to, as the watcher saw it."""

    folder: str
    uid: int
    uidvalidity: int
    message_id: str | None
    flag: str  # \\Answered or $Forwarded


@dataclass(frozen=True, slots=True)
class FileResult:
    """What ``file_sent`` did: the Sent folder used (None: skipped or none found) and whether a flag was set."""

    sent_folder: str | None
    flagged: bool


async def file_sent(
    config: ServerConfig,
    raw: bytes,
    *,
    copy: bool,
    flag: FlagTarget | None,
    date: datetime | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> FileResult:
    """In one IMAP session: APPEND the sent message to Sent with \\Seen, and flag the referenced message.

    Raises:
        MailboxAuthFailed: the IMAP login was refused.
        MailboxUnavailable: the server cannot be reached or a command failed; safe to retry.
    """
    async with session(config, timeout=timeout) as client:
        folder = await append_to_sent(client, raw, date=date) if copy else None
        flagged = await set_flag(client, flag) if flag is not None else False
    return FileResult(sent_folder=folder, flagged=flagged)


async def find_sent_folder(client: aioimaplib.IMAP4) -> str | None:
    """The folder marked \\Sent (RFC 6154), else one with a usual name; its path as the server spells it."""
    mailboxes = await list_mailboxes(client)
    for box in mailboxes:
        if box.special_use == "\\Sent":
            return box.path
    by_name = {box.path.lower(): box.path for box in mailboxes}
    return next((by_name[n.lower()] for n in _SENT_NAMES if n.lower() in by_name), None)


async def append_to_sent(client: aioimaplib.IMAP4, raw: bytes, *, date: datetime | None = None) -> str | None:
    """APPEND to the Sent folder with \\Seen; returns the folder, or None when the account has none."""
    folder = await find_sent_folder(client)
    if folder is None:
        return None
    try:
        response = await client.append(raw, mailbox=quote(folder), flags="(\\Seen)", date=date)
    except _IO_ERRORS as exc:
        raise MailboxUnavailable(f"IMAP APPEND to {folder!r} failed: {exc}", details={"side": "imap"}) from exc
    if response.result != "OK":
        raise MailboxUnavailable(
            f"IMAP APPEND to {folder!r} failed: {response_text(response.lines)}", details={"side": "imap"}
        )
    return folder


async def set_flag(client: aioimaplib.IMAP4, target: FlagTarget) -> bool:
    """UID STORE +FLAGS on the referenced message; False when it (or its folder) is gone.

    Finding the message again (UID under the same UIDVALIDITY, else by Message-ID)
    is ``message_ops.locate``'s job.
    """
    ref = MessageRef(target.folder, target.uidvalidity, target.uid, target.message_id)
    try:
        uid = await message_ops.locate(client, ref)
    except NotFound:
        return False
    except MailboxError as exc:
        if exc.transient:
            raise
        return False  # the folder cannot be selected any more
    try:
        response = await client.uid("store", str(uid), "+FLAGS.SILENT", f"({target.flag})")
    except _IO_ERRORS as exc:
        raise MailboxUnavailable(f"IMAP STORE failed: {exc}", details={"side": "imap"}) from exc
    if response.result != "OK":
        raise MailboxUnavailable(f"IMAP STORE failed: {response_text(response.lines)}", details={"side": "imap"})
    return True
