"""Act on one stored message on the IMAP server: flags, move to Trash, expunge.

I/O adapter. A stored message is found again by its UID only while the
folder's UIDVALIDITY is unchanged (RFC 3501 § 2.3.1.1); otherwise it is
looked up by Message-ID. Failures become ``MailboxError``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import aioimaplib

from bridge.errors import MailboxError, MailboxUnavailable, NotFound
from bridge.imap.responses import (
    encode_mailbox_name,
    parse_fetch,
    parse_list_response,
    parse_search,
    parse_select,
    quote,
    response_text,
)

_IO_ERRORS = (OSError, asyncio.TimeoutError, aioimaplib.AioImapException)
# Where providers without RFC 6154 special-use flags keep deleted mail.
_TRASH_NAMES = ("Trash", "Deleted Items", "Deleted Messages", "[Gmail]/Trash", "INBOX.Trash")
_FLAGS = b"FLAGS ("


@dataclass(frozen=True, slots=True)
class MessageRef:
    """Where a stored message lives on the server."""

    folder: str
    uidvalidity: int
    uid: int
    message_id: str | None = None


async def _ok(command: Awaitable[Any], what: str) -> Any:
    """Await a command; raise unless the server answered OK."""
    try:
        response = await command
    except _IO_ERRORS as exc:
        raise MailboxUnavailable(f"IMAP {what} failed: {exc}", details={"side": "imap"}) from exc
    if response.result != "OK":
        raise MailboxError(f"IMAP {what} failed: {response_text(response.lines)}", details={"side": "imap"})
    return response


async def locate(client: aioimaplib.IMAP4, ref: MessageRef) -> int:
    """Select the message's folder and return its current UID.

    Raises:
        NotFound: the message is no longer on the server (code messageGone).
    """
    selected = await _ok(client.select(quote(encode_mailbox_name(ref.folder))), f"SELECT {ref.folder!r}")
    status = parse_select(selected.lines)
    if status is not None and status.uidvalidity == ref.uidvalidity:
        found = await _ok(client.uid_search("UID", str(ref.uid)), "UID SEARCH")
        if ref.uid in parse_search(found.lines):
            return ref.uid
    elif ref.message_id:
        header = quote(f"<{ref.message_id.strip('<>')}>")
        found = await _ok(client.uid_search("HEADER", "Message-ID", header, charset=None), "UID SEARCH")
        uids = parse_search(found.lines)
        if uids:
            return max(uids)
    raise NotFound(f"the message is no longer in {ref.folder!r} on the server", code="messageGone")


async def change_flags(client: aioimaplib.IMAP4, ref: MessageRef, add: list[str], remove: list[str]) -> list[str]:
    """Add and remove flags; return the message's flags as the server now has them."""
    uid = await locate(client, ref)
    if add:
        await _ok(client.uid("store", str(uid), "+FLAGS.SILENT", f"({' '.join(add)})"), "UID STORE")
    if remove:
        await _ok(client.uid("store", str(uid), "-FLAGS.SILENT", f"({' '.join(remove)})"), "UID STORE")
    fetched = await _ok(client.uid("fetch", str(uid), "(FLAGS)"), "UID FETCH")
    for item in fetched.lines:
        line = bytes(item)
        start = line.find(_FLAGS)
        if start >= 0:
            end = line.find(b")", start)
            return line[start + len(_FLAGS) : end].decode().split()
    return []


async def fetch_source(client: aioimaplib.IMAP4, ref: MessageRef) -> bytes:
    """The message's RFC 822 bytes, as the server has them (BODY.PEEK: \\Seen is left alone).

    Raises:
        NotFound: the message is no longer on the server (code messageGone).
    """
    uid = await locate(client, ref)
    fetched = await _ok(client.uid("fetch", str(uid), "(UID FLAGS INTERNALDATE BODY.PEEK[])"), "UID FETCH")
    for message in parse_fetch(fetched.lines):
        if message.uid == uid:
            return message.raw
    raise NotFound(f"the message is no longer in {ref.folder!r} on the server", code="messageGone")


async def trash_folder(client: aioimaplib.IMAP4) -> str | None:
    """The \\Trash folder (RFC 6154), else a conventionally named one."""
    listing = await _ok(client.list('""', "*"), "LIST")
    boxes = parse_list_response(listing.lines[:-1])
    for box in boxes:
        if box.special_use == "\\Trash":
            return box.path
    names = {box.path.lower(): box.path for box in boxes}
    return next((names[n.lower()] for n in _TRASH_NAMES if n.lower() in names), None)


async def delete(client: aioimaplib.IMAP4, ref: MessageRef, *, force: bool) -> str | None:
    """Move the message to Trash, or expunge it (force, or already in Trash, or no Trash).

    Returns the folder it was moved to, or None when it was expunged.
    """
    trash = None if force else await trash_folder(client)
    uid = await locate(client, ref)
    if trash is not None and trash != ref.folder:
        target = quote(encode_mailbox_name(trash))
        if client.has_capability("MOVE"):  # RFC 6851
            await _ok(client.uid("move", str(uid), target), "UID MOVE")
            return trash
        await _ok(client.uid("copy", str(uid), target), "UID COPY")
    await _ok(client.uid("store", str(uid), "+FLAGS.SILENT", "(\\Deleted)"), "UID STORE")
    if client.has_capability("UIDPLUS"):  # RFC 4315: expunge only this message
        await _ok(client.uid("expunge", str(uid)), "UID EXPUNGE")
    else:
        await _ok(client.expunge(), "EXPUNGE")
    return trash if trash is not None and trash != ref.folder else None
