"""The live mailbox, one IMAP command connection at a time: list, search, fetch, flag, move, delete, folders, append.

I/O adapter: functions over an authenticated ``aioimaplib.IMAP4`` client (from
``bridge.imap.pool``), so they can be tested directly against a server. Folder
names in and out are text; they are encoded to modified UTF-7 (RFC 3501 § 5.1.3)
here. Every message is named by ``bridge.mail.ids.MessageId``: a UID is only
trusted while its folder's UIDVALIDITY is the one in the id (RFC 3501 § 2.3.1.1),
so a stale id answers ``messageNotFound``, never another message.

Failures: aioimaplib and network errors become ``MailboxUnavailable``; a NO from
the server ``MailboxError``; a missing folder or message ``NotFound``.
"""

from __future__ import annotations

import asyncio
import re
import ssl
import weakref
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

import aioimaplib

from bridge.errors import Conflict, MailboxError, MailboxUnavailable, NotFound, SelectionLost
from bridge.imap import handshake
from bridge.imap.fetched import Fetched, parse_fetch_items
from bridge.imap.responses import (
    decode_mailbox_name,
    encode_mailbox_name,
    parse_list_response,
    parse_search,
    parse_select,
    quote,
    response_text,
)
from bridge.mail.ids import MessageId
from bridge.models import FolderStatus, Mailbox

_IO_ERRORS = (OSError, asyncio.TimeoutError, ssl.SSLError, aioimaplib.AioImapException)
# The header fields a listing shows, and the start of the body for its preview: one FETCH per page.
SUMMARY_HEADERS = "FROM TO CC SUBJECT DATE MESSAGE-ID IN-REPLY-TO CONTENT-TYPE CONTENT-TRANSFER-ENCODING"
PREVIEW_BYTES = 1024
SUMMARY_ITEMS = (
    f"(UID FLAGS RFC822.SIZE INTERNALDATE BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS ({SUMMARY_HEADERS})] "
    f"BODY.PEEK[TEXT]<0.{PREVIEW_BYTES}>)"
)
# UID sets sent in one command: aioimaplib recurses once per response line (iroco-co/aioimaplib#118).
BATCH = 200
# Where providers without RFC 6154 special-use flags keep mail, in the order clients look.
_CONVENTIONAL = {
    "\\Trash": ("Trash", "Deleted Items", "Deleted Messages", "[Gmail]/Trash", "INBOX.Trash"),
    "\\Drafts": ("Drafts", "Draft", "[Gmail]/Drafts", "INBOX.Drafts"),
    "\\Sent": ("Sent", "Sent Items", "Sent Messages", "Sent Mail", "INBOX.Sent", "[Gmail]/Sent Mail"),
}
_COPYUID = re.compile(rb"\[COPYUID (\d+) ([0-9:,]+) ([0-9:,]+)\]", re.I)
_APPENDUID = re.compile(rb"\[APPENDUID (\d+) (\d+)\]", re.I)
_STATUS_ITEMS = re.compile(rb"(MESSAGES|UNSEEN|UIDVALIDITY|UIDNEXT) (\d+)", re.I)
_VERSION_ITEMS = re.compile(rb"(UIDVALIDITY|UIDNEXT|MESSAGES|HIGHESTMODSEQ) (\d+)", re.I)
_HIGHESTMODSEQ = re.compile(rb"\[HIGHESTMODSEQ (\d+)\]", re.I)
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]", re.I)


@dataclass(frozen=True, slots=True)
class Selected:
    """A SELECT's answer: the folder's state, and its HIGHESTMODSEQ (RFC 7162) when the server keeps one.

    ``version`` changes whenever anything in the folder does (a message added, removed, or its
    flags changed, by anyone): what a cached answer about the folder is checked against.
    """

    status: FolderStatus
    highest_modseq: int | None

    @property
    def version(self) -> tuple[int, int, int, int] | None:
        if self.highest_modseq is None:
            return None
        return (self.status.uidvalidity, self.status.uidnext, self.status.exists, self.highest_modseq)


@dataclass(frozen=True, slots=True)
class _View:
    """A folder a command connection keeps selected read-only (EXAMINE) for the next read there.

    ``notices`` is the connection's count of change notices (``handshake.Protocol.notices``) as the
    selection's answer came: while it stands still (a NOOP first, to hear of what others did), nothing
    changed in the folder, so what the selection told (``selected``: its EXISTS and version) still
    holds. None on a connection that does not count them.
    """

    folder: str
    selected: Selected
    notices: int | None


# Per command connection: the folder it keeps selected read-only after a listing, search or message read.
# The next read there needs only a NOOP to see what others changed, instead of STATUS or EXAMINE + CLOSE:
# after a fresh EXAMINE, Dovecot's first body FETCH re-reads the folder's Maildir UID list (~13 ms for
# 10,000 messages, bench/mailbox.py); within a kept selection a 50 KB FETCH costs under 1 ms, and a
# NOOP 0.2 ms where a STATUS of the folder costs 3.3 ms.
_kept: weakref.WeakKeyDictionary[aioimaplib.IMAP4, _View] = weakref.WeakKeyDictionary()


def _notices(client: aioimaplib.IMAP4, *, when_answered: bool = False) -> int | None:
    """The connection's change notices so far, or as of its last command's end; None if it keeps no count."""
    found = getattr(client.protocol, "notices_when_answered" if when_answered else "notices", None)
    return found if isinstance(found, int) else None


def keeps(client: aioimaplib.IMAP4, folder: str) -> bool:
    """Whether this connection keeps ``folder`` selected read-only from an earlier read."""
    kept = _kept.get(client)
    return kept is not None and kept.folder == folder and client.get_state() == "SELECTED"


async def examine(client: aioimaplib.IMAP4, folder: str) -> Selected:
    """The folder selected read-only and up to date, and kept selected for the next read there.

    A kept selection of it is brought up to date with a NOOP (RFC 3501 § 6.1.2: the server then tells
    what other sessions changed) and reused while no change notice came since it was made; the notices
    of every command in it count (an EXISTS during a FETCH too), so none is missed. Otherwise, and for
    any other folder, EXAMINE: read-only, so leaving it never expunges (RFC 3501 § 6.4.2).

    Raises:
        NotFound: code folderNotFound.
        SelectionLost: the server ended the session (Dovecot does when the kept folder is deleted or
            renamed by another session).
    """
    kept = _kept.get(client)
    if keeps(client, folder) and kept is not None and kept.notices is not None:
        response = await _unless_closed(client, client.noop(), "NOOP")
        if response.result == "OK" and _notices(client) == kept.notices:
            return kept.selected
    _kept.pop(client, None)
    selected = await select_versioned(client, folder, read_only=True)
    _kept[client] = _View(folder, selected, _notices(client, when_answered=True))
    return selected


async def prepare(client: aioimaplib.IMAP4) -> None:
    """Once per command connection: ENABLE CONDSTORE, so every SELECT tells HIGHESTMODSEQ (RFC 7162 § 3.1)."""
    if client.has_capability("CONDSTORE") and client.has_capability("ENABLE"):
        try:
            await client.enable("CONDSTORE")
        except _IO_ERRORS as exc:
            raise MailboxUnavailable(f"IMAP ENABLE failed: {exc}", details={"side": "imap"}) from exc


async def version(client: aioimaplib.IMAP4, folder: str) -> tuple[int, int, int, int] | None:
    """The folder's version now from STATUS (UIDVALIDITY, UIDNEXT, MESSAGES, HIGHESTMODSEQ); None without CONDSTORE.

    Only for a folder this connection does not keep selected (``keeps``): a STATUS of the selected folder
    answers from the session's own view, however old (Dovecot says CLIENTBUG; RFC 3501 § 6.3.10 says not
    to ask). For a kept one, ``examine`` brings that selection up to date and tells its version.
    """
    if not client.has_capability("CONDSTORE"):
        return None
    try:
        response = await client.status(mailbox_arg(folder), "(UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ)")
    except _IO_ERRORS as exc:
        raise MailboxUnavailable(f"IMAP STATUS failed: {exc}", details={"side": "imap"}) from exc
    if response.result != "OK":
        raise NotFound(f"no folder {folder!r}: {response_text(response.lines)}", code="folderNotFound")
    for item in response.lines[:-1]:
        found = {k.decode().upper(): int(v) for k, v in _VERSION_ITEMS.findall(bytes(item))}
        if len(found) == 4:
            return (found["UIDVALIDITY"], found["UIDNEXT"], found["MESSAGES"], found["HIGHESTMODSEQ"])
    return None


async def _examine(client: aioimaplib.IMAP4, mailbox: str) -> Any:
    response = await client.examine(mailbox)
    if response.result == "OK":
        # aioimaplib runs EXAMINE as a plain command and, unlike after SELECT, keeps its state at AUTH,
        # where it refuses FETCH and SEARCH: the folder is selected (read-only), so say so.
        client.protocol.state = "SELECTED"
    return response


async def leave(client: aioimaplib.IMAP4, *, read_only: bool) -> None:
    """Leave the selected folder, expunging nothing: CLOSE after EXAMINE (RFC 3501 § 6.4.2: a read-only
    folder is not expunged), after a SELECT first an EXAMINE, which deselects without expunging.

    A connection that cannot leave is dropped (the pool replaces it): a folder left selected would make
    its next STATUS answer from a stale view.
    """
    _kept.pop(client, None)
    if client.get_state() != "SELECTED":
        return
    try:
        if not read_only:
            await ok(_examine(client, '"INBOX"'), "EXAMINE")
        await ok(client.close(), "CLOSE")
    except (MailboxError, NotFound):
        await handshake.discard(client)


async def release(client: aioimaplib.IMAP4, *, keep: bool = False) -> None:
    """Leave the folder an earlier command left selected; with ``keep`` (a read), only one no read keeps.

    Only a read's read-only selection (``examine``, ``fetch_message``) is meant to be left over, and CLOSE
    expunges nothing there. Any other selection is one no read keeps track of: left the safe way
    (``leave``), so a STATUS of it never answers from its old view.
    """
    if client.get_state() != "SELECTED" or (keep and client in _kept):
        return
    await leave(client, read_only=client in _kept)


@dataclass(frozen=True, slots=True)
class Page:
    """Messages of one listing or search page, newest first, and how many there are in all."""

    folder: str
    uidvalidity: int
    total: int
    items: list[Fetched]


async def ok(command: Awaitable[Any], what: str) -> Any:
    """Await a command; raise unless the server answered OK (``MailboxUnavailable`` on I/O failure)."""
    try:
        response = await command
    except _IO_ERRORS as exc:
        raise MailboxUnavailable(f"IMAP {what} failed: {exc}", details={"side": "imap"}) from exc
    if response.result != "OK":
        raise MailboxError(f"IMAP {what} failed: {response_text(response.lines)}", details={"side": "imap"})
    return response


def mailbox_arg(folder: str) -> str:
    return quote(encode_mailbox_name(folder))


async def select(client: aioimaplib.IMAP4, folder: str) -> FolderStatus:
    """SELECT a folder (every call: the server then reports what changed since).

    Raises:
        NotFound: code folderNotFound.
    """
    return (await select_versioned(client, folder)).status


async def select_versioned(client: aioimaplib.IMAP4, folder: str, *, read_only: bool = False) -> Selected:
    _kept.pop(client, None)  # whatever was selected is not, from here on
    try:
        response = await (_examine(client, mailbox_arg(folder)) if read_only else client.select(mailbox_arg(folder)))
    except _IO_ERRORS as exc:
        raise MailboxUnavailable(f"IMAP SELECT failed: {exc}", details={"side": "imap"}) from exc
    status = parse_select(response.lines) if response.result == "OK" else None
    if response.result != "OK":
        # A refused SELECT or EXAMINE leaves no folder selected (RFC 3501 § 6.3.1), whatever was before;
        # aioimaplib keeps its state, and a later CLOSE would then fail and cost the connection.
        client.protocol.state = "AUTH"
    if status is None:
        raise NotFound(f"no folder {folder!r}: {response_text(response.lines)}", code="folderNotFound")
    modseq = next((int(m.group(1)) for m in map(_HIGHESTMODSEQ.search, map(bytes, response.lines)) if m), None)
    return Selected(status, modseq)


async def _select_for(client: aioimaplib.IMAP4, message: MessageId, *, read_only: bool = False) -> Selected:
    """Select the message's folder; a changed UIDVALIDITY means the id names nothing any more.

    ``read_only``: EXAMINE, kept for the next read there (``_kept``), even when the id turns out stale:
    the folder is selected either way.
    """
    try:
        selected = await select_versioned(client, message.folder, read_only=read_only)
    except NotFound as exc:
        raise NotFound(f"no message {message.encode()!r}: folder is gone", code="messageNotFound") from exc
    if read_only:
        _kept[client] = _View(message.folder, selected, _notices(client, when_answered=True))
    if selected.status.uidvalidity != message.uidvalidity:
        raise NotFound(f"no message {message.encode()!r}: the folder was rebuilt", code="messageNotFound")
    return selected


def _uid_set(uids: Sequence[int]) -> str:
    return ",".join(str(u) for u in uids)


async def fetch_uids(client: aioimaplib.IMAP4, uids: Sequence[int], items: str = SUMMARY_ITEMS) -> list[Fetched]:
    """UID FETCH in batches (the folder is selected); newest (highest UID) first."""
    found: list[Fetched] = []
    for start in range(0, len(uids), BATCH):
        batch = uids[start : start + BATCH]
        response = await ok(client.uid("fetch", _uid_set(batch), items), "UID FETCH")
        found += parse_fetch_items(response.lines)
    return sorted(found, key=lambda f: f.uid, reverse=True)


async def list_page(
    client: aioimaplib.IMAP4, folder: str, *, page_size: int, page: int, status: FolderStatus | None = None
) -> Page:
    """Page ``page`` (0 = newest) of the folder in arrival order: one SELECT (unless given) and one FETCH."""
    status = status or await select(client, folder)
    high = status.exists - page * page_size
    low = max(1, high - page_size + 1)
    items: list[Fetched] = []
    if high >= 1:
        response = await ok(client.fetch(f"{low}:{high}", SUMMARY_ITEMS), "FETCH")
        items = sorted(parse_fetch_items(response.lines), key=lambda f: f.seq, reverse=True)
    return Page(folder, status.uidvalidity, status.exists, items)


async def search_uids(
    client: aioimaplib.IMAP4, folder: str, criteria: Sequence[str], *, selected: bool = True
) -> tuple[FolderStatus, list[int]]:
    """UID SEARCH on the server; UIDs newest first. ``criteria`` are ready IMAP atoms (bridge.mailbox.search).

    ``selected=False``: the caller has just selected the folder (the status returned is then a placeholder).
    """
    status = await select(client, folder) if selected else FolderStatus(0, 0, 0)
    atoms = list(criteria) or ["ALL"]
    ascii_only = all(a.isascii() for a in atoms)
    try:
        if ascii_only:
            response = await client.uid_search(*atoms, charset=None)
        else:
            response = await client.uid_search(*atoms, charset="UTF-8")
    except _IO_ERRORS as exc:
        raise MailboxUnavailable(f"IMAP SEARCH failed: {exc}", details={"side": "imap"}) from exc
    if response.result != "OK":
        raise MailboxError(
            f"the server refused the search: {response_text(response.lines)}", code="invalidSearch",
            details={"side": "imap"},
        )  # fmt: skip
    return status, sorted(set(parse_search(response.lines)), reverse=True)


async def fetch_message(client: aioimaplib.IMAP4, message: MessageId, *, peek: bool = True) -> Fetched:
    """The message's source, flags, size and internal date.

    Raises:
        NotFound: code messageNotFound (gone from the server, or the folder was rebuilt).
    """
    if not (peek and await _still_selected(client, message)):
        await _select_for(client, message, read_only=peek)  # reading only: EXAMINE (kept); CLOSE expunges nothing
    body = "BODY.PEEK[]" if peek else "BODY[]"
    items = f"(UID FLAGS RFC822.SIZE INTERNALDATE {body})"
    response = await ok(client.uid("fetch", str(message.uid), items), "UID FETCH")
    found = [f for f in parse_fetch_items(response.lines) if f.uid == message.uid]
    if not found:
        raise NotFound(f"no message {message.encode()!r} on the server", code="messageNotFound")
    return found[0]


async def _still_selected(client: aioimaplib.IMAP4, message: MessageId) -> bool:
    """Whether the message's folder is still selected read-only from an earlier read, brought up to date.

    NOOP is how a selected session learns what other sessions changed (RFC 3501 § 6.1.2): expunges,
    new messages, flags; a message expunged elsewhere is then not found. A UIDVALIDITY the server
    announces means the folder was rebuilt: not kept, it is selected again.

    Raises:
        NotFound: code messageNotFound: the id's UIDVALIDITY is not the folder's.
    """
    kept = _kept.get(client)
    if kept is None or not keeps(client, message.folder):
        return False
    response = await _unless_closed(client, client.noop(), "NOOP")
    if response.result != "OK" or any(_UIDVALIDITY.search(bytes(line)) for line in response.lines):
        return False
    if kept.selected.status.uidvalidity != message.uidvalidity:
        raise NotFound(f"no message {message.encode()!r}: the folder was rebuilt", code="messageNotFound")
    return True


async def _unless_closed(client: aioimaplib.IMAP4, command: Awaitable[Any], what: str) -> Any:
    """Await a command in a kept selection, failing at once if the server ends the session instead of answering.

    Dovecot says BYE and closes when the selected folder was renamed or deleted by another session;
    aioimaplib never fails a command in flight when its connection closes (``bridge.imap.handshake``)
    and would wait out its timeout.

    Raises:
        SelectionLost: the server ended the session.
    """
    closed: asyncio.Future[None] | None = getattr(client.protocol, "closed", None)
    running = asyncio.ensure_future(command)
    if closed is not None:
        await asyncio.wait({running, closed}, return_when=asyncio.FIRST_COMPLETED)
        if not running.done():
            running.cancel()
            raise SelectionLost(f"IMAP {what} failed: the server ended the session", details={"side": "imap"})
    try:
        return await running
    except _IO_ERRORS as exc:
        raise MailboxUnavailable(f"IMAP {what} failed: {exc}", details={"side": "imap"}) from exc


async def _present(client: aioimaplib.IMAP4, message: MessageId) -> Fetched:
    await _select_for(client, message)
    response = await ok(client.uid("fetch", str(message.uid), "(UID FLAGS)"), "UID FETCH")
    found = [f for f in parse_fetch_items(response.lines) if f.uid == message.uid]
    if not found:
        raise NotFound(f"no message {message.encode()!r} on the server", code="messageNotFound")
    return found[0]


async def store_flags(
    client: aioimaplib.IMAP4,
    uids: Sequence[int],
    *,
    add: Sequence[str] = (),
    delete: Sequence[str] = (),
    set_: Sequence[str] | None = None,
    labels_add: Sequence[str] = (),
    labels_delete: Sequence[str] = (),
) -> dict[int, Fetched]:
    """Change flags (and Gmail labels) of messages in the selected folder; their state afterwards, by UID."""
    for start in range(0, len(uids), BATCH):
        batch = _uid_set(uids[start : start + BATCH])
        if set_ is not None:
            await ok(client.uid("store", batch, "FLAGS.SILENT", f"({' '.join(set_)})"), "UID STORE")
        if add:
            await ok(client.uid("store", batch, "+FLAGS.SILENT", f"({' '.join(add)})"), "UID STORE")
        if delete:
            await ok(client.uid("store", batch, "-FLAGS.SILENT", f"({' '.join(delete)})"), "UID STORE")
        if labels_add:
            labels = " ".join(quote(v) for v in labels_add)
            await ok(client.uid("store", batch, "+X-GM-LABELS.SILENT", f"({labels})"), "UID STORE")
        if labels_delete:
            labels = " ".join(quote(v) for v in labels_delete)
            await ok(client.uid("store", batch, "-X-GM-LABELS.SILENT", f"({labels})"), "UID STORE")
    items = "(UID FLAGS X-GM-LABELS)" if is_gmail(client) else "(UID FLAGS)"
    return {f.uid: f for f in await fetch_uids(client, list(uids), items)}


def is_gmail(client: aioimaplib.IMAP4) -> bool:
    return bool(client.has_capability("X-GM-EXT-1"))


async def change_flags(
    client: aioimaplib.IMAP4,
    message: MessageId,
    *,
    add: Sequence[str] = (),
    delete: Sequence[str] = (),
    set_: Sequence[str] | None = None,
    labels_add: Sequence[str] = (),
    labels_delete: Sequence[str] = (),
) -> Fetched:
    """Flags of one message; returns its flags (and labels) as the server now has them."""
    await _present(client, message)
    after = await store_flags(
        client, [message.uid], add=add, delete=delete, set_=set_, labels_add=labels_add, labels_delete=labels_delete
    )
    if message.uid not in after:
        raise NotFound(f"no message {message.encode()!r} on the server", code="messageNotFound")
    return after[message.uid]


async def _expunge(client: aioimaplib.IMAP4, uids: Sequence[int]) -> None:
    for start in range(0, len(uids), BATCH):
        batch = _uid_set(uids[start : start + BATCH])
        await ok(client.uid("store", batch, "+FLAGS.SILENT", "(\\Deleted)"), "UID STORE")
        if client.has_capability("UIDPLUS"):  # RFC 4315: only these messages
            await ok(client.uid("expunge", batch), "UID EXPUNGE")
        else:
            await ok(client.expunge(), "EXPUNGE")


def _copyuid_map(lines: list[bytes | bytearray]) -> tuple[int | None, dict[int, int]]:
    for item in lines:
        match = _COPYUID.search(bytes(item))
        if match is not None:
            old, new = _expand(match.group(2)), _expand(match.group(3))
            return int(match.group(1)), dict(zip(old, new, strict=False))
    return None, {}


def _expand(value: bytes) -> list[int]:
    out: list[int] = []
    for part in value.decode().split(","):
        low, _, high = part.partition(":")
        a, b = int(low), int(high or low)
        out += list(range(min(a, b), max(a, b) + 1))
    return out


async def move_uids(client: aioimaplib.IMAP4, uids: Sequence[int], target: str) -> tuple[int | None, dict[int, int]]:
    """Move messages of the selected folder to ``target`` (MOVE, else COPY + \\Deleted + UID EXPUNGE).

    Returns the target's UIDVALIDITY and old UID -> new UID, when the server says (RFC 4315 COPYUID).
    """
    uidvalidity: int | None = None
    moved: dict[int, int] = {}
    for start in range(0, len(uids), BATCH):
        batch = list(uids[start : start + BATCH])
        if client.has_capability("MOVE"):  # RFC 6851
            response = await ok(client.uid("move", _uid_set(batch), mailbox_arg(target)), "UID MOVE")
        else:
            response = await ok(client.uid("copy", _uid_set(batch), mailbox_arg(target)), "UID COPY")
            await _expunge(client, batch)
        found, mapping = _copyuid_map(response.lines)
        uidvalidity = found or uidvalidity
        moved.update(mapping)
    return uidvalidity, moved


async def move(client: aioimaplib.IMAP4, message: MessageId, target: str) -> MessageId | None:
    """Move one message; its new id when the server tells the new UID."""
    await _present(client, message)
    await _require_folder(client, target)
    await _select_for(client, message)
    uidvalidity, moved = await move_uids(client, [message.uid], target)
    if uidvalidity is None or message.uid not in moved:
        return None
    return MessageId(target, uidvalidity, moved[message.uid])


async def _require_folder(client: aioimaplib.IMAP4, folder: str) -> None:
    try:
        response = await client.status(mailbox_arg(folder), "(UIDVALIDITY)")
    except _IO_ERRORS as exc:
        raise MailboxUnavailable(f"IMAP STATUS failed: {exc}", details={"side": "imap"}) from exc
    if response.result != "OK":
        raise NotFound(f"no folder {folder!r}", code="folderNotFound")


async def list_mailboxes(client: aioimaplib.IMAP4) -> list[Mailbox]:
    response = await ok(client.list('""', "*"), "LIST")
    return parse_list_response(response.lines[:-1])


async def special_folder(client: aioimaplib.IMAP4, use: str) -> str | None:
    """The folder with RFC 6154 special-use ``use`` (e.g. ``\\Trash``), else a conventionally named one (text)."""
    boxes = await list_mailboxes(client)
    for box in boxes:
        if box.special_use == use:
            return decode_mailbox_name(box.path)
    names = {decode_mailbox_name(box.path).lower(): decode_mailbox_name(box.path) for box in boxes}
    return next((names[n.lower()] for n in _CONVENTIONAL.get(use, ()) if n.lower() in names), None)


async def ensure_special_folder(client: aioimaplib.IMAP4, use: str, name: str) -> str | None:
    """The ``use`` folder; created as ``name`` (with the flag where CREATE-SPECIAL-USE allows) when there is none.

    Returns None when the server refuses to create it.
    """
    found = await special_folder(client, use)
    if found is not None:
        return found
    args = [mailbox_arg(name)]
    if client.has_capability("CREATE-SPECIAL-USE"):  # RFC 6154 § 3
        args.append(f"(USE ({use}))")
    try:
        response = await asyncio.wait_for(client.protocol.simple_command("CREATE", *args), client.timeout)
    except _IO_ERRORS as exc:
        raise MailboxUnavailable(f"IMAP CREATE failed: {exc}", details={"side": "imap"}) from exc
    if response.result != "OK" and len(args) > 1:
        response = await ok(client.create(args[0]), "CREATE")
    return name if response.result == "OK" else None


async def delete_uids(client: aioimaplib.IMAP4, folder: str, uids: Sequence[int], *, force: bool) -> str | None:
    """Move messages of ``folder`` to Trash; expunge only with ``force`` (or when they are in Trash already).

    Returns the Trash folder, or None when expunged.

    Raises:
        Conflict: code noTrashFolder: no Trash and the server would not create one.
    """
    if force:
        await select(client, folder)
        await _expunge(client, uids)
        return None
    trash = await ensure_special_folder(client, "\\Trash", "Trash")
    if trash is None:
        raise Conflict("the account has no Trash folder and the server refused to create one", code="noTrashFolder")
    await select(client, folder)
    if trash == folder:
        await _expunge(client, uids)
        return None
    await move_uids(client, uids, trash)
    return trash


async def delete(client: aioimaplib.IMAP4, message: MessageId, *, force: bool) -> str | None:
    await _present(client, message)
    return await delete_uids(client, message.folder, [message.uid], force=force)


async def folder_counters(client: aioimaplib.IMAP4, folder: str) -> dict[str, int]:
    """STATUS (MESSAGES UNSEEN UIDVALIDITY UIDNEXT) of one folder."""
    response = await ok(client.status(mailbox_arg(folder), "(MESSAGES UNSEEN UIDVALIDITY UIDNEXT)"), "STATUS")
    for item in response.lines[:-1]:
        found = {k.decode().upper(): int(v) for k, v in _STATUS_ITEMS.findall(bytes(item))}
        if "MESSAGES" in found:
            return found
    return {}


async def _folder_change(command: Awaitable[Any], what: str, target: str) -> None:
    """CREATE or RENAME: ``folderExists`` (409) when the server says ``target`` is taken (RFC 5530 ALREADYEXISTS)."""
    try:
        response = await command
    except _IO_ERRORS as exc:
        raise MailboxUnavailable(f"IMAP {what} failed: {exc}", details={"side": "imap"}) from exc
    if response.result != "OK":
        text = response_text(response.lines)
        if "ALREADYEXISTS" in text.upper():
            raise Conflict(f"folder {target!r} exists", code="folderExists")
        raise MailboxError(f"IMAP {what} failed: {text}", details={"side": "imap"})


async def create_mailbox(client: aioimaplib.IMAP4, folder: str) -> None:
    await _folder_change(client.create(mailbox_arg(folder)), "CREATE", folder)


async def rename_mailbox(client: aioimaplib.IMAP4, folder: str, new: str) -> None:
    await _require_folder(client, folder)
    await _folder_change(client.rename(mailbox_arg(folder), mailbox_arg(new)), "RENAME", new)


async def delete_mailbox(client: aioimaplib.IMAP4, folder: str) -> None:
    await _require_folder(client, folder)
    # A selected folder cannot always be deleted (Dovecot allows it, others refuse): leave it first
    # (not with CLOSE, which would expunge its \\Deleted messages; aioimaplib has no UNSELECT).
    if client.get_state() == "SELECTED":
        await select(client, "INBOX")
    await ok(client.delete(mailbox_arg(folder)), "DELETE")


async def append(client: aioimaplib.IMAP4, folder: str, raw: bytes, flags: Sequence[str]) -> MessageId | None:
    """APPEND a message; its id when the server says (RFC 4315 APPENDUID)."""
    flag_list = f"({' '.join(flags)})" if flags else None
    response = await ok(client.append(raw, mailbox=mailbox_arg(folder), flags=flag_list), "APPEND")
    for item in response.lines:
        match = _APPENDUID.search(bytes(item))
        if match is not None:
            return MessageId(folder, int(match.group(1)), int(match.group(2)))
    return None
