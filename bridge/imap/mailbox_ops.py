"""After a send: file the copy in Sent and flag the message it answered or forwarded.

I/O adapter over one IMAP session (``bridge.imap.session``); aioimaplib and
network failures become ``MailboxUnavailable`` (transient) here, so the job
that calls ``file_sent`` can retry. Outcomes a retry cannot change (no Sent
folder, the referenced message is gone) are values in ``FileResult``.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass
from datetime import datetime

import aioimaplib

from bridge.errors import MailboxUnavailable
from bridge.imap.responses import encode_mailbox_name, quote, response_text
from bridge.imap.session import DEFAULT_TIMEOUT, list_mailboxes, session
from bridge.models import ServerConfig

# Providers that put a copy of every message sent through their SMTP into Sent themselves;
# uploading another would show the message twice.
SELF_FILING_HOSTS = ("imap.gmail.com", "imap.googlemail.com", "smtp.gmail.com", "smtp.googlemail.com")
# When a server has no RFC 6154 \Sent flag, the names clients commonly use, in order.
_SENT_NAMES = ("Sent", "Sent Items", "Sent Messages", "Sent Mail", "INBOX.Sent", "[Gmail]/Sent Mail")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]", re.I)
_SEARCH = re.compile(rb"^(?:\* )?SEARCH\b(.*)$", re.I)
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


def provider_files_sent(imap_host: str, smtp_host: str | None) -> bool:
    """True for providers that file sent mail themselves (Gmail), where an upload would duplicate it."""
    hosts = {imap_host.lower().rstrip("."), (smtp_host or "").lower().rstrip(".")}
    return any(h in SELF_FILING_HOSTS for h in hosts)


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
    """UID STORE +FLAGS on the referenced message; False when it is no longer there.

    The stored UID is trusted only under the same UIDVALIDITY (RFC 3501 § 2.3.1.1);
    otherwise the message is looked up again by its Message-ID.
    """
    try:
        selected = await client.select(quote(encode_mailbox_name(target.folder)))
        if selected.result != "OK":
            return False
        uid: int | None = target.uid if _uidvalidity(selected.lines) == target.uidvalidity else None
        if uid is None and target.message_id:
            uid = await _search_message_id(client, target.message_id)
        if uid is None:
            return False
        response = await client.uid("store", str(uid), "+FLAGS.SILENT", f"({target.flag})")
    except _IO_ERRORS as exc:
        raise MailboxUnavailable(f"IMAP STORE failed: {exc}", details={"side": "imap"}) from exc
    if response.result != "OK":
        raise MailboxUnavailable(f"IMAP STORE failed: {response_text(response.lines)}", details={"side": "imap"})
    return True


async def _search_message_id(client: aioimaplib.IMAP4, message_id: str) -> int | None:
    response = await client.uid_search("HEADER", "Message-ID", quote(f"<{message_id.strip('<>')}>"), charset=None)
    if response.result != "OK":
        return None
    for line in response.lines:
        match = _SEARCH.match(bytes(line))
        if match:
            uids = [int(u) for u in match.group(1).split()]
            return max(uids) if uids else None
    return None


def _uidvalidity(lines: list[bytes | bytearray]) -> int | None:
    for line in lines:
        match = _UIDVALIDITY.search(bytes(line))
        if match:
            return int(match.group(1))
    return None
