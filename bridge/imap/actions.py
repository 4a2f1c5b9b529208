"""Run one IMAP action for a synchronous caller (a Flask view): log in, act, log out."""

from __future__ import annotations

import asyncio

from bridge.imap import message_ops, session
from bridge.imap.message_ops import MessageRef
from bridge.models import ServerConfig

TIMEOUT = 30.0


def change_flags(imap: ServerConfig, ref: MessageRef, add: list[str], remove: list[str]) -> list[str]:
    """Raises: MailboxError, NotFound (messageGone)."""

    async def act() -> list[str]:
        async with session.session(imap, timeout=TIMEOUT) as client:
            return await message_ops.change_flags(client, ref, add, remove)

    return asyncio.run(act())


def delete_message(imap: ServerConfig, ref: MessageRef, *, force: bool) -> str | None:
    """Move to Trash (returns its folder) or expunge (returns None)."""

    async def act() -> str | None:
        async with session.session(imap, timeout=TIMEOUT) as client:
            return await message_ops.delete(client, ref, force=force)

    return asyncio.run(act())


def fetch_source(imap: ServerConfig, ref: MessageRef) -> bytes:
    """The message's RFC 822 bytes from the server. Raises: MailboxError, NotFound (messageGone)."""

    async def act() -> bytes:
        async with session.session(imap, timeout=TIMEOUT) as client:
            return await message_ops.fetch_source(client, ref)

    return asyncio.run(act())
