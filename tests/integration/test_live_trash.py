"""DELETE on a server without a Trash folder (issue 14, part 6): Trash is created, nothing is expunged without force."""

from __future__ import annotations

import asyncio

from bridge.config import Secret
from bridge.imap import live, session
from bridge.mail.ids import MessageId
from bridge.models import ServerConfig
from tests.watcher_support import mail


def test_delete_creates_trash_and_moves_there(no_trash):
    account = no_trash.new_account()
    config = ServerConfig(host=account.host, port=account.imap_port, user=account.address,
                          password=Secret(account.password), starttls=False)  # fmt: skip

    async def main():
        client = await session.connect(config)
        try:
            assert "Trash" not in [b.path for b in await live.list_mailboxes(client)]
            await live.append(client, "INBOX", mail(1), [])
            status = await live.select(client, "INBOX")
            moved_to = await live.delete(client, MessageId("INBOX", status.uidvalidity, 1), force=False)
            assert moved_to == "Trash"
            assert (await live.folder_counters(client, "Trash"))["MESSAGES"] == 1
            assert (await live.folder_counters(client, "INBOX"))["MESSAGES"] == 0
            # The next delete finds the folder it created (by its conventional name: this Dovecot has no
            # CREATE-SPECIAL-USE to give it the \Trash flag) and creates no second one.
            await live.append(client, "INBOX", mail(2), [])
            assert await live.delete(client, MessageId("INBOX", status.uidvalidity, 2), force=False) == "Trash"
            assert [b.path for b in await live.list_mailboxes(client)].count("Trash") == 1
            assert (await live.folder_counters(client, "Trash"))["MESSAGES"] == 2
        finally:
            await session.close(client)

    asyncio.run(main())
