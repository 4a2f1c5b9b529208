"""Find a message the bridge sent or answered again on the IMAP server (the reply/forward flag after a send).

I/O adapter. A message is found again by its UID only while the folder's
UIDVALIDITY is unchanged (RFC 3501 § 2.3.1.1); otherwise it is looked up by
Message-ID. Failures become ``MailboxError``. The API's own mailbox commands
are ``bridge.imap.live``'s, run on the account's command connection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aioimaplib

from bridge.errors import NotFound
from bridge.imap.live import ok
from bridge.imap.responses import (
    encode_mailbox_name,
    parse_search,
    parse_select,
    quote,
)

_IO_ERRORS = (OSError, asyncio.TimeoutError, aioimaplib.AioImapException)
_FLAGS = b"FLAGS ("


@dataclass(frozen=True, slots=True)
class MessageRef:
    """Where a stored message lives on the server."""

    folder: str
    uidvalidity: int
    uid: int
    message_id: str | None = None


async def locate(client: aioimaplib.IMAP4, ref: MessageRef) -> int:
    """Select the message's folder and return its current UID.

    Raises:
        NotFound: the message is no longer on the server (code messageGone).
    """
    selected = await ok(client.select(quote(encode_mailbox_name(ref.folder))), f"SELECT {ref.folder!r}")
    status = parse_select(selected.lines)
    if status is not None and status.uidvalidity == ref.uidvalidity:
        found = await ok(client.uid_search("UID", str(ref.uid)), "UID SEARCH")
        if ref.uid in parse_search(found.lines):
            return ref.uid
    elif ref.message_id:
        header = quote(f"<{ref.message_id.strip('<>')}>")
        found = await ok(client.uid_search("HEADER", "Message-ID", header, charset=None), "UID SEARCH")
        uids = parse_search(found.lines)
        if uids:
            return max(uids)
    raise NotFound(f"the message is no longer in {ref.folder!r} on the server", code="messageGone")
