"""Flagging a replied-to message on the real Dovecot, including after its UID changed meaning."""

from __future__ import annotations

from bridge.config import Secret
from bridge.imap import session
from bridge.imap.mailbox_ops import FlagTarget, set_flag
from bridge.models import ServerConfig

RAW = b"From: a@example.test\r\nSubject: hi\r\nMessage-ID: <orig-1@example.test>\r\n\r\nhello\r\n"


def config(mailbox) -> ServerConfig:
    return ServerConfig(
        host=mailbox.host,
        port=mailbox.imap_port,
        user=mailbox.address,
        password=Secret(mailbox.password),
        starttls=False,
    )


async def flags_of(client) -> str:
    await client.select("INBOX")
    fetched = await client.fetch("1", "(FLAGS)")
    return bytes(fetched.lines[0]).decode()


async def test_set_flag_by_uid_and_by_message_id_when_uidvalidity_changed(dovecot, mailbox):
    dovecot.deliver(mailbox.address, RAW)
    async with session.session(config(mailbox)) as client:
        # Right UIDVALIDITY: the stored UID is used.
        status = (await session.folder_statuses(client, ["INBOX"]))["INBOX"]
        assert await set_flag(client, FlagTarget("INBOX", 1, status.uidvalidity, "orig-1@example.test", "\\Answered"))
        assert "\\Answered" in await flags_of(client)
        # Stale UIDVALIDITY: the UID means nothing any more; the Message-ID finds it.
        stale = FlagTarget("INBOX", 999, status.uidvalidity + 1, "<orig-1@example.test>", "$Forwarded")
        assert await set_flag(client, stale)
        assert "$Forwarded" in await flags_of(client)
        # Gone: neither the UID nor the Message-ID is there.
        assert not await set_flag(client, FlagTarget("INBOX", 999, status.uidvalidity + 1, "nope@x", "\\Answered"))
        assert not await set_flag(client, FlagTarget("NoSuchFolder", 1, 1, None, "\\Answered"))
