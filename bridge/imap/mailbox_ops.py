"""After a send: file the copy in Sent and flag the message it answered or forwarded.

I/O adapter over a logged-in IMAP connection: the account's command connection in the
watcher that holds its lease (the ``fileSent`` mailbox command, ``bridge.mailbox.operations``),
so filing opens no login of its own. aioimaplib and network failures become
``MailboxUnavailable`` (transient) here, so the job that asked can retry. Outcomes a retry
cannot change (no Sent folder that cannot be created, the referenced message is gone) are
values in ``FileResult``, which crosses the command protocol as JSON (``to_json``/``from_json``).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aioimaplib

from bridge.errors import MailboxError, MailboxUnavailable, NotFound
from bridge.imap import live, message_ops
from bridge.imap.message_ops import MessageRef
from bridge.imap.responses import encode_mailbox_name, quote, response_text
from bridge.mail import ids

_IO_ERRORS = (OSError, asyncio.TimeoutError, ssl.SSLError, aioimaplib.AioImapException)
# RFC 4315 § 3: "OK [APPENDUID <uidvalidity> <uid>] ...".
_APPENDUID = re.compile(r"\[APPENDUID (\d+) (\d+)\]", re.IGNORECASE)
# RFC 2342: "* NAMESPACE (("<prefix>" "<delimiter>") ...) ..." — the first personal namespace.
_PERSONAL_NS = re.compile(rb'NAMESPACE \(\("([^"]*)"')


@dataclass(frozen=True, slots=True)
class FlagTarget:
    """The stored message a reply or forward refers to, as the watcher saw it."""

    folder: str
    uid: int
    uidvalidity: int
    message_id: str | None
    flag: str  # \\Answered or $Forwarded

    def to_json(self) -> dict[str, Any]:
        return {"folder": self.folder, "uid": self.uid, "uidvalidity": self.uidvalidity,
                "messageId": self.message_id, "flag": self.flag}  # fmt: skip

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> FlagTarget:
        return cls(str(doc["folder"]), int(doc["uid"]), int(doc["uidvalidity"]), doc.get("messageId"), str(doc["flag"]))


@dataclass(frozen=True, slots=True)
class SentCopy:
    """What became of the Sent copy.

    Attributes:
        status: ``filed`` (APPENDed to the account's Sent folder), ``created`` (there was none:
            the bridge created one, with ``\\Sent`` where the server has CREATE-SPECIAL-USE,
            and filed it there) or ``skipped`` (``reason`` says why; never silently).
        folder: where it was filed.
        uidvalidity, uid: the copy's place from APPENDUID (RFC 4315), when the server has UIDPLUS.
        reason: why it was skipped: ``notRequested``, ``createFailed: <server text>``,
            ``accountUnavailable: <why>`` (no watcher could file it while the job's retries lasted)
            or ``noAccount`` (the account was removed before it was filed).
    """

    status: str
    folder: str | None = None
    uidvalidity: int | None = None
    uid: int | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, object]:
        """As the outbox entry and ``messageFiled`` show it: ``id`` is the copy's message id (``bridge.mail.ids``)."""
        out: dict[str, object] = {"status": self.status}
        if self.folder is not None:
            out["folder"] = self.folder
        if self.folder is not None and self.uidvalidity is not None and self.uid is not None:
            out["id"] = ids.encode(self.folder, self.uidvalidity, self.uid)
        if self.uid is not None:
            out["uid"] = self.uid
        if self.reason is not None:
            out["reason"] = self.reason
        return out

    def to_wire(self) -> dict[str, Any]:
        """Every field, for the command protocol (the watcher answers, the worker reads)."""
        return {"status": self.status, "folder": self.folder, "uidvalidity": self.uidvalidity, "uid": self.uid,
                "reason": self.reason}  # fmt: skip

    @classmethod
    def from_wire(cls, doc: dict[str, Any]) -> SentCopy:
        def number(name: str) -> int | None:
            return int(doc[name]) if doc.get(name) is not None else None

        return cls(str(doc["status"]), doc.get("folder"), number("uidvalidity"), number("uid"), doc.get("reason"))


NOT_REQUESTED = SentCopy("skipped", reason="notRequested")


@dataclass(frozen=True, slots=True)
class FileResult:
    """What ``file_sent`` did: the Sent copy's fate and whether a flag was set."""

    copy: SentCopy
    flagged: bool

    @property
    def sent_folder(self) -> str | None:
        return self.copy.folder

    def to_wire(self) -> dict[str, Any]:
        return {"copy": self.copy.to_wire(), "flagged": self.flagged}

    @classmethod
    def from_wire(cls, doc: dict[str, Any]) -> FileResult:
        return cls(SentCopy.from_wire(doc["copy"]), bool(doc["flagged"]))


async def file_sent(
    client: aioimaplib.IMAP4,
    raw: bytes,
    *,
    copy: bool,
    flag: FlagTarget | None,
    date: datetime | None = None,
    once: str | None = None,
) -> FileResult:
    """APPEND the sent message to Sent with \\Seen, and flag the referenced message.

    ``once``: the message's Message-ID, given when an earlier try may have filed it already (its
    answer was lost): a copy with that Message-ID in Sent is taken as filed, not APPENDed again.

    Raises:
        MailboxUnavailable: the server cannot be reached or a command failed; safe to retry.
    """
    filed = await append_to_sent(client, raw, date=date, once=once) if copy else NOT_REQUESTED
    flagged = await set_flag(client, flag) if flag is not None else False
    return FileResult(copy=filed, flagged=flagged)


async def append_to_sent(
    client: aioimaplib.IMAP4, raw: bytes, *, date: datetime | None = None, once: str | None = None
) -> SentCopy:
    """APPEND to the Sent folder with \\Seen, creating the folder when the account has none.

    Raises:
        MailboxUnavailable: the server cannot be reached or the APPEND failed; safe to retry.
    """
    folder = await live.special_folder(client, "\\Sent")  # \Sent (RFC 6154), else a usual name
    status = "filed"
    if folder is None:
        created, problem = await create_sent_folder(client)
        if created is None:
            return SentCopy("skipped", reason=f"createFailed: {problem}")
        folder, status = created, "created"
    elif once:
        found = await _filed_before(client, folder, once)
        if found is not None:
            return SentCopy(status, folder, *found)
    try:
        response = await client.append(raw, mailbox=quote(encode_mailbox_name(folder)), flags="(\\Seen)", date=date)
    except _IO_ERRORS as exc:
        raise MailboxUnavailable(f"IMAP APPEND to {folder!r} failed: {exc}", details={"side": "imap"}) from exc
    if response.result != "OK":
        raise MailboxUnavailable(
            f"IMAP APPEND to {folder!r} failed: {response_text(response.lines)}", details={"side": "imap"}
        )
    uid = _APPENDUID.search(response_text(response.lines))
    if uid is None:  # no UIDPLUS: filed, but its UID is not known without a search
        return SentCopy(status, folder)
    return SentCopy(status, folder, int(uid.group(1)), int(uid.group(2)))


async def _filed_before(client: aioimaplib.IMAP4, folder: str, message_id: str) -> tuple[int, int] | None:
    """(UIDVALIDITY, UID) of a copy with this Message-ID already in ``folder``, else None."""
    header = quote(f"<{message_id.strip('<>')}>")
    status, uids = await live.search_uids(client, folder, ["HEADER", "Message-ID", header])
    return (status.uidvalidity, uids[0]) if uids else None


async def create_sent_folder(client: aioimaplib.IMAP4) -> tuple[str | None, str]:
    """CREATE a Sent folder (RFC 6154 ``USE (\\Sent)`` where the server has CREATE-SPECIAL-USE).

    Named in the account's personal namespace (``INBOX.Sent`` on servers that keep every
    folder under INBOX, such as Courier). Returns (its name, "") or (None, the server's answer).
    """
    name = await _personal_prefix(client) + "Sent"
    mailbox = quote(encode_mailbox_name(name))
    special = client.has_capability("CREATE-SPECIAL-USE")
    try:
        if special:
            # aioimaplib's create() takes only a name; RFC 6154 § 3 adds the USE list.
            command = aioimaplib.Command("CREATE", client.protocol.new_tag(), mailbox, "(USE (\\Sent))")
            response = await asyncio.wait_for(client.protocol.execute(command), client.timeout)
        else:
            response = await client.create(mailbox)
    except _IO_ERRORS as exc:
        raise MailboxUnavailable(f"IMAP CREATE {name!r} failed: {exc}", details={"side": "imap"}) from exc
    if response.result != "OK":
        return None, response_text(response.lines)
    return name, ""


async def _personal_prefix(client: aioimaplib.IMAP4) -> str:
    """The personal namespace's prefix (RFC 2342), "" when the server has no NAMESPACE or none."""
    if not client.has_capability("NAMESPACE"):
        return ""
    try:
        response = await client.namespace()
    except _IO_ERRORS:
        return ""
    for line in response.lines:
        found = _PERSONAL_NS.search(bytes(line))
        if found is not None:
            return found.group(1).decode()
    return ""


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
